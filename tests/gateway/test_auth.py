"""Authentication at the gateway: bearer tokens and HMAC-signed HTTP requests, mapped to the
signed-request settings of the services behind (``vault`` accepts only signed jobs), over
HTTP to real services on Redis; and the :class:`Authenticator` alone, for what a caller can
get wrong in a signature."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from servicewire.gateway import GatewaySettings, create_app, http_signature
from servicewire.gateway.auth import Authenticator, Caller
from tests.gateway.deployments import SHOP_ACTIONS, Deployment, serving
from tests.gateway.services import SIGNING_KEY_ID, SIGNING_SECRET

SIGNER_TOKEN = "token-of-the-partner-who-signs"
PLAIN_TOKEN = "token-of-a-caller-without-key"
AUTH = {
    "bearer_tokens": {SIGNER_TOKEN: SIGNING_KEY_ID, PLAIN_TOKEN: "reporting"},
    "signing_keys": {SIGNING_KEY_ID: SIGNING_SECRET},
}
DIVISION = {"dividend": 6, "divisor": 2}


@pytest.fixture(scope="module")
def gateway(redis_gateway_deployment: Deployment) -> Iterator[httpx.Client]:
    app = create_app(
        {"expose": {"shop": SHOP_ACTIONS, "vault": None}, **AUTH},
        redis_gateway_deployment.client_config(),
    )
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def signed_post(
    client: httpx.Client, path: str, body: Any, secret: str = SIGNING_SECRET, **fields: Any
) -> httpx.Response:
    content = json.dumps(body).encode()
    header = http_signature(SIGNING_KEY_ID, secret, "POST", path, content, **fields)
    return client.post(path, content=content, headers={"Authorization": header})


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 401
    assert "Bearer" in response.headers["www-authenticate"]
    [error] = response.json()["errors"]
    assert error["code"] == "NOT_AUTHORIZED"
    message: str = error["message"]
    return message


def test_without_credentials_every_route_but_the_page_is_401(gateway: httpx.Client) -> None:
    assert "requires a bearer token" in refusal(gateway.post("/shop/divide", json=DIVISION))
    assert "requires" in refusal(gateway.get("/openapi.json"))
    assert "requires" in refusal(gateway.get("/shop/status"))
    assert "requires" in refusal(gateway.post("/shop", json={"actions": []}))
    assert gateway.get("/").status_code == 200


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Bearer not-a-token-we-know", "not accepted"),
        ("Basic dXNlcjpwYXNz", "unknown authorization scheme"),
        ("SW-HMAC-SHA256 key_id=x", "must have"),
    ],
)
def test_bad_credentials_are_401_saying_why(
    gateway: httpx.Client, authorization: str, reason: str
) -> None:
    response = gateway.post("/shop/divide", json=DIVISION, headers={"Authorization": authorization})
    assert reason in refusal(response)


def test_a_bearer_token_with_a_signing_key_reaches_a_signed_service(
    gateway: httpx.Client,
) -> None:
    headers = {"Authorization": f"Bearer {SIGNER_TOKEN}"}
    response = gateway.post("/vault/inspect", json={}, headers=headers)
    assert response.status_code == 200
    context = response.json()["context"]
    assert context["request_signature"]["key_id"] == SIGNING_KEY_ID
    assert context["caller"] == f"servicewire gateway: {SIGNING_KEY_ID}"


def test_a_bearer_token_without_a_key_calls_unsigned(gateway: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {PLAIN_TOKEN}"}
    assert gateway.post("/shop/divide", json=DIVISION, headers=headers).json() == {"quotient": 3}
    refused = gateway.post("/vault/divide", json=DIVISION, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["denied_permissions"] == ["signed_request"]


def test_a_signed_http_request_reaches_a_signed_service(gateway: httpx.Client) -> None:
    response = signed_post(gateway, "/vault/divide", DIVISION)
    assert response.status_code == 200
    assert response.json() == {"quotient": 3}


def test_a_replayed_signature_is_refused(gateway: httpx.Client) -> None:
    assert signed_post(gateway, "/vault/divide", DIVISION, nonce="once-only").status_code == 200
    replayed = signed_post(gateway, "/vault/divide", DIVISION, nonce="once-only")
    assert "replay" in refusal(replayed)


def test_a_body_changed_after_signing_is_refused(gateway: httpx.Client) -> None:
    header = http_signature(
        SIGNING_KEY_ID, SIGNING_SECRET, "POST", "/vault/divide", json.dumps(DIVISION).encode()
    )
    response = gateway.post(
        "/vault/divide",
        content=json.dumps({"dividend": 600, "divisor": 2}).encode(),
        headers={"Authorization": header},
    )
    assert "does not match" in refusal(response)


def test_a_signature_under_another_secret_is_refused(gateway: httpx.Client) -> None:
    response = signed_post(gateway, "/vault/divide", DIVISION, secret="x" * 32)
    assert "does not match" in refusal(response)


# --- the authenticator alone ----------------------------------------------------------------


class FixedClock(Authenticator):
    def now(self) -> float:
        return 1_000_000.0


@pytest.fixture
def authenticator() -> Authenticator:
    return FixedClock(GatewaySettings.from_mapping({"expose": {"shop": None}, **AUTH}))


def signature(**fields: Any) -> str:
    return http_signature(SIGNING_KEY_ID, SIGNING_SECRET, "POST", "/shop/divide", b"{}", **fields)


def test_a_fresh_signature_names_its_key_as_the_caller(authenticator: Authenticator) -> None:
    caller = authenticator.authenticate(
        signature(timestamp=1_000_010), "POST", "/shop/divide", b"{}"
    )
    assert caller == Caller(SIGNING_KEY_ID, SIGNING_KEY_ID)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (signature(timestamp=1_000_000 - 301), "expired"),
        (signature(timestamp=1_000_000 + 301), "expired"),
        (signature(timestamp=1_000_000).replace('timestamp="', 'timestamp="-'), "whole number"),
        (signature(timestamp=1_000_000).replace(SIGNING_KEY_ID, "other-key"), "unknown key"),
        (signature(timestamp=1_000_000, nonce="n" * 200), "1 to 128 characters"),
        ("SW-HMAC-SHA256 " + "key_id=" * 10_000, "must have"),
    ],
    ids=["old", "future", "negative", "unknown-key", "long-nonce", "garbage"],
)
def test_bad_signatures_are_refused_with_a_reason(
    authenticator: Authenticator, header: str, reason: str
) -> None:
    outcome = authenticator.authenticate(header, "POST", "/shop/divide", b"{}")
    assert isinstance(outcome, str)
    assert reason in outcome


def test_a_signature_covers_method_and_path(authenticator: Authenticator) -> None:
    header = signature(timestamp=1_000_000)
    assert "does not match" in str(authenticator.authenticate(header, "GET", "/shop/divide", b""))
    assert "does not match" in str(authenticator.authenticate(header, "POST", "/shop/crash", b"{}"))


def test_without_auth_settings_everyone_is_anonymous() -> None:
    open_gateway = Authenticator(GatewaySettings.from_mapping({"expose": {"shop": None}}))
    assert open_gateway.authenticate(None, "POST", "/", b"") == Caller("anonymous", None)
