"""Actions declaring Conformity schemas, validated by servicewire's server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from servicewire import Action, CallActionError, Client, EnrichedActionRequest, Server
from servicewire.compat.conformity import fields
from servicewire.testing import local_client


class Transfer(Action):
    request_schema = fields.Dictionary(
        {
            "amount": fields.Integer(gt=0, description="Cents to move."),
            "currency": fields.Constant("EUR", "USD"),
            "to": fields.Dictionary({"account": fields.UnicodeString(min_length=4)}),
            "memo": fields.UnicodeString(),
        },
        optional_keys=("memo",),
    )
    response_schema = fields.Dictionary({"reference": fields.UnicodeString()})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        if request.body.get("memo") == "break the response":
            return {"reference": 42}
        return {"reference": f"T-{request.body['amount']}"}


class BankServer(Server):
    service_name = "bank"
    action_class_map = {"transfer": Transfer}


@pytest.fixture
def client() -> Iterator[Client]:
    client = local_client(BankServer)
    yield client
    client.close()


GOOD = {"amount": 100, "currency": "EUR", "to": {"account": "FR76"}}


def call_errors(client: Client, body: dict[str, Any]) -> list[tuple[str, str | None, bool]]:
    with pytest.raises(CallActionError) as raised:
        client.call_action("bank", "transfer", body)
    return [(e.code, e.field, e.is_caller_error) for e in raised.value.actions[0].errors]


def test_a_valid_request_runs(client: Client) -> None:
    assert client.call_action("bank", "transfer", GOOD).body == {"reference": "T-100"}


def test_a_bad_request_gets_the_references_codes_and_dotted_fields(client: Client) -> None:
    errors = call_errors(client, {"amount": 0, "currency": "GBP", "to": {"account": 7}, "x": 1})
    assert sorted(errors, key=str) == sorted(
        [
            ("INVALID", "amount", True),
            ("UNKNOWN", "currency", True),
            ("INVALID", "to.account", True),
            ("UNKNOWN", "x", True),
        ],
        key=str,
    )
    assert call_errors(client, {}) == [
        ("MISSING", "amount", True),
        ("MISSING", "currency", True),
        ("MISSING", "to", True),
    ]


def test_a_bad_response_is_the_servers_error_and_the_server_keeps_serving(client: Client) -> None:
    with pytest.raises(CallActionError) as raised:
        client.call_action("bank", "transfer", {**GOOD, "memo": "break the response"})
    error = raised.value.actions[0].errors[0]
    assert (error.code, error.is_caller_error) == ("SERVER_ERROR", False)
    assert client.call_action("bank", "transfer", GOOD).body == {"reference": "T-100"}


def test_introspect_publishes_the_json_schema(client: Client) -> None:
    body = client.call_action("bank", "introspect", {"action_name": "transfer"}).body
    schema = body["actions"]["transfer"]["request_schema"]
    assert schema["required"] == ["amount", "currency", "to"]
    assert schema["properties"]["amount"] == {
        "description": "Cents to move.",
        "exclusiveMinimum": 0,
        "title": "Amount",
        "type": "integer",
    }
    assert schema["properties"]["currency"]["enum"] == ["EUR", "USD"]
    response = body["actions"]["transfer"]["response_schema"]
    assert response["properties"]["reference"]["type"] == "string"
