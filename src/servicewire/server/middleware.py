"""Server middleware: wrappers around each job and each action."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pydantic import BaseModel

    from servicewire.server.request import EnrichedActionRequest, EnrichedJobRequest
    from servicewire.types import ActionResponse, JobResponse

__all__ = ["ServerMiddleware"]

ProcessJob = Callable[["EnrichedJobRequest"], "JobResponse"]
ProcessAction = Callable[["EnrichedActionRequest"], "ActionResponse"]


class ServerMiddleware:
    """Base class of server middleware; override :meth:`job`, :meth:`action` or both.

    Each method receives the next callable down the stack and returns a callable with the
    same signature that calls it (or not). The server builds the stacks once, at start-up,
    with the first configured middleware outermost. Configure middleware as
    ``{"path": "module:Class", "kwargs": {...}}``; a subclass may declare ``settings_schema``
    (a pydantic model) to have its kwargs validated with the settings.
    """

    settings_schema: ClassVar[type[BaseModel] | None] = None

    def __init__(self, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__} takes no settings, got {sorted(kwargs)}")

    def job(self, process_job: ProcessJob) -> ProcessJob:
        """Wrap the processing of a whole job (default: no wrapping)."""
        return process_job

    def action(self, process_action: ProcessAction) -> ProcessAction:
        """Wrap the processing of each action (default: no wrapping)."""
        return process_action
