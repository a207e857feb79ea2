"""The request-signing middleware: what it adds to each job."""

from __future__ import annotations

from typing import Any

import pytest

from servicewire import Client, InvalidSettings, JobRequest, RequestSigningMiddleware
from servicewire._signing import SIGNATURE_KEY, signature_mac, signed_content
from servicewire.types import ActionRequest

SECRET = "a secret of sixteen characters or more"


def signed(job: JobRequest, middleware: RequestSigningMiddleware) -> JobRequest:
    sent: list[JobRequest] = []
    middleware.request(lambda request_id, meta, job, expiry: sent.append(job))(1, {}, job, None)
    return sent[0]


def test_the_signature_covers_the_job_under_the_key_s_secret() -> None:
    middleware = RequestSigningMiddleware("k1", SECRET)
    middleware.now = lambda: 1_700_000_000.7  # type: ignore[method-assign]
    job = JobRequest(
        control={"continue_on_error": False},
        context={"correlation_id": "c", "switches": [3]},
        actions=[ActionRequest("pay", {"amount": 5})],
    )

    signature = signed(job, middleware).context[SIGNATURE_KEY]

    assert set(signature) == {"scheme", "key_id", "timestamp", "nonce", "mac"}
    assert signature["scheme"] == "hmac-sha256"
    assert signature["key_id"] == "k1"
    assert signature["timestamp"] == 1_700_000_000
    assert len(signature["nonce"]) == 32
    content = signed_content([("pay", {"amount": 5})], job.context, job.control, signature)
    assert signature["mac"] == signature_mac(SECRET.encode(), content)


def test_each_job_gets_a_nonce_of_its_own_and_the_caller_s_context_is_left_alone() -> None:
    middleware = RequestSigningMiddleware("k1", SECRET)
    context: dict[str, Any] = {"correlation_id": "c", "switches": []}
    first = signed(JobRequest(context=context), middleware)
    second = signed(JobRequest(context=context), middleware)

    assert SIGNATURE_KEY not in context
    assert first.context[SIGNATURE_KEY]["nonce"] != second.context[SIGNATURE_KEY]["nonce"]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"key_id": "k1", "secret": "short"}, "secret: Value should have at least 16"),
        ({"secret": SECRET}, "key_id: required key is missing"),
        ({"key_id": "k1", "secret": SECRET, "other": 1}, "other: unknown key"),
    ],
)
def test_bad_signing_settings_fail_when_the_client_is_built(
    kwargs: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidSettings, match=problem):
        Client(
            {
                "billing": {
                    "transport": {"path": "servicewire.transport.redis:RedisClientTransport"},
                    "middleware": [
                        {"path": "servicewire:RequestSigningMiddleware", "kwargs": kwargs}
                    ],
                }
            }
        )


def test_the_secret_does_not_show_in_its_repr() -> None:
    assert SECRET not in repr(RequestSigningMiddleware("k1", SECRET))
