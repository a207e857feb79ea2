"""Client middleware: wrappers around sending requests and receiving responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pydantic import BaseModel

    from servicewire.types import JobRequest, JobResponse

__all__ = ["ClientMiddleware", "GetResponse", "SendRequest"]

SendRequest = Callable[[int, dict[str, Any], "JobRequest", "int | float | None"], None]
"""``(request_id, meta, job_request, message_expiry_in_seconds) -> None``"""
GetResponse = Callable[["int | float | None"], "tuple[int | None, JobResponse | None]"]
"""``(receive_timeout_in_seconds) -> (request_id, job_response)``"""


class ClientMiddleware:
    """Base class of client middleware; override :meth:`request`, :meth:`response` or both.

    Each method receives the next callable down the stack and returns a callable with the same
    signature. Every job passes once through ``request`` when sent and once through
    ``response`` when its reply is received, whatever call style sent it; the first
    configured middleware is outermost.

    The same middleware serve the asyncio client, as plain (not async) wrappers that must not
    block: there, the whole ``request`` stack runs before the send to the transport is
    awaited, with what the innermost wrapper passes on, so send errors do not pass through it;
    the ``response`` stack runs in the task that reads the service's replies, once per reply
    or receive error, with ``timeout`` ``None`` (see ``docs/client-guide.md``).
    """

    settings_schema: ClassVar[type[BaseModel] | None] = None

    def __init__(self, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__} takes no settings, got {sorted(kwargs)}")

    def request(self, send_request: SendRequest) -> SendRequest:
        """Wrap sending a job (default: no wrapping)."""
        return send_request

    def response(self, get_response: GetResponse) -> GetResponse:
        """Wrap receiving a job response (default: no wrapping)."""
        return get_response
