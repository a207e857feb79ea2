"""Locating the value that made serialization fail (only ever run on the failure path)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def find_unserializable(value: Any, is_serializable: Callable[[Any], bool]) -> str | None:
    """Return the dotted path of the first leaf for which ``is_serializable`` is false."""

    def walk(item: Any, path: str) -> str | None:
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str | int | float | bool | bytes) and key is not None:
                    return f"{path}.{key!r}" if path else repr(key)
                name = key if isinstance(key, str) else repr(key)
                found = walk(child, f"{path}.{name}" if path else name)
                if found is not None:
                    return found
            return None
        if isinstance(item, list | tuple):
            for index, child in enumerate(item):
                found = walk(child, f"{path}.{index}" if path else str(index))
                if found is not None:
                    return found
            return None
        return None if is_serializable(item) else (path or "<root>")

    return walk(value, "")
