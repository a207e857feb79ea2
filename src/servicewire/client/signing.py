"""Signing requests: a client middleware that lets a service know who sent a job.

``calling_service`` in a job's context is a claim anyone can make. A service that must know
the sender checks a signature instead (``servicewire.server.signing.AllowSignedRequests``):
this middleware adds one to every job, an HMAC-SHA256 under a secret the caller and the
service share, identified by a key id.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictStr

from servicewire._signing import SIGNATURE_KEY, SIGNATURE_SCHEME, signature_mac, signed_content
from servicewire.client.middleware import ClientMiddleware, SendRequest
from servicewire.types import JobRequest

__all__ = ["RequestSigningMiddleware"]


class _SigningSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    secret: Annotated[SecretStr, Field(min_length=16)]


class RequestSigningMiddleware(ClientMiddleware):
    """Signs every job sent with the secret of ``key_id``.

    The signature goes into the job's context as ``request_signature`` and covers the job's
    actions, context and control (all but ``suppress_response``, which transports may
    rewrite). Put this middleware last in the ``middleware`` list: middleware after it that
    changes a job would break its signature. ``secret`` is at least 16 characters.
    """

    settings_schema: ClassVar[type[BaseModel] | None] = _SigningSettings

    def __init__(self, key_id: str, secret: str | SecretStr) -> None:
        settings = _SigningSettings(key_id=key_id, secret=secret)
        self.key_id = settings.key_id
        self._secret = settings.secret.get_secret_value().encode()

    def now(self) -> float:
        """The clock of the signatures' timestamps (seconds since the epoch)."""
        return time.time()

    def sign(self, job_request: JobRequest) -> None:
        """Add the signature of ``job_request`` to its context (in a new context dict)."""
        signature: dict[str, Any] = {
            "scheme": SIGNATURE_SCHEME,
            "key_id": self.key_id,
            "timestamp": int(self.now()),
            "nonce": secrets.token_hex(16),
        }
        content = signed_content(
            ((action.action, action.body) for action in job_request.actions),
            job_request.context,
            job_request.control,
            signature,
        )
        signature["mac"] = signature_mac(self._secret, content)
        job_request.context = {**job_request.context, SIGNATURE_KEY: signature}

    def request(self, send_request: SendRequest) -> SendRequest:
        def send(
            request_id: int,
            meta: dict[str, Any],
            job_request: JobRequest,
            message_expiry_in_seconds: int | float | None,
        ) -> None:
            self.sign(job_request)
            send_request(request_id, meta, job_request, message_expiry_in_seconds)

        return send

    def __repr__(self) -> str:
        return f"RequestSigningMiddleware(key_id={self.key_id!r})"
