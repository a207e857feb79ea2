"""Conformity's coordinates."""

from __future__ import annotations

from typing import Any

from servicewire.compat.conformity.fields.basic import Float

__all__ = ["Latitude", "Longitude"]


class Latitude(Float):
    """A latitude in degrees: a number from -90 to 90 (narrowed by the bounds given)."""

    def __init__(
        self,
        gt: Any = None,
        gte: Any = None,
        lt: Any = None,
        lte: Any = None,
        description: str | None = None,
    ) -> None:
        super().__init__(
            gt, -90 if gte is None else gte, lt, 90 if lte is None else lte, description
        )


class Longitude(Float):
    """A longitude in degrees: a number from -180 to 180 (narrowed by the bounds given)."""

    def __init__(
        self,
        gt: Any = None,
        gte: Any = None,
        lt: Any = None,
        lte: Any = None,
        description: str | None = None,
    ) -> None:
        super().__init__(
            gt, -180 if gte is None else gte, lt, 180 if lte is None else lte, description
        )
