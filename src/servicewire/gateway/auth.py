"""Who is calling: bearer tokens and HMAC-signed HTTP requests.

An HTTP request signature is ``Authorization: SW-HMAC-SHA256 key_id=K, timestamp=T,
nonce=N, signature=S`` where ``S`` is the hex HMAC-SHA256, under the secret of key ``K``, of
:func:`signed_http_content` (method, path with query, timestamp, nonce and the body's bytes).
:func:`http_signature` computes the header for a caller.

The check is pure but for its replay cache: :class:`Authenticator` answers a
:class:`Caller` or the reason for refusing, and never raises on what a caller sends.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass

from servicewire._signing import signature_mac
from servicewire.gateway.settings import GatewaySettings
from servicewire.server.signing import NonceCache

__all__ = ["HMAC_SCHEME", "Authenticator", "Caller", "http_signature", "signed_http_content"]

HMAC_SCHEME = "SW-HMAC-SHA256"

_PARAMETER = re.compile(r'\s*([a-z_]+)\s*=\s*"?([^",\s]*)"?\s*(?:,|$)')
_SIGNATURE_FIELDS = frozenset({"key_id", "timestamp", "nonce", "signature"})
_LONGEST_FIELD = 128


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: its name (the bearer token's caller, or the key id) and the
    key its jobs are signed with, if any."""

    name: str
    signing_key_id: str | None


ANONYMOUS = Caller("anonymous", None)


def signed_http_content(method: str, path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    """What an HTTP request signature covers."""
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n".encode() + body


def http_signature(
    key_id: str,
    secret: str,
    method: str,
    path: str,
    body: bytes,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> str:
    """The ``Authorization`` header value signing one HTTP request (``path`` with its query
    string, if any)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = secrets.token_hex(16) if nonce is None else nonce
    mac = signature_mac(secret.encode(), signed_http_content(method, path, timestamp, nonce, body))
    return (
        f'{HMAC_SCHEME} key_id="{key_id}", timestamp="{timestamp}", nonce="{nonce}", '
        f'signature="{mac}"'
    )


class Authenticator:
    """Checks the ``Authorization`` header of each request against the gateway's settings."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.required = settings.requires_authentication
        self._tokens = {token.encode(): caller for token, caller in settings.bearer_tokens.items()}
        self._secrets = {
            key_id: secret.get_secret_value().encode()
            for key_id, secret in settings.signing_keys.items()
        }
        self._max_age = settings.signature_max_age_in_seconds
        self._nonces = NonceCache(100_000, self._max_age)

    def now(self) -> float:
        return time.time()

    def authenticate(
        self, authorization: str | None, method: str, path: str, body: bytes
    ) -> Caller | str:
        """The caller, or why the request is refused."""
        if not self.required:
            return ANONYMOUS
        if not authorization:
            return "this gateway requires a bearer token or a request signature"
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            return self._bearer(credentials.strip())
        if scheme == HMAC_SCHEME:
            return self._signed(credentials, method, path, body)
        return f"unknown authorization scheme {scheme[:32]!r} (expected Bearer or {HMAC_SCHEME})"

    def _bearer(self, token: str) -> Caller | str:
        given = token.encode("utf-8", "surrogatepass")
        # Compare with every token, so that the time taken does not tell which one is near.
        name = None
        for known, caller in self._tokens.items():
            if hmac.compare_digest(known, given):
                name = caller
        if name is None:
            return "the bearer token is not accepted"
        return Caller(name, name if name in self._secrets else None)

    def _signed(self, credentials: str, method: str, path: str, body: bytes) -> Caller | str:
        fields = dict(_PARAMETER.findall(credentials))
        if set(fields) != _SIGNATURE_FIELDS:
            return f"the request signature must have {', '.join(sorted(_SIGNATURE_FIELDS))}"
        if any(not 0 < len(value) <= _LONGEST_FIELD for value in fields.values()):
            return f"each field of the request signature has 1 to {_LONGEST_FIELD} characters"
        if not fields["timestamp"].isdigit():
            return "the request signature's timestamp must be a whole number of seconds"
        key_id, timestamp, nonce = fields["key_id"], int(fields["timestamp"]), fields["nonce"]
        secret = self._secrets.get(key_id)
        if secret is None:
            return f"the request is signed with an unknown key {key_id!r}"
        expected = signature_mac(secret, signed_http_content(method, path, timestamp, nonce, body))
        if not hmac.compare_digest(expected.encode(), fields["signature"].encode()):
            return "the request signature does not match the request"
        now = self.now()
        if abs(now - timestamp) > self._max_age:
            return f"the request signature is expired ({self._max_age} s allowed)"
        refused = self._nonces.remember(nonce, timestamp, now)
        return refused or Caller(key_id, key_id)
