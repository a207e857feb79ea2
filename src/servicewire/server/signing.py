"""Signed requests: a policy that lets a call run only if its job carries a valid signature.

The caller's ``RequestSigningMiddleware`` (``servicewire.client.signing``) adds to each
job's context a ``request_signature``: a key id, a timestamp, a random nonce and an
HMAC-SHA256, under the secret of that key id, of the job's canonical content (its actions,
its context and control, and those signature fields; see ``servicewire._signing``).

:class:`AllowSignedRequests` recomputes the MAC with the server's secret for the key id and
refuses the call (``NOT_AUTHORIZED``, ``denied_permissions`` ``["signed_request"]``) when
the job is unsigned, signed with an unknown key, altered after signing, signed more than
``max_age_in_seconds`` from now (either way: clocks differ), or signed with a nonce this
process has already accepted (a replay). Several keys may be accepted at once, which is how
secrets are rotated.

The replay check remembers nonces in memory, per server process, for as long as their
signature is fresh (at most ``nonce_cache_size`` of them; when full, signatures older than
the oldest nonce forgotten are refused too, so that nothing is ever accepted twice by one
process). A replay delivered to another process of the service (``--fork``, another host)
within ``max_age_in_seconds`` is not detected: keep that window short.
"""

from __future__ import annotations

import heapq
import hmac
import logging
import math
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictStr

from servicewire._signing import (
    SIGNATURE_KEY,
    SIGNATURE_SCHEME,
    signature_mac,
    signed_content,
)
from servicewire.errors import ImproperlyConfigured
from servicewire.server.policies import Denial, Policy, job_scope
from servicewire.server.signing_settings import (
    DEFAULT_MAX_AGE,
    DEFAULT_NONCE_CACHE_SIZE,
    RequestSigningSettings,
    SigningSecret,
)

if TYPE_CHECKING:
    from servicewire.server.interface import ServerInterface
    from servicewire.server.request import EnrichedActionRequest, EnrichedJobRequest

__all__ = ["AllowSignedRequests", "NonceCache", "RequestSigningSettings"]

logger = logging.getLogger("servicewire.server.signing")

_LONGEST_FIELD = 128


class NonceCache:
    """The nonces of accepted signatures, kept while their signatures are fresh.

    :meth:`remember` records a nonce and says whether it may be accepted. Thread-safe.
    """

    def __init__(self, capacity: int, max_age: float) -> None:
        self.capacity = capacity
        self.max_age = max_age
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._by_age: list[tuple[float, str]] = []
        # Signatures at or before this timestamp can no longer be checked for replays.
        self._floor = float("-inf")

    def __len__(self) -> int:
        return len(self._seen)

    def remember(self, nonce: str, timestamp: float, now: float) -> str | None:
        """Record ``nonce``; ``None`` if it is new, else why it cannot be accepted."""
        with self._lock:
            by_age, seen = self._by_age, self._seen
            horizon = now - self.max_age
            while by_age and by_age[0][0] < horizon:
                _, old = heapq.heappop(by_age)
                del seen[old]
            if nonce in seen:
                return "the request signature was already used (a replay)"
            if timestamp <= self._floor:
                return (
                    "the request signature is too old to be checked for replays (the "
                    "server's replay cache is full)"
                )
            seen[nonce] = timestamp
            heapq.heappush(by_age, (timestamp, nonce))
            if len(seen) > self.capacity:
                forgotten_at, forgotten = heapq.heappop(by_age)
                del seen[forgotten]
                self._floor = max(self._floor, forgotten_at)
            return None


class _SignedPolicySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keys: dict[StrictStr, SigningSecret] | None = None
    max_age_in_seconds: Annotated[int, Field(gt=0)] | None = None
    nonce_cache_size: Annotated[int, Field(gt=0)] | None = None


class AllowSignedRequests(Policy):
    """Calls whose job carries a valid signature (see the module documentation).

    Without arguments, the keys and limits come from the server's ``request_signing``
    setting; ``keys`` (key id to secret), ``max_age_in_seconds`` and ``nonce_cache_size``
    given here take precedence. Each server binds its own instance, with its own replay
    cache.
    """

    permission: ClassVar[str | None] = "signed_request"
    needs_job = True
    settings_schema: ClassVar[type[BaseModel]] = _SignedPolicySettings

    def __init__(
        self,
        keys: Mapping[str, str | SecretStr] | None = None,
        max_age_in_seconds: int | None = None,
        nonce_cache_size: int | None = None,
    ) -> None:
        self._keys = None if keys is None else _encoded(keys)
        self._max_age = max_age_in_seconds
        self._cache_size = nonce_cache_size
        self._nonces = (
            None
            if keys is None
            else NonceCache(
                nonce_cache_size or DEFAULT_NONCE_CACHE_SIZE,
                max_age_in_seconds or DEFAULT_MAX_AGE,
            )
        )

    def bind(self, server: ServerInterface) -> AllowSignedRequests:
        settings: RequestSigningSettings | None = server.settings.request_signing
        keys: Mapping[str, str | SecretStr] | None = None
        if self._keys is not None:
            keys = {key_id: secret.decode() for key_id, secret in self._keys.items()}
        elif settings is not None:
            keys = settings.keys
        if not keys:
            raise ImproperlyConfigured(
                f"AllowSignedRequests of service {server.service_name!r} has no keys: set "
                "request_signing.keys in its settings"
            )
        return AllowSignedRequests(
            keys,
            self._max_age or (settings.max_age_in_seconds if settings else None),
            self._cache_size or (settings.nonce_cache_size if settings else None),
        )

    def now(self) -> float:
        """The server's clock (seconds since the epoch)."""
        return time.time()

    def check(self, request: EnrichedActionRequest) -> list[Denial]:
        scope = job_scope()
        if scope is None:
            reason: str | None = "the request's job is not known to the server"
        elif self in scope.memo:
            reason = scope.memo[self]
        else:
            reason = scope.memo[self] = self._verify(scope.job)
            if reason is not None:
                logger.warning(
                    "Refused a signed-request check for action %r (calling_service %r): %s",
                    request.action,
                    request.context.get("calling_service"),
                    reason,
                )
        return [] if reason is None else [Denial("signed_request", reason)]

    def _verify(self, job: EnrichedJobRequest) -> str | None:
        """Why the job's signature is not acceptable, or ``None`` if it is."""
        if self._nonces is None or self._keys is None:
            raise ImproperlyConfigured("AllowSignedRequests has no keys: bind it to a server")
        signature = job.context.get(SIGNATURE_KEY)
        if signature is None:
            return "the request is not signed"
        problem = _malformed(signature)
        if problem:
            return f"the request signature is malformed: {problem}"
        secret = self._keys.get(signature["key_id"])
        if secret is None:
            return f"the request is signed with an unknown key {signature['key_id']!r}"
        try:
            content = signed_content(
                ((action.action, action.body) for action in job.actions),
                job.context,
                job.control,
                signature,
            )
        except (TypeError, ValueError, RecursionError) as error:
            return f"the request cannot be checked: {error}"
        if not _equal(signature_mac(secret, content), signature["mac"]):
            return "the request signature does not match its content"
        now = self.now()
        age = now - signature["timestamp"]
        max_age = self._nonces.max_age
        if abs(age) > max_age:
            when = f"{age:.0f} s ago" if age > 0 else f"{-age:.0f} s in the future"
            return f"the request signature is expired (signed {when}; {max_age:.0f} s allowed)"
        return self._nonces.remember(signature["nonce"], signature["timestamp"], now)

    def __repr__(self) -> str:
        return "AllowSignedRequests()"


def _malformed(signature: Any) -> str | None:
    if not isinstance(signature, dict):
        return "not a map"
    expected = {"scheme", "key_id", "timestamp", "nonce", "mac"}
    if set(signature) != expected:
        return f"its keys must be {', '.join(sorted(expected))}"
    if signature["scheme"] != SIGNATURE_SCHEME:
        return f"unknown scheme {signature['scheme']!r}"
    for field in ("key_id", "nonce", "mac"):
        value = signature[field]
        if not isinstance(value, str) or not 0 < len(value) <= _LONGEST_FIELD:
            return f"{field} must be a string of 1 to {_LONGEST_FIELD} characters"
    timestamp = signature["timestamp"]
    if type(timestamp) not in (int, float) or math.isnan(timestamp):
        return "timestamp must be a number"
    return None


def _encoded(keys: Mapping[str, str | SecretStr]) -> dict[str, bytes]:
    return {
        key_id: (secret.get_secret_value() if isinstance(secret, SecretStr) else secret).encode()
        for key_id, secret in keys.items()
    }


def _equal(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))
