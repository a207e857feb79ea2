"""What a caller sends, checked: JSON bodies, the job headers, whole jobs; and the
:class:`Refusal` that answers anything wrong with a JSON error naming it.

A body must be a JSON object the transports can carry: no ``NaN`` or infinities, no integer
beyond 64 bits (msgpack's limit), no nesting deep enough to exhaust the parser.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from servicewire.client.base import new_correlation_id
from servicewire.errors import ERROR_CODE_INVALID

__all__ = [
    "Refusal",
    "correlation_id_header",
    "job_parts",
    "json_object",
    "switches_header",
]

_JOB_CONTROL_KEYS = frozenset({"continue_on_error", "switches", "correlation_id"})
_RESERVED_CONTEXT_KEYS = frozenset({"switches", "correlation_id", "request_signature"})


class Refusal(Exception):
    """A request answered with an error of the gateway's own."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = dict(headers or {})


def json_object(body: bytes, what: str) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(
            body, parse_constant=_no_constant, parse_int=_int64, parse_float=_finite_float
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise Refusal(
            400, ERROR_CODE_INVALID, f"The request body is not valid JSON: {error}"
        ) from None
    if not isinstance(value, dict):
        raise Refusal(
            400,
            ERROR_CODE_INVALID,
            f"The request body must be a JSON object ({what}), not {type(value).__name__}",
        )
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_INT_RANGE = range(-(2**63), 2**64)


def _int64(text: str) -> int:
    # msgpack, the transports' usual encoding, carries 64-bit integers and no more.
    value = int(text)
    if value not in _INT_RANGE:
        raise ValueError(f"the integer {text[:40]} does not fit in 64 bits")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is too large for a float")
    return value


def switches_header(raw: str | None) -> list[int] | None:
    if raw is None or not raw.strip():
        return None
    try:
        return [int(part) for part in raw.split(",")]
    except ValueError:
        raise Refusal(
            400,
            ERROR_CODE_INVALID,
            f"X-Switches must be comma-separated integers, not {raw[:64]!r}",
            field="X-Switches",
        ) from None


def correlation_id_header(request: Request) -> str:
    given = request.headers.get("x-correlation-id", "").strip()
    if len(given) > 256:
        raise Refusal(
            400,
            ERROR_CODE_INVALID,
            "X-Correlation-Id is longer than 256 characters",
            field="X-Correlation-Id",
        )
    return given or new_correlation_id()


def job_parts(
    job: dict[str, Any],
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """The actions, control and context of a job request body, checked."""
    unknown = sorted(set(job) - {"actions", "control", "context"})
    if unknown:
        raise Refusal(400, ERROR_CODE_INVALID, f"Unknown job key {unknown[0]!r}", unknown[0])
    actions = job.get("actions")
    if not isinstance(actions, list) or not actions:
        raise Refusal(
            400, ERROR_CODE_INVALID, "actions must be a non-empty list of actions", "actions"
        )
    checked: list[dict[str, Any]] = []
    for index, action in enumerate(actions):
        field = f"actions.{index}"
        if not isinstance(action, dict) or not isinstance(action.get("action"), str):
            raise Refusal(
                400, ERROR_CODE_INVALID, "each action is an object with an action name", field
            )
        extra = sorted(set(action) - {"action", "body"})
        if extra:
            raise Refusal(400, ERROR_CODE_INVALID, f"Unknown key {extra[0]!r}", field)
        body = action.get("body", {})
        if not isinstance(body, dict):
            raise Refusal(400, ERROR_CODE_INVALID, "body must be an object", f"{field}.body")
        checked.append({"action": action["action"], "body": body})
    control = job.get("control", {})
    if not isinstance(control, dict):
        raise Refusal(400, ERROR_CODE_INVALID, "control must be an object", "control")
    unknown = sorted(set(control) - _JOB_CONTROL_KEYS)
    if unknown:
        raise Refusal(
            400,
            ERROR_CODE_INVALID,
            f"Unknown control key {unknown[0]!r} (known: {', '.join(sorted(_JOB_CONTROL_KEYS))})",
            f"control.{unknown[0]}",
        )
    context = job.get("context", {})
    if not isinstance(context, dict):
        raise Refusal(400, ERROR_CODE_INVALID, "context must be an object", "context")
    reserved = sorted(set(context) & _RESERVED_CONTEXT_KEYS)
    if reserved:
        raise Refusal(
            400,
            ERROR_CODE_INVALID,
            f"context may not set {reserved[0]!r} (use control or the headers)",
            f"context.{reserved[0]}",
        )
    return checked, control, context
