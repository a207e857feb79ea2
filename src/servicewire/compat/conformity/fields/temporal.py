"""Conformity's dates, times and durations: instances of ``datetime``'s classes."""

from __future__ import annotations

import datetime
from typing import Any

from pydantic_core import CoreSchema
from pydantic_core import core_schema as cs

from servicewire.compat.conformity.fields.base import Base, check

__all__ = ["Date", "DateTime", "TZInfo", "Time", "TimeDelta"]


class _Temporal(Base):
    def __init__(
        self,
        gt: Any = None,
        gte: Any = None,
        lt: Any = None,
        lte: Any = None,
        description: str | None = None,
    ) -> None:
        self.gt, self.gte, self.lt, self.lte = gt, gte, lt, lte
        self.description = description

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class DateTime(_Temporal):
    """A ``datetime.datetime``, optionally bounded by ``gt``, ``gte``, ``lt``, ``lte``."""

    def core_schema(self) -> CoreSchema:
        return cs.datetime_schema(strict=True, gt=self.gt, ge=self.gte, lt=self.lt, le=self.lte)


class Date(_Temporal):
    """A ``datetime.date`` (not a ``datetime``), optionally bounded."""

    def core_schema(self) -> CoreSchema:
        return cs.date_schema(strict=True, gt=self.gt, ge=self.gte, lt=self.lt, le=self.lte)


class Time(_Temporal):
    """A ``datetime.time``, optionally bounded."""

    def core_schema(self) -> CoreSchema:
        return cs.time_schema(strict=True, gt=self.gt, ge=self.gte, lt=self.lt, le=self.lte)


class TimeDelta(_Temporal):
    """A ``datetime.timedelta``, optionally bounded."""

    def core_schema(self) -> CoreSchema:
        return cs.timedelta_schema(strict=True, gt=self.gt, ge=self.gte, lt=self.lt, le=self.lte)


class TZInfo(_Temporal):
    """A ``datetime.tzinfo``."""

    def core_schema(self) -> CoreSchema:
        return check(
            cs.any_schema(),
            lambda value: (
                None if isinstance(value, datetime.tzinfo) else "Not a datetime.tzinfo instance"
            ),
        )
