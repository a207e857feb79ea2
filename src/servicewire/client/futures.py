"""Futures returned by the ``call_*_future`` methods."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

from servicewire.errors import MessageReceiveTimeout

__all__ = ["FutureResponse"]

T = TypeVar("T")


class FutureResponse(Generic[T]):
    """A response that will be available later.

    The request was sent when the future was made. :meth:`result` blocks for the response
    and returns it, or raises what the call raises (``CallActionError``, transport errors…).
    A ``MessageReceiveTimeout`` is not remembered: you may call :meth:`result` again. Any
    other outcome is remembered and returned (or raised) again on later calls.
    """

    __slots__ = ("__weakref__", "_error", "_get_response", "_has_result", "_result", "_traceback")

    def __init__(self, get_response: Callable[[float | None], T]) -> None:
        self._get_response = get_response
        self._has_result = False
        self._result: T | None = None
        self._error: BaseException | None = None
        self._traceback: TracebackType | None = None

    def result(self, timeout: float | None = None) -> T:
        """Wait for the response (at most ``timeout`` seconds, if given) and return it."""
        if self._error is not None:
            # Raised again with the traceback of its first raise, so that each raise shows
            # where the call failed and not every earlier call to result() as well.
            raise self._error.with_traceback(self._traceback)
        if self._has_result:
            return self._result  # type: ignore[return-value]
        try:
            result = self._get_response(timeout)
        except MessageReceiveTimeout:
            raise
        except Exception as error:
            self._error, self._traceback = error, error.__traceback__
            raise
        self._result, self._has_result = result, True
        return result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait for the outcome and return the exception it raised, or ``None``.

        A ``MessageReceiveTimeout`` while waiting is raised, not returned.
        """
        if not self.done():
            try:
                self.result(timeout)
            except MessageReceiveTimeout:
                raise
            except Exception as error:
                return error
        return self._error

    def done(self) -> bool:
        """Whether the outcome has been obtained (by :meth:`result` or :meth:`exception`)."""
        return self._has_result or self._error is not None

    def running(self) -> bool:
        """The opposite of :meth:`done`."""
        return not self.done()
