"""Where a message enters the server: one step turns what a transport delivered into a
:class:`ReceivedRequest`, and everything after it reads that object.

The step decides, once, everything the server needs to know about the request before it
runs it: the typed job (or why it cannot run), whether the caller waits for a reply, which
PySOA protocol level the caller speaks (``meta["client_version"]``) and the correlation id
of its log lines. It does no I/O and never raises: any input gives a request object.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple, cast

from servicewire.errors import ERROR_CODE_INVALID
from servicewire.server.validation import parse_job_request, well_formed_job
from servicewire.types import Error, JobRequest

__all__ = ["OLDEST_CLIENT_VERSION", "ReceivedRequest", "parse_request", "read_client_version"]

OLDEST_CLIENT_VERSION = (0, 40, 0)
"""The protocol level assumed of a caller whose meta names none (PySOA's rule)."""


class ReceivedRequest(NamedTuple):
    """One request as the server understood it on arrival (immutable; a named tuple, the
    cheapest immutable object to build once per request).

    ``meta`` and ``body`` are what the transport delivered (``meta`` goes back to it with the
    response, verbatim; ``body`` is the job as received, for the request log and the
    ``job_received`` event). ``job`` is the validated job, or ``None`` when the request
    cannot run: ``errors`` then say why (the job's validation errors, or one error naming
    the malformed ``meta`` field, see :attr:`bad_meta`), and they are the response.
    """

    request_id: int
    meta: dict[str, Any]
    body: Any
    job: JobRequest | None
    errors: list[Error]
    expects_reply: bool
    """False when the caller asked for no response (``control.suppress_response``)."""
    client_version: tuple[int, ...]
    """The caller's PySOA protocol level (:data:`OLDEST_CLIENT_VERSION` when not given)."""
    correlation_id: str | None
    bad_meta: str | None = None
    """What is wrong with ``meta``, when it is malformed (the request is then rejected)."""


# ReceivedRequest(...) without the Python-level __new__ of a named tuple.
_received = cast(
    "Callable[[tuple[Any, ...]], ReceivedRequest]", partial(tuple.__new__, ReceivedRequest)
)


def parse_request(request_id: int, meta: dict[str, Any], body: Any) -> ReceivedRequest:
    """The :class:`ReceivedRequest` of a delivered message (never raises)."""
    version = meta.get("client_version")
    if (
        type(version) is list
        and len(version) == 3
        and type(version[0]) is int
        and type(version[1]) is int
        and type(version[2]) is int
    ):
        # What every PySOA and servicewire client sends: a plain version, a plain envelope.
        job = well_formed_job(body)
        if job is not None:
            return _received(
                (
                    request_id,
                    meta,
                    body,
                    job,
                    [],
                    not job.control.get("suppress_response"),
                    tuple(version),
                    job.context["correlation_id"],
                    None,
                )
            )
    control = body.get("control") if isinstance(body, dict) else None
    expects_reply = not (isinstance(control, dict) and control.get("suppress_response"))
    client_version, problem = read_client_version(meta)
    if problem is not None:
        error = Error(
            code=ERROR_CODE_INVALID,
            message=f"Bad request message: {problem}",
            field="meta.client_version",
            is_caller_error=False,
        )
        return ReceivedRequest(
            request_id,
            meta,
            body,
            None,
            [error],
            expects_reply,
            OLDEST_CLIENT_VERSION,
            _correlation_id(body),
            problem,
        )
    parsed = parse_job_request(body)
    if isinstance(parsed, JobRequest):
        correlation_id: str | None = parsed.context["correlation_id"]
        return ReceivedRequest(
            request_id, meta, body, parsed, [], expects_reply, client_version, correlation_id
        )
    return ReceivedRequest(
        request_id,
        meta,
        body,
        None,
        parsed,
        expects_reply,
        client_version,
        _correlation_id(body),
    )


def read_client_version(meta: dict[str, Any]) -> tuple[tuple[int, ...], str | None]:
    """The caller's protocol level, and what is wrong with it if it is malformed."""
    version = meta.get("client_version")
    if version is None:
        return OLDEST_CLIENT_VERSION, None
    if type(version) is list and len(version) == 3:
        # The common case (every PySOA and servicewire client), without a generator.
        major, minor, patch = version
        if type(major) is int and type(minor) is int and type(patch) is int:
            return (major, minor, patch), None
    if isinstance(version, list | tuple) and version:
        parts = tuple(version)
        if all(type(part) is int for part in parts):
            return parts, None
    shown = repr(version)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return OLDEST_CLIENT_VERSION, f"client_version must be a list of integers, not {shown}"


def _correlation_id(body: Any) -> str | None:
    context = body.get("context") if isinstance(body, dict) else None
    correlation_id = context.get("correlation_id") if isinstance(context, dict) else None
    return correlation_id if isinstance(correlation_id, str) else None
