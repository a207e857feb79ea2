"""PySOA's ``pysoa.common.types``."""

from __future__ import annotations

from typing import Any

from servicewire.types import (
    ActionRequest,
    ActionResponse,
    Body,
    Context,
    Control,
    JobRequest,
    JobResponse,
)

__all__ = [
    "ActionRequest",
    "ActionResponse",
    "Body",
    "Context",
    "Control",
    "JobRequest",
    "JobResponse",
    "UnicodeKeysDict",
]


class UnicodeKeysDict(dict[str, Any]):
    """A dict whose keys are made text (``str(key)``) as they are set, as PySOA's was.

    PySOA needed it on Python 2; servicewire's types are plain dicts, so only code that
    builds one itself uses it.
    """

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(str(key), value)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return super().setdefault(str(key), default)
