"""The gateway over HTTP (httpx against a real uvicorn) in front of real services over Redis
and over SQLite: every route, the status codes, the headers, the allow-list, the limits, and
bad input of every kind answered with a 4xx naming the problem."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from servicewire.gateway import create_app
from tests.gateway.deployments import SHOP_ACTIONS, Deployment, serving
from tests.support.services import free_port
from tests.support.waiting import wait_until

ORDER = {"customer": "ada", "items": [{"sku": "tea", "quantity": 2}, {"sku": "cup", "quantity": 1}]}


def gateway_settings(**extra: Any) -> dict[str, Any]:
    return {"expose": {"shop": SHOP_ACTIONS, "vault": None}, "timeout_in_seconds": 5, **extra}


@pytest.fixture(scope="module", params=["redis", "sqlite"])
def gateway(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """An HTTP client of a gateway exposing most of ``shop`` and all of ``vault``."""
    deployment: Deployment = request.getfixturevalue(f"{request.param}_gateway_deployment")
    app = create_app(gateway_settings(), deployment.client_config())
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.headers["content-type"] == "application/json"
    errors: list[dict[str, Any]] = response.json()["errors"]
    return errors


def only_error(response: httpx.Response) -> dict[str, Any]:
    [error] = errors_of(response)
    return error


def test_an_action_answers_200_with_its_body(gateway: httpx.Client) -> None:
    response = gateway.post("/shop/price_order", json=ORDER)
    assert response.status_code == 200
    assert response.json() == {"units": 3, "lines": ORDER["items"]}
    assert response.headers["x-correlation-id"]


def test_a_body_failing_the_schema_is_400_naming_each_field(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/shop/price_order", json={"items": [{"sku": "tea", "quantity": 0}], "extra": 1}
    )
    assert response.status_code == 400
    found = {(error["code"], error["field"]) for error in errors_of(response)}
    assert ("MISSING", "customer") in found
    assert ("INVALID", "items.0.quantity") in found
    assert all(error["is_caller_error"] for error in errors_of(response))


def test_an_action_error_the_caller_is_to_blame_for_is_400(gateway: httpx.Client) -> None:
    response = gateway.post("/shop/divide", json={"dividend": 1, "divisor": 0})
    assert response.status_code == 400
    error = only_error(response)
    assert (error["code"], error["field"]) == ("DIVISION_BY_ZERO", "divisor")


def test_a_failing_service_is_500_without_its_traceback(gateway: httpx.Client) -> None:
    response = gateway.post("/shop/crash", json={})
    assert response.status_code == 500
    error = only_error(response)
    assert error["code"] == "SERVER_ERROR"
    assert error["is_caller_error"] is False
    assert "traceback" not in error
    assert "variables" not in error


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"[" * 100_000, "not valid JSON"),
        (b'{"dividend": NaN, "divisor": 1}', "NaN is not a JSON number"),
        (b'{"dividend": 1e400, "divisor": 1}', "too large for a float"),
        (b'{"dividend": 1180591620717411303424, "divisor": 1}', "does not fit in 64 bits"),
    ],
    ids=["broken", "not-utf8", "array", "string", "deeply-nested", "nan", "inf", "bigint"],
)
def test_bad_json_is_400_and_the_gateway_keeps_serving(
    gateway: httpx.Client, content: bytes, problem: str
) -> None:
    response = gateway.post(
        "/shop/divide", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = only_error(response)
    assert error["code"] == "INVALID"
    assert problem in error["message"]
    assert gateway.post("/shop/divide", json={"dividend": 6, "divisor": 3}).json() == {
        "quotient": 2.0
    }


def test_a_string_that_is_not_unicode_goes_there_and_back_escaped(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/shop/inspect",
        content=b'{"text": "\\ud800"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200
    assert b'"\\ud800"' in response.content
    assert response.json()["body"] == {"text": "\ud800"}


def test_an_empty_body_is_an_empty_request_body(gateway: httpx.Client) -> None:
    response = gateway.post("/shop/divide")
    assert response.status_code == 400
    assert {error["field"] for error in errors_of(response)} == {"dividend", "divisor"}


@pytest.mark.parametrize(
    ("path", "field", "named"),
    [
        ("/elsewhere/anything", "service", "'elsewhere'"),
        ("/shop/secret", "action", "'secret'"),
        ("/shop/no_such_action", "action", "'no_such_action'"),
        ("/vault/no_such_action", "action", "'no_such_action'"),
    ],
)
def test_what_the_allow_list_does_not_expose_is_404(
    gateway: httpx.Client, path: str, field: str, named: str
) -> None:
    response = gateway.post(path, json={})
    assert response.status_code == 404
    error = only_error(response)
    assert (error["code"], error["field"]) == ("UNKNOWN", field)
    assert named in error["message"]


def test_switches_and_correlation_id_come_from_headers(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/shop/inspect",
        json={"n": 1},
        headers={"X-Switches": "5, 3", "X-Correlation-Id": "order-77"},
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["body"] == {"n": 1}
    assert seen["switches"] == [3, 5]
    assert seen["context"]["correlation_id"] == "order-77"
    assert seen["context"]["caller"] == "servicewire gateway: anonymous"
    assert response.headers["x-correlation-id"] == "order-77"


@pytest.mark.parametrize(
    ("headers", "field"),
    [({"X-Switches": "3,x"}, "X-Switches"), ({"X-Correlation-Id": "c" * 300}, "X-Correlation-Id")],
)
def test_bad_headers_are_400(gateway: httpx.Client, headers: dict[str, str], field: str) -> None:
    response = gateway.post("/shop/inspect", json={}, headers=headers)
    assert response.status_code == 400
    assert only_error(response)["field"] == field


def test_a_job_runs_several_actions_with_control_and_context(gateway: httpx.Client) -> None:
    job = {
        "actions": [
            {"action": "divide", "body": {"dividend": 1, "divisor": 0}},
            {"action": "inspect", "body": {"second": True}},
        ],
        "control": {"continue_on_error": True, "switches": [9], "correlation_id": "job-1"},
        "context": {"tenant": "acme"},
    }
    response = gateway.post("/shop", json=job)
    assert response.status_code == 400
    assert response.headers["x-correlation-id"] == "job-1"
    reply = response.json()
    assert reply["errors"] == []
    divided, inspected = reply["actions"]
    assert divided["errors"][0]["code"] == "DIVISION_BY_ZERO"
    assert inspected["errors"] == []
    assert inspected["body"]["switches"] == [9]
    assert inspected["body"]["context"]["tenant"] == "acme"
    assert inspected["body"]["context"]["correlation_id"] == "job-1"


def test_a_job_of_good_actions_is_200(gateway: httpx.Client) -> None:
    job = {"actions": [{"action": "divide", "body": {"dividend": 9, "divisor": 3}}]}
    response = gateway.post("/shop", json=job)
    assert response.status_code == 200
    assert response.json()["actions"][0]["body"] == {"quotient": 3.0}


@pytest.mark.parametrize(
    ("job", "status", "field"),
    [
        ({"actions": []}, 400, "actions"),
        ({"actions": [{"action": "divide"}], "extra": 1}, 400, "extra"),
        ({"actions": [{"body": {}}]}, 400, "actions.0"),
        ({"actions": [{"action": "divide", "body": [1]}]}, 400, "actions.0.body"),
        ({"actions": [{"action": "divide"}], "control": {"suppress_response": True}}, 400,
         "control.suppress_response"),
        ({"actions": [{"action": "divide"}], "control": {"switches": ["1"]}}, 400,
         "control.switches"),
        ({"actions": [{"action": "divide"}], "context": {"request_signature": {}}}, 400,
         "context.request_signature"),
        ({"actions": [{"action": "divide"}, {"action": "secret"}]}, 404, "action"),
    ],
    ids=["no-actions", "unknown-key", "unnamed", "body-list", "control-key", "switch-type",
         "context-key", "unexposed"],
)  # fmt: skip
def test_a_bad_job_is_refused_naming_the_problem(
    gateway: httpx.Client, job: dict[str, Any], status: int, field: str
) -> None:
    response = gateway.post("/shop", json=job)
    assert response.status_code == status
    assert only_error(response)["field"] == field


def test_status_and_introspect_are_get_routes(gateway: httpx.Client) -> None:
    status = gateway.get("/shop/status")
    assert status.status_code == 200
    assert "version" in status.json()
    described = gateway.get("/shop/introspect")
    assert described.status_code == 200
    assert described.json()["action_names"] == sorted(SHOP_ACTIONS)
    assert "secret" not in described.json()["actions"]
    assert gateway.get("/elsewhere/status").status_code == 404


def test_get_is_for_status_and_introspect_only(gateway: httpx.Client) -> None:
    response = gateway.get("/shop/divide")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "POST" in only_error(response)["message"]


def test_unknown_routes_and_methods_are_json_errors(gateway: httpx.Client) -> None:
    assert only_error(gateway.get("/a/b/c"))["code"] == "UNKNOWN"
    response = gateway.put("/shop/divide", json={})
    assert response.status_code == 405
    assert only_error(response)["message"].startswith("Method not allowed")


def test_signed_services_refuse_unsigned_calls_as_the_callers_fault(
    gateway: httpx.Client,
) -> None:
    response = gateway.post("/vault/divide", json={"dividend": 1, "divisor": 1})
    assert response.status_code == 400
    error = only_error(response)
    assert error["code"] == "NOT_AUTHORIZED"
    assert error["denied_permissions"] == ["signed_request"]


def test_cors_headers_are_absent_by_default(gateway: httpx.Client) -> None:
    response = gateway.options(
        "/shop/divide",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers
    response = gateway.post(
        "/shop/divide", json={"dividend": 1, "divisor": 1}, headers={"Origin": "https://x.example"}
    )
    assert "access-control-allow-origin" not in response.headers


# --- limits ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["redis", "sqlite"])
def strict_gateway(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """A gateway with a small body limit and a short timeout, also exposing ``ghost``: a
    service nobody serves."""
    deployment: Deployment = request.getfixturevalue(f"{request.param}_gateway_deployment")
    config = deployment.client_config()
    config["ghost"] = config["shop"]
    app = create_app(
        {
            "expose": {"shop": SHOP_ACTIONS, "ghost": ("anything",)},
            "max_body_bytes": 1000,
            "timeout_in_seconds": 0.5,
        },
        config,
    )
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def test_a_body_over_the_limit_is_413(strict_gateway: httpx.Client) -> None:
    body = json.dumps({"customer": "x" * 2000, "items": []}).encode()
    response = strict_gateway.post(
        "/shop/price_order", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    error = only_error(response)
    assert error["code"] == "REQUEST_TOO_LARGE"
    assert "1000 bytes" in error["message"]


def test_a_chunked_body_over_the_limit_is_413(strict_gateway: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"customer": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    response = strict_gateway.post("/shop/price_order", content=chunks())
    assert response.status_code == 413
    assert only_error(response)["code"] == "REQUEST_TOO_LARGE"


def test_a_service_slower_than_the_timeout_is_504(strict_gateway: httpx.Client) -> None:
    response = strict_gateway.post("/shop/nap", json={"seconds": 1.5})
    assert response.status_code == 504
    error = only_error(response)
    assert error["code"] == "TIMEOUT"
    assert "'shop'" in error["message"]
    assert "0.5 s" in error["message"]


def test_a_service_nobody_serves_is_504(strict_gateway: httpx.Client) -> None:
    response = strict_gateway.post("/ghost/anything", json={})
    assert response.status_code == 504
    assert "'ghost'" in only_error(response)["message"]


# --- without services behind --------------------------------------------------------------


def test_cors_allows_only_the_configured_origins() -> None:
    app = create_app({"expose": {"shop": None}, "cors_origins": ["https://app.example"]})
    with serving(app) as url, httpx.Client(base_url=url) as client:
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = client.options(
            "/shop/divide", headers={"Origin": "https://app.example", **preflight}
        )
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        refused = client.options(
            "/shop/divide", headers={"Origin": "https://elsewhere.example", **preflight}
        )
        assert "access-control-allow-origin" not in refused.headers


def test_a_transport_that_cannot_be_reached_is_502() -> None:
    layer = {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]}
    config = {
        "shop": {
            "transport": {
                "path": "servicewire.transport.redis:RedisClientTransport",
                "kwargs": {"backend_layer_kwargs": layer},
            }
        }
    }
    app = create_app({"expose": {"shop": ["divide"]}, "timeout_in_seconds": 2}, config)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        response = client.post("/shop/divide", json={})
        assert response.status_code == 502
        [error] = response.json()["errors"]
        assert error["code"] == "UNAVAILABLE"
        assert "'shop'" in error["message"]


def test_the_explorer_page_is_served_with_its_assets_and_a_strict_policy() -> None:
    app = create_app({"expose": {"shop": None}})
    with serving(app) as url, httpx.Client(base_url=url) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert '<script src="_explorer/explorer.js"' in page.text
        assert "fetch(" in client.get("/_explorer/explorer.js").text
        assert client.get("/_explorer/explorer.css").status_code == 200


def test_a_body_larger_than_the_transport_carries_is_413(
    redis_gateway_deployment: Deployment,
) -> None:
    config = redis_gateway_deployment.client_config()
    config["shop"]["transport"] = {
        **config["shop"]["transport"],
        "kwargs": {
            **config["shop"]["transport"]["kwargs"],
            "maximum_message_size_in_bytes": 2000,
        },
    }
    app = create_app({"expose": {"shop": ["inspect"]}}, config)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        response = client.post("/shop/inspect", json={"text": "x" * 5000})
        assert response.status_code == 413
        error = only_error(response)
        assert error["code"] == "REQUEST_TOO_LARGE"
        assert "transport to service 'shop'" in error["message"]
        assert client.post("/shop/inspect", json={"text": "small"}).status_code == 200


def test_each_refusal_is_logged_with_its_route_and_reason(
    gateway: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="servicewire.gateway"):
        assert gateway.post("/shop/divide", content=b"{oops").status_code == 400
        wait_until(
            lambda: any("Refused POST /shop/divide: 400" in r.message for r in caplog.records),
            "the refusal's log line",
        )
    [line] = [r for r in caplog.records if "Refused POST /shop/divide" in r.message]
    assert "not valid JSON" in line.message
    assert line.levelno == logging.INFO
