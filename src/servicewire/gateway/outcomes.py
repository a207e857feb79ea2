"""What an HTTP caller gets back for a job's response, and the gateway's own errors.

Pure functions from servicewire's types to a status code and a JSON-ready body, so that the
mapping is tested without a server. A body of errors is always ``{"errors": [...]}`` with
the wire form of each error, less its ``traceback`` and ``variables``: those describe the
service's insides, which are no business of a caller outside.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from servicewire.types import Error, JobResponse

__all__ = [
    "ERROR_CODE_REQUEST_TOO_LARGE",
    "ERROR_CODE_TIMEOUT",
    "ERROR_CODE_UNAVAILABLE",
    "action_outcome",
    "error_body",
    "job_outcome",
    "public_error",
    "status_of",
]

ERROR_CODE_REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
"""The request body is larger than the gateway's ``max_body_bytes`` (413)."""
ERROR_CODE_TIMEOUT = "TIMEOUT"
"""The service did not answer within the gateway's timeout (504)."""
ERROR_CODE_UNAVAILABLE = "UNAVAILABLE"
"""The request could not be delivered to the service (502)."""

_HIDDEN_FIELDS = ("traceback", "variables")


def error_body(
    code: str, message: str, field: str | None = None, is_caller_error: bool = True
) -> dict[str, Any]:
    """The body of one error of the gateway's own (bad JSON, unknown action, ...)."""
    error = Error(code, message, field=field, is_caller_error=is_caller_error)
    return {"errors": [public_error(error)]}


def public_error(error: Error) -> dict[str, Any]:
    """The wire form of ``error`` without what only the service should see."""
    wire = error.to_dict()
    for hidden in _HIDDEN_FIELDS:
        del wire[hidden]
    return wire


def status_of(errors: Iterable[Error]) -> int:
    """200 without errors; 400 when the caller is to blame for every one; else 500."""
    caller_errors = [error.is_caller_error for error in errors]
    if not caller_errors:
        return 200
    return 400 if all(caller_errors) else 500


def action_outcome(job: JobResponse) -> tuple[int, Any]:
    """``POST /{service}/{action}``: the action's body (200), or its errors (or the job's)."""
    errors = list(job.errors) or [error for action in job.actions for error in action.errors]
    if errors:
        return status_of(errors), {"errors": [public_error(error) for error in errors]}
    return 200, job.actions[0].body


def job_outcome(job: JobResponse) -> tuple[int, Any]:
    """``POST /{service}``: the whole job response; the status as for every error in it."""
    errors = [*job.errors, *(error for action in job.actions for error in action.errors)]
    return status_of(errors), {
        "errors": [public_error(error) for error in job.errors],
        "context": job.context,
        "actions": [
            {
                "action": action.action,
                "body": action.body,
                "errors": [public_error(error) for error in action.errors],
            }
            for action in job.actions
        ],
    }
