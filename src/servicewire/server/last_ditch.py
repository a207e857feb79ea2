"""The last-ditch responses of a server: what it answers when an action or a job fails in a
way nobody handled, logged."""

from __future__ import annotations

import logging
import traceback
from typing import Any, TypeVar

from servicewire.errors import ERROR_CODE_JOB_TIMEOUT, ERROR_CODE_SERVER_ERROR
from servicewire.types import ActionResponse, Error, JobResponse

__all__ = ["job_timeout_response", "known_failure_response", "unhandled_exception_response"]

_Response = TypeVar("_Response", ActionResponse, JobResponse)


def unhandled_exception_response(
    logger: logging.Logger,
    exception: Exception,
    response_type: type[_Response],
    variables: dict[str, Any] | None = None,
    **kwargs: Any,
) -> _Response:
    """``SERVER_ERROR`` with the traceback (call it while handling ``exception``), logged
    with the traceback on ``logger``."""
    try:
        message = f"Internal server error: {exception}"
    except Exception:
        message = f"Internal server error: {type(exception).__name__} (unprintable)"
    logger.exception("Unhandled exception: %s", message)
    formatted_variables = None
    if variables is not None:
        try:
            formatted_variables = {key: repr(value) for key, value in variables.items()}
        except Exception:
            formatted_variables = {"error": "variables could not be formatted"}
    error = Error(
        code=ERROR_CODE_SERVER_ERROR,
        message=message,
        traceback=traceback.format_exc(),
        variables=formatted_variables,
        is_caller_error=False,
    )
    return response_type(errors=[error], **kwargs)


def known_failure_response(
    logger: logging.Logger,
    code: str,
    message: str,
    request_for_logging: Any,
    response_for_logging: Any,
    extra: dict[str, Any] | None = None,
) -> JobResponse:
    """A job error with ``code``, logged with the (censored) request and response."""
    data: dict[str, Any] = {"request": request_for_logging, "response": response_for_logging}
    if extra:
        data.update(extra)
    logger.error("%s: %s", message, data)
    return JobResponse(errors=[Error(code=code, message=message, is_caller_error=False)])


def job_timeout_response(message: str) -> JobResponse:
    """The ``JOB_TIMEOUT`` job error of a job that ran too long."""
    return JobResponse(errors=[Error(code=ERROR_CODE_JOB_TIMEOUT, message=message)])
