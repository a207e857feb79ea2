"""Conformity's coordinates."""

from __future__ import annotations

from typing import Any

from servicewire.compat.conformity.fields.basic import Float

__all__ = ["Latitude", "Longitude"]


class _Degrees(Float):
    """A number of degrees within ``-limit`` and ``limit`` (narrowed by the bounds given)."""

    limit = 0

    def __init__(
        self,
        gt: Any = None,
        gte: Any = None,
        lt: Any = None,
        lte: Any = None,
        description: str | None = None,
    ) -> None:
        lowest = -self.limit if gte is None else gte
        highest = self.limit if lte is None else lte
        super().__init__(gt, lowest, lt, highest, description)


class Latitude(_Degrees):
    """A latitude in degrees: a number from -90 to 90."""

    limit = 90


class Longitude(_Degrees):
    """A longitude in degrees: a number from -180 to 180."""

    limit = 180
