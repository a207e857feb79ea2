"""Lazy activation: actions named by import path, imported on their first call.

A value of ``action_class_map`` may be a ``"module:Class"`` string instead of the class: the
module is imported the first time the action is called (or described by ``introspect``), so
that a service with many heavy actions starts fast and loads only what it is asked for.
Concurrent first calls import it once. An import that fails answers the call with the action
error ``SERVER_ERROR`` naming the path (and the next call tries again); the server serves on.
"""

from __future__ import annotations

import logging
import threading
import traceback

from servicewire.errors import ERROR_CODE_SERVER_ERROR, ActionError, ImproperlyConfigured
from servicewire.server.action import ActionType
from servicewire.settings import import_path
from servicewire.types import Error

__all__ = ["LazyAction"]

logger = logging.getLogger("servicewire.server.activation")


class LazyAction:
    """The action ``name``, to be imported from ``path`` when first needed."""

    __slots__ = ("_lock", "_resolved", "name", "path")

    def __init__(self, name: str, path: str) -> None:
        module, _, attribute = path.partition(":")
        if not module or not attribute:
            raise ImproperlyConfigured(
                f'Action "{name}" is given as {path!r}: an import path must read "module:Class"'
            )
        self.name = name
        self.path = path
        self._lock = threading.Lock()
        self._resolved: ActionType | None = None

    @property
    def activated(self) -> bool:
        return self._resolved is not None

    def resolve(self) -> ActionType:
        """The action class, imported on the first call (once, whatever the threads).

        Raises ``ActionError`` (``SERVER_ERROR``) if it cannot be imported.
        """
        resolved = self._resolved
        if resolved is not None:
            return resolved
        with self._lock:
            if self._resolved is None:
                self._resolved = self._import()
            return self._resolved

    def _import(self) -> ActionType:
        try:
            target = import_path(self.path)
        except Exception as error:
            logger.exception('Could not load action "%s" from %s', self.name, self.path)
            raise self._failure(
                f"{type(error).__name__}: {error}", traceback.format_exc()
            ) from error
        if not callable(target):
            raise self._failure(f"it is a {type(target).__name__}, not an action class", None)
        logger.info('Activated action "%s" from %s', self.name, self.path)
        return target  # type: ignore[no-any-return]

    def _failure(self, problem: str, formatted_traceback: str | None) -> ActionError:
        error = Error(
            code=ERROR_CODE_SERVER_ERROR,
            message=f'Action "{self.name}" could not be loaded from "{self.path}": {problem}',
            traceback=formatted_traceback,
            is_caller_error=False,
        )
        return ActionError([error], set_is_caller_error_to=None)

    def __repr__(self) -> str:
        state = "activated" if self.activated else "not activated"
        return f"LazyAction({self.name!r}, {self.path!r}, {state})"
