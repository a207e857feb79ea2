"""Calling one action from a command: JSON arguments, the call, and its outcome as an exit
status (shared by ``call``, ``introspect``, ``status`` and the completion of actions)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from servicewire.cli.client_settings import CommandClientSettings
from servicewire.cli.errors import CommandError, ExitStatus
from servicewire.errors import (
    ERROR_CODE_INVALID,
    ERROR_CODE_MISSING,
    ERROR_CODE_UNKNOWN,
    ImproperlyConfigured,
    InvalidSettings,
    MessageReceiveTimeout,
    TransportError,
)
from servicewire.types import Error, JobResponse

__all__ = [
    "call_action",
    "describe_error",
    "exit_status_of",
    "parse_json_object",
    "reaching",
    "response_errors",
]

_SCHEMA_CODES = frozenset({ERROR_CODE_INVALID, ERROR_CODE_MISSING, ERROR_CODE_UNKNOWN})


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    """``text`` parsed as a JSON object; :class:`CommandError` (malformed JSON) naming
    ``what`` (``"the body"``, ``"--context"``) and where the JSON goes wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(
            f"{what} is not valid JSON: {error}", ExitStatus.MALFORMED_JSON
        ) from None
    if not isinstance(value, dict):
        raise CommandError(
            f"{what} must be a JSON object, not {type(value).__name__}", ExitStatus.MALFORMED_JSON
        )
    return value


@contextmanager
def reaching(target: str, client_settings: CommandClientSettings) -> Iterator[None]:
    """Turn the failures of reaching ``target`` (``"service 'orders'"``) into
    :class:`CommandError` s."""
    try:
        yield
    except MessageReceiveTimeout:
        raise CommandError(
            f"{target} did not answer in time through {client_settings.origin} (is it running?)",
            ExitStatus.TIMEOUT,
        ) from None
    except ImproperlyConfigured as error:
        raise CommandError(str(error), ExitStatus.UNKNOWN_SERVICE) from None
    except InvalidSettings as error:
        raise CommandError(
            f"{client_settings.origin}: {error}", ExitStatus.INVALID_SETTINGS
        ) from None
    except (TransportError, OSError) as error:
        raise CommandError(
            f"cannot reach {target} through {client_settings.origin}: {error}",
            ExitStatus.UNREACHABLE,
        ) from None
    except Exception as error:
        # Drivers report a database or Redis server that is down with their own exceptions
        # when a transport connects (sqlalchemy's OperationalError, redis' ConnectionError).
        if not _is_connection_failure(error):
            raise
        raise CommandError(
            f"cannot reach {target} through {client_settings.origin}: {_first_line(str(error))}",
            ExitStatus.UNREACHABLE,
        ) from None


def _is_connection_failure(error: Exception) -> bool:
    module = type(error).__module__
    return module.startswith(("sqlalchemy", "redis", "psycopg"))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def call_action(
    client_settings: CommandClientSettings,
    service_name: str,
    action: str,
    body: Mapping[str, Any] | None = None,
    *,
    switches: Sequence[int] = (),
    context: Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
    timeout: float | None = None,
) -> JobResponse:
    """Call ``action`` of ``service_name``; return the whole job response, errors and all.

    Failing to reach the service raises :class:`CommandError` (see :func:`reaching`).
    """
    client = client_settings.client([service_name])
    try:
        with reaching(f"service {service_name!r}", client_settings):
            return client.call_actions(
                service_name,
                [{"action": action, "body": dict(body or {})}],
                raise_job_errors=False,
                raise_action_errors=False,
                timeout=timeout,
                switches=list(switches) or None,
                correlation_id=correlation_id,
                context=dict(context) if context else None,
            )
    finally:
        client.close()


def response_errors(response: JobResponse) -> list[tuple[str | None, Error]]:
    """The job's errors (action ``None``) and its actions' errors, in order."""
    errors: list[tuple[str | None, Error]] = [(None, error) for error in response.errors]
    for action_response in response.actions:
        errors.extend((action_response.action, error) for error in action_response.errors)
    return errors


def exit_status_of(response: JobResponse) -> ExitStatus:
    """The exit status a job response stands for: OK, unknown action, invalid request (every
    error a caller's schema error) or service errors."""
    errors = [error for _, error in response_errors(response)]
    if not errors:
        return ExitStatus.OK
    if any(error.code == ERROR_CODE_UNKNOWN and error.field == "action" for error in errors):
        return ExitStatus.UNKNOWN_SERVICE
    if all(error.code in _SCHEMA_CODES and error.is_caller_error for error in errors):
        return ExitStatus.INVALID_REQUEST
    return ExitStatus.SERVICE_ERRORS


def describe_error(service_name: str, action: str | None, error: Error) -> str:
    """One readable line: where, the code, the field at fault, the message."""
    where = f"{service_name}.{action}" if action else f"{service_name} (job)"
    field = f" at {error.field}" if error.field else ""
    return f"{where}: {error.code}{field}: {error.message}"
