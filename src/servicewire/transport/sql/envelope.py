"""The SQL transport's protocol core, free of I/O: payloads, size limits, reply routing.

A row's ``payload`` is ``{"meta": meta, "body": body}`` packed by the msgpack serializer
(all of its extension types travel). The request id and the caller's reply identity are
columns of their own, so that a server can still answer a row whose payload cannot be
decoded.

A caller's reply identity, carried in ``meta["reply_to"]``, is ``"<client key>!<thread>"``:
the client key names the client transport (and its PostgreSQL notification channel), the
part after ``!`` one of its threads, each of which reads only its own replies.
"""

from __future__ import annotations

from typing import Any, Literal

from servicewire.errors import InvalidMessage
from servicewire.serializer.msgpack import MsgpackSerializer
from servicewire.transport.limits import check_message_size

__all__ = [
    "Outcome",
    "caller_key",
    "decode_payload",
    "encode_payload",
    "job_outcome",
    "reply_identity",
]

_serializer = MsgpackSerializer()

Outcome = Literal["succeeded", "failed", "rejected"]


def reply_identity(client_key: str, thread: str) -> str:
    """The ``reply_to`` of one thread of a client transport."""
    return f"{client_key}!{thread}"


def caller_key(reply_to: str) -> str:
    """The client key of a ``reply_to`` identity (its notification channel's key)."""
    return reply_to.partition("!")[0]


def encode_payload(
    meta: dict[str, Any],
    body: dict[str, Any],
    *,
    maximum_size: int,
    log_larger_than: int,
    description: str,
) -> bytes:
    """Pack ``meta`` and ``body``; raise ``MessageTooLarge`` over ``maximum_size`` bytes.

    ``InvalidField`` comes from the serializer for a value it cannot pack. A payload over
    ``log_larger_than`` bytes (0: never) is logged, censored, on the
    ``servicewire.transport.oversized_message`` logger. ``description`` names the message
    in both (``"request 12 to service 'calculator'"``).
    """
    payload = _serializer.dict_to_blob({"meta": meta, "body": body})
    check_message_size(len(payload), maximum_size, log_larger_than, description, body)
    return payload


def decode_payload(payload: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Unpack a payload into ``(meta, body)``; ``InvalidMessage`` for anything else."""
    message = _serializer.blob_to_dict(payload)
    meta = message.get("meta")
    body = message.get("body")
    if not isinstance(meta, dict) or not isinstance(body, dict):
        raise InvalidMessage(
            "The payload is not a message: it needs a 'meta' dict and a 'body' dict "
            f"(found {type(meta).__name__} and {type(body).__name__})"
        )
    return meta, body


def job_outcome(response: dict[str, Any] | None) -> tuple[Outcome, str | None]:
    """Classify a job response for fan-out delivery, with the error that decided it.

    ``"failed"``: an error the server is to blame for (retry it later); ``"rejected"``: only
    errors of the caller (retrying cannot help); ``"succeeded"``: no errors, or no response.
    """
    if response is None:
        return "succeeded", None
    errors = list(response.get("errors") or [])
    for action in response.get("actions") or []:
        if isinstance(action, dict):
            errors.extend(action.get("errors") or [])
    errors = [error for error in errors if isinstance(error, dict)]
    if not errors:
        return "succeeded", None
    for error in errors:
        if not error.get("is_caller_error"):
            return "failed", _describe(error)
    return "rejected", _describe(errors[0])


def _describe(error: dict[str, Any]) -> str:
    field = f" (field {error['field']})" if error.get("field") else ""
    text = f"{error.get('code')}: {error.get('message')}{field}"
    traceback = error.get("traceback")
    return f"{text}\n{traceback}" if traceback else text
