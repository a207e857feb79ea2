"""Signed requests over a real Redis: valid signatures pass; tampered, replayed, expired,
unsigned and unknown-key requests are refused."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from servicewire import (
    ERROR_CODE_NOT_AUTHORIZED,
    AllOf,
    AllowCallingServices,
    AllowSignedRequests,
    Client,
    ClientMiddleware,
    Error,
    ImproperlyConfigured,
    JobRequest,
    RequestSigningMiddleware,
    Server,
)
from servicewire.client.middleware import SendRequest
from servicewire.server.signing import NonceCache
from tests.server.concurrency_services import Echo
from tests.transport.redis.support import CLIENT_TRANSPORT, layer, serving

OLD_SECRET = "an old secret shared by caller and service"
NEW_SECRET = "the new secret after the rotation"


class Pay(Echo):
    pass


class SignedServer(Server):
    service_name = "signed"
    action_class_map: Any = {"pay": Pay}
    default_policy = AllowSignedRequests()


SETTINGS = {"request_signing": {"keys": {"2023": OLD_SECRET, "2024": NEW_SECRET}}}


class PastSigner(RequestSigningMiddleware):
    def now(self) -> float:
        return time.time() - 3600


class FutureSigner(RequestSigningMiddleware):
    def now(self) -> float:
        return time.time() + 3600


class Tamper(ClientMiddleware):
    """Changes the amount of every job after it was signed."""

    def request(self, send_request: SendRequest) -> SendRequest:
        def send(request_id: int, meta: dict[str, Any], job: JobRequest, expiry: Any) -> None:
            job.actions[0].body["amount"] = 1_000_000
            send_request(request_id, meta, job, expiry)

        return send


class Capture(ClientMiddleware):
    """Keeps a copy of every job as sent."""

    jobs: list[JobRequest] = []

    def request(self, send_request: SendRequest) -> SendRequest:
        def send(request_id: int, meta: dict[str, Any], job: JobRequest, expiry: Any) -> None:
            Capture.jobs.append(copy.deepcopy(job))
            send_request(request_id, meta, job, expiry)

        return send


def signer(key_id: str = "2024", secret: str = NEW_SECRET, cls: type = RequestSigningMiddleware):
    return {"path": cls, "kwargs": {"key_id": key_id, "secret": secret}}


@pytest.fixture
def service(redis_url: str) -> Iterator[str]:
    with serving(SignedServer, layer(redis_url), workers=2, **SETTINGS):
        yield redis_url


def client_for(redis_url: str, *middleware: dict[str, Any], **transport: Any) -> Client:
    settings = {
        "transport": {"path": CLIENT_TRANSPORT, "kwargs": layer(redis_url, **transport)},
        "middleware": list(middleware),
    }
    return Client({"signed": settings})


def pay(client: Client, body: dict[str, Any] | None = None) -> Any:
    response = client.call_actions(
        "signed", [{"action": "pay", "body": body or {"amount": 5}}], raise_action_errors=False
    )
    client.close()
    return response.actions[0]


def refused(reason: str) -> list[Error]:
    return [
        Error(
            code=ERROR_CODE_NOT_AUTHORIZED,
            message=f'Not authorized to call action "pay": {reason}',
            denied_permissions=["signed_request"],
            is_caller_error=True,
        )
    ]


def test_a_signed_request_is_allowed(service: str) -> None:
    action = pay(client_for(service, signer()))
    assert action.errors == []
    assert action.body == {"amount": 5}


def test_every_action_of_a_signed_job_is_allowed(service: str) -> None:
    client = client_for(service, signer())
    response = client.call_actions(
        "signed", [{"action": "pay", "body": {"amount": n}} for n in range(3)]
    )
    client.close()
    assert [action.body for action in response.actions] == [{"amount": n} for n in range(3)]


def test_both_keys_of_a_rotation_are_accepted(service: str) -> None:
    assert pay(client_for(service, signer("2023", OLD_SECRET))).errors == []
    assert pay(client_for(service, signer("2024", NEW_SECRET))).errors == []


def test_a_signature_survives_the_json_serializer(service: str) -> None:
    client = client_for(
        service,
        signer(),
        default_serializer_config={"path": "servicewire.serializer:JSONSerializer"},
    )
    action = pay(client, {"amount": 5, "split": (1, 2), "by_account": {7: 3}})
    assert action.errors == []
    assert action.body == {"amount": 5, "split": [1, 2], "by_account": {"7": 3}}


def test_an_unsigned_request_is_refused(service: str) -> None:
    assert pay(client_for(service)).errors == refused("the request is not signed")


def test_a_tampered_request_is_refused(service: str) -> None:
    tamper = {"path": Tamper}
    assert pay(client_for(service, signer(), tamper)).errors == refused(
        "the request signature does not match its content"
    )


def test_a_request_signed_with_another_secret_is_refused(service: str) -> None:
    assert pay(client_for(service, signer("2024", OLD_SECRET))).errors == refused(
        "the request signature does not match its content"
    )


def test_an_unknown_key_is_refused(service: str) -> None:
    assert pay(client_for(service, signer("2099", NEW_SECRET))).errors == refused(
        "the request is signed with an unknown key '2099'"
    )


def test_an_expired_signature_is_refused(service: str) -> None:
    [error] = pay(client_for(service, signer(cls=PastSigner))).errors
    assert error.code == ERROR_CODE_NOT_AUTHORIZED
    assert error.denied_permissions == ["signed_request"]
    # The signature's timestamp is in whole seconds.
    assert re.search(
        r"signature is expired \(signed 360[01] s ago; 300 s allowed\)$", error.message
    )


def test_a_signature_from_the_future_is_refused(service: str) -> None:
    [error] = pay(client_for(service, signer(cls=FutureSigner))).errors
    assert re.search(r"\(signed 3(600|599) s in the future; 300 s allowed\)$", error.message)


def test_a_replayed_request_is_refused(service: str) -> None:
    Capture.jobs = []
    assert pay(client_for(service, signer(), {"path": Capture})).errors == []
    [signed_job] = Capture.jobs

    replayer = client_for(service)
    handler = replayer._get_handler("signed")
    request_id = handler.send_request(signed_job)
    response = handler.wait_for([request_id], timeout=10)[request_id]
    replayer.close()

    assert response.actions[0].errors == refused(
        "the request signature was already used (a replay)"
    )


def test_a_malformed_signature_is_refused(service: str) -> None:
    client = client_for(service)
    response = client.call_actions(
        "signed",
        [{"action": "pay", "body": {}}],
        context={"request_signature": {"key_id": "2024"}},
        raise_action_errors=False,
    )
    client.close()
    assert response.actions[0].errors == refused(
        "the request signature is malformed: its keys must be key_id, mac, nonce, scheme, timestamp"
    )


def test_the_policy_needs_keys() -> None:
    with pytest.raises(ImproperlyConfigured, match="AllowSignedRequests of service 'signed' has"):
        SignedServer({"transport": None})


def test_keys_given_to_the_policy_replace_the_settings() -> None:
    class OwnKeys(SignedServer):
        default_policy = AllowSignedRequests(keys={"mine": "sixteen characters!"})

    client = Client(
        {
            "signed": {
                "transport": {
                    "path": "servicewire.transport.local:LocalClientTransport",
                    "kwargs": {"server_class": OwnKeys, "server_settings": {}},
                },
                "middleware": [signer("mine", "sixteen characters!")],
            }
        }
    )
    assert client.call_action("signed", "pay", {"amount": 1}).body == {"amount": 1}


# --- the replay cache -----------------------------------------------------------------------


def test_a_nonce_is_accepted_once() -> None:
    cache = NonceCache(capacity=10, max_age=300)
    assert cache.remember("a", 1000, now=1000) is None
    assert (
        cache.remember("a", 1000, now=1001) == "the request signature was already used (a replay)"
    )


def test_nonces_are_forgotten_once_their_signatures_expire() -> None:
    cache = NonceCache(capacity=10, max_age=300)
    cache.remember("a", 1000, now=1000)
    cache.remember("b", 1200, now=1200)
    assert cache.remember("c", 1400, now=1400) is None
    assert len(cache) == 2  # "a" (signed at 1000) expired at 1300


def test_a_full_cache_refuses_signatures_older_than_what_it_forgot() -> None:
    cache = NonceCache(capacity=2, max_age=300)
    for nonce, timestamp in (("a", 1000), ("b", 1001), ("c", 1002)):
        assert cache.remember(nonce, timestamp, now=1003) is None
    assert len(cache) == 2
    assert "replay cache is full" in str(cache.remember("a", 1000, now=1003))
    assert cache.remember("d", 1003, now=1003) is None


def test_a_signature_combines_with_other_policies() -> None:
    class Combined(SignedServer):
        default_policy = AllOf(AllowCallingServices({"billing"}), AllowSignedRequests())

    def call(middleware: list[dict[str, Any]], calling_service: str) -> list[Error]:
        client = Client(
            {
                "signed": {
                    "transport": {
                        "path": "servicewire.transport.local:LocalClientTransport",
                        "kwargs": {"server_class": Combined, "server_settings": SETTINGS},
                    },
                    "middleware": middleware,
                }
            }
        )
        response = client.call_actions(
            "signed",
            [{"action": "pay", "body": {}}],
            context={"calling_service": calling_service},
            raise_action_errors=False,
        )
        return response.actions[0].errors

    assert call([signer()], "billing") == []
    assert [error.denied_permissions for error in call([signer()], "search")] == [
        ["calling_service:billing"]
    ]
    assert [error.denied_permissions for error in call([], "search")] == [
        ["calling_service:billing", "signed_request"]
    ]


def test_outside_a_server_s_job_a_signature_cannot_be_checked() -> None:
    from servicewire import Denial, EnrichedActionRequest

    policy = AllowSignedRequests(keys={"k": NEW_SECRET})
    assert policy.check(EnrichedActionRequest("pay")) == [
        Denial("signed_request", "the request's job is not known to the server")
    ]


def test_the_asyncio_client_signs_with_the_same_middleware(service: str) -> None:
    import asyncio

    from servicewire import AsyncClient

    async def call(middleware: list[dict[str, Any]]) -> list[Error]:
        settings = {
            "transport": {"path": CLIENT_TRANSPORT, "kwargs": layer(service)},
            "middleware": middleware,
        }
        async with AsyncClient({"signed": settings}) as client:
            response = await client.call_actions(
                "signed", [{"action": "pay", "body": {"amount": 1}}], raise_action_errors=False
            )
        return response.actions[0].errors

    assert asyncio.run(call([signer()])) == []
    assert asyncio.run(call([])) == refused("the request is not signed")
