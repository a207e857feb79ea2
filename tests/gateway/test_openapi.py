"""The OpenAPI 3.1 document, from the real ``introspect`` of services over SQLite, checked by
a validator (openapi-spec-validator); and the document builder alone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from servicewire.gateway import GatewaySettings, create_app, openapi_document
from servicewire.gateway.openapi import action_entries
from tests.gateway.deployments import SHOP_ACTIONS, Deployment, serving
from tests.support.services import free_port


@pytest.fixture(scope="module")
def document(sqlite_gateway_deployment: Deployment) -> dict[str, Any]:
    config = sqlite_gateway_deployment.client_config()
    # Nothing listens on this port: the service cannot be described.
    dead = {"backend_layer_kwargs": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]}}
    config["offline"] = {
        "transport": {"path": "servicewire.transport.redis:RedisClientTransport", "kwargs": dead}
    }
    app = create_app(
        {
            "expose": {"shop": SHOP_ACTIONS, "vault": None, "offline": ["ping"]},
            "timeout_in_seconds": 2,
        },
        config,
    )
    with serving(app) as url:
        response = httpx.get(f"{url}/openapi.json", timeout=30)
    assert response.status_code == 200
    described: dict[str, Any] = response.json()
    return described


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_each_exposed_action_is_a_post_route_and_nothing_else(document: dict[str, Any]) -> None:
    actions = {
        path
        for path, item in document["paths"].items()
        if "post" in item and item["post"]["x-servicewire"].get("action")
    }
    vault = {f"/vault/{name}" for name in ("crash", "divide", "inspect", "nap", "price_order")}
    shop = {f"/shop/{name}" for name in SHOP_ACTIONS}
    assert actions == shop | vault | {"/vault/secret", "/offline/ping"}
    assert "/shop/secret" not in document["paths"]
    for service in ("shop", "vault", "offline"):
        assert "post" in document["paths"][f"/{service}"]
        assert "get" in document["paths"][f"/{service}/status"]
        assert "get" in document["paths"][f"/{service}/introspect"]


def test_actions_carry_their_documentation_and_schemas(document: dict[str, Any]) -> None:
    operation = document["paths"]["/shop/price_order"]["post"]
    assert operation["summary"] == "Counts the units of an order."
    assert "Each line item" in operation["description"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(request["required"]) == {"customer", "items"}
    line_item = request["properties"]["items"]["items"]["$ref"]
    assert line_item == "#/components/schemas/shop.price_order.LineItem"
    schemas = document["components"]["schemas"]
    assert schemas["shop.price_order.LineItem"]["properties"]["quantity"]["exclusiveMinimum"] == 0
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert response["properties"]["units"]["type"] == "integer"
    for status in ("400", "500", "404", "413", "504"):
        assert status in operation["responses"]


def test_services_are_tags_and_an_unreachable_one_says_so(document: dict[str, Any]) -> None:
    tags = {tag["name"]: tag["description"] for tag in document["tags"]}
    assert tags["shop"].startswith("A small shop")
    assert tags["offline"].startswith("(Unavailable")
    ping = document["paths"]["/offline/ping"]["post"]
    assert ping["requestBody"]["content"]["application/json"]["schema"] == {"type": "object"}


def test_auth_settings_add_security_schemes() -> None:
    settings = GatewaySettings.from_mapping(
        {"expose": {"shop": ["divide"]}, "bearer_tokens": {"t" * 16: "caller"}}
    )
    document = openapi_document(settings, {"shop": "down"})
    validate(document)
    assert document["security"] == [{"bearer": []}, {"signature": []}]
    assert (
        openapi_document(GatewaySettings.from_mapping({"expose": {"shop": None}}), {}).get(
            "security"
        )
        is None
    )


def test_a_switched_action_is_described_by_its_default_entry() -> None:
    described = {
        "actions": {
            "greet[switch:5]": {"documentation": "new"},
            "greet[DEFAULT]": {"documentation": "old"},
            "status": {"documentation": "built in"},
        }
    }
    assert action_entries(described, None) == {"greet": {"documentation": "old"}}
    assert action_entries(described, ("status", "gone")) == {
        "status": {"documentation": "built in"},
        "gone": {"documentation": None, "request_schema": None},
    }


def test_nested_definitions_of_two_actions_do_not_collide() -> None:
    def schema(kind: str) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"item": {"$ref": "#/$defs/Item"}},
            "$defs": {"Item": {"type": kind}},
        }

    described = {
        "documentation": "two",
        "actions": {
            "a": {"request_schema": schema("string"), "response_schema": None},
            "b": {"request_schema": schema("integer"), "response_schema": None},
        },
    }
    document = openapi_document(
        GatewaySettings.from_mapping({"expose": {"s": None}}), {"s": described}
    )
    validate(document)
    schemas = document["components"]["schemas"]
    assert schemas["s.a.Item"] == {"type": "string"}
    assert schemas["s.b.Item"] == {"type": "integer"}
