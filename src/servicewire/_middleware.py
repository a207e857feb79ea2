"""Chaining middleware around a base callable (shared by clients and servers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def make_middleware_stack(middleware: Sequence[Callable[[T], T]], base: T) -> T:
    """Chain ``middleware`` around ``base``: the first item is outermost.

    Each item receives the callable below it and returns the callable that wraps it.
    """
    for wrap in reversed(middleware):
        base = wrap(base)
    return base
