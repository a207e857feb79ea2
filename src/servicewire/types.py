"""The plain data of a call: job and action requests and responses, and errors.

These classes are what callers and actions handle; ``to_dict`` / ``from_dict`` convert them
to and from the wire dicts (see the protocol description) without copying bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ActionRequest",
    "ActionResponse",
    "Body",
    "Context",
    "Control",
    "Error",
    "JobRequest",
    "JobResponse",
]

Body = dict[str, Any]
"""An action request or response body."""
Context = dict[str, Any]
"""A job's context header."""
Control = dict[str, Any]
"""A job request's control header."""


@dataclass(frozen=True, slots=True)
class Error:
    """One error, as carried on the wire in job and action responses.

    ``code`` is machine-readable (see the ``ERROR_CODE_*`` constants), ``message`` is for
    humans, ``field`` names the request field at fault (dotted path), ``is_caller_error`` says
    whether the caller (``True``) or the service (``False``) is to blame.
    """

    code: str
    message: str
    field: str | None = None
    traceback: str | None = None
    variables: dict[str, Any] | None = None
    denied_permissions: list[str] | None = None
    is_caller_error: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "traceback": self.traceback,
            "variables": self.variables,
            "denied_permissions": self.denied_permissions,
            "is_caller_error": self.is_caller_error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Error:
        """Build from a wire dict; keys an older peer omits take their defaults."""
        return cls(
            code=data["code"],
            message=data["message"],
            field=data.get("field"),
            traceback=data.get("traceback"),
            variables=data.get("variables"),
            denied_permissions=data.get("denied_permissions"),
            is_caller_error=bool(data.get("is_caller_error", False)),
        )


def _errors_from(data: Mapping[str, Any]) -> list[Error]:
    errors = data.get("errors")
    if not errors:
        return []
    return [e if isinstance(e, Error) else Error.from_dict(e) for e in errors]


# Most responses carry no errors and one action: the conversions below test for empty lists
# and use ``map`` rather than build a comprehension (a function call of its own before
# Python 3.12) for nothing, or for one item.


@dataclass(slots=True)
class ActionRequest:
    """A request to run one action with a body."""

    action: str
    body: Body = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "body": self.body}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActionRequest:
        return cls(action=data["action"], body=data.get("body") or {})


@dataclass(slots=True)
class ActionResponse:
    """The result of one action: its body, or the errors it ended with."""

    action: str
    errors: list[Error] = field(default_factory=list)
    body: Body = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        errors = self.errors
        return {
            "action": self.action,
            "errors": list(map(Error.to_dict, errors)) if errors else [],
            "body": self.body,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActionResponse:
        return cls(
            data["action"], _errors_from(data) if data.get("errors") else [], data.get("body") or {}
        )


@dataclass(slots=True)
class JobRequest:
    """A job: one or more actions with the control and context headers."""

    control: Control = field(default_factory=dict)
    context: Context = field(default_factory=dict)
    actions: list[ActionRequest] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "context": self.context,
            "actions": [action.to_dict() for action in self.actions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobRequest:
        return cls(
            control=data.get("control") or {},
            context=data.get("context") or {},
            actions=[
                a if isinstance(a, ActionRequest) else ActionRequest.from_dict(a)
                for a in data.get("actions") or ()
            ],
        )


@dataclass(slots=True)
class JobResponse:
    """The result of a job: job-level errors, the context, and one response per action run.

    ``actions`` may be shorter than the request's list: a job stops at the first action with
    errors unless the request set ``continue_on_error``.
    """

    errors: list[Error] = field(default_factory=list)
    context: Context = field(default_factory=dict)
    actions: list[ActionResponse] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        errors = self.errors
        return {
            "errors": list(map(Error.to_dict, errors)) if errors else [],
            "context": self.context,
            "actions": list(map(ActionResponse.to_dict, self.actions)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobResponse:
        actions = data.get("actions")
        return cls(
            _errors_from(data) if data.get("errors") else [],
            data.get("context") or {},
            list(map(_action_response, actions)) if actions else [],
        )


def _action_response(data: Mapping[str, Any] | ActionResponse) -> ActionResponse:
    # ActionResponse.from_dict, inlined: one per action of every response read.
    if isinstance(data, ActionResponse):
        return data
    return ActionResponse(
        data["action"], _errors_from(data) if data.get("errors") else [], data.get("body") or {}
    )
