"""A canonical encoding of message content, and what a request signature covers.

Signatures and deduplication keys must not depend on how a message travelled: a transport
may re-encode it (msgpack or JSON), reorder its maps, turn tuples into lists or integer map
keys into strings. :func:`canonical_bytes` gives one byte string per value whatever happened
to it on the way, and different bytes for values that differ in anything a transport keeps.
It is injective except where a transport itself erases the difference (a tuple and a list;
the integer key ``1`` and the string key ``"1"``, which the JSON serializer merges anyway);
a map holding both ``1`` and ``"1"`` is refused rather than encoded ambiguously.

Values of the msgpack extension types (dates, times, decimals, currency amounts) are encoded
by their wire form, so that a ``CurrencyAmount`` and a ``currint.Amount`` of the same value,
or an aware datetime and the same instant in UTC, encode alike.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

from servicewire.serializer.msgpack import _default as msgpack_extension

__all__ = [
    "SIGNATURE_KEY",
    "SIGNATURE_SCHEME",
    "canonical_bytes",
    "signature_mac",
    "signed_content",
]

SIGNATURE_KEY = "request_signature"
"""The context key holding a job's signature: ``{"scheme", "key_id", "timestamp", "nonce",
"mac"}``."""

SIGNATURE_SCHEME = "hmac-sha256"
"""The only scheme there is; named in each signature so that another can follow."""

# Control keys a transport may rewrite on the way (the SQL transport's fan-out delivery sets
# suppress_response); they decide whether the caller hears back, not what runs.
_UNSIGNED_CONTROL_KEYS = frozenset({"suppress_response"})


def canonical_bytes(value: Any) -> bytes:
    """The canonical encoding of ``value`` (ASCII JSON of a tagged tree).

    Raises ``TypeError`` for a value no transport could carry and ``ValueError`` for a map
    whose keys are not strings or integers, or collide once written as strings.
    """
    return json.dumps(
        _tree(value), ensure_ascii=True, separators=(",", ":"), allow_nan=True
    ).encode("ascii")


def _tree(value: Any) -> Any:
    # Scalars stand for themselves; every JSON array of the result is a [tag, ...] node, so
    # that no container can pass for another.
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        items: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) and type(key) is not int:
                raise ValueError(f"a map key of type {type(key).__name__} has no canonical form")
            text = str(key)
            if text in items:
                raise ValueError(f"the map keys {key!r} and {text!r} are ambiguous")
            items[text] = _tree(item)
        return ["d", [[key, items[key]] for key in sorted(items)]]
    if isinstance(value, list | tuple):
        return ["l", [_tree(item) for item in value]]
    if isinstance(value, bytes | bytearray):
        return ["b", bytes(value).hex()]
    try:
        extension = msgpack_extension(value)
    except TypeError:
        raise TypeError(f"a value of type {type(value).__name__} has no canonical form") from None
    return ["x", extension.code, extension.data.hex()]


def signed_content(
    actions: Iterable[tuple[str, Any]],
    context: Mapping[str, Any],
    control: Mapping[str, Any],
    signature: Mapping[str, Any],
) -> bytes:
    """What a job's MAC covers: its ``(action, body)`` pairs, its context without the
    signature, its control without the keys transports rewrite, and the signature's own
    fields but its ``mac``."""
    return canonical_bytes(
        {
            "actions": [[name, body or {}] for name, body in actions],
            "context": {key: value for key, value in context.items() if key != SIGNATURE_KEY},
            "control": {
                key: value for key, value in control.items() if key not in _UNSIGNED_CONTROL_KEYS
            },
            "signature": {key: value for key, value in signature.items() if key != "mac"},
        }
    )


def signature_mac(secret: bytes, content: bytes) -> str:
    """The hex HMAC-SHA256 of ``content`` under ``secret``."""
    return hmac.new(secret, content, hashlib.sha256).hexdigest()
