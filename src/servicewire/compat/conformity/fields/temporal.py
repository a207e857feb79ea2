"""Conformity's dates, times and durations: instances of ``datetime``'s classes."""

from __future__ import annotations

import datetime

from pydantic_core import CoreSchema
from pydantic_core import core_schema as cs

from servicewire.compat.conformity.fields.base import Bounded, check

__all__ = ["Date", "DateTime", "TZInfo", "Time", "TimeDelta"]


class DateTime(Bounded):
    """A ``datetime.datetime``, optionally bounded by ``gt``, ``gte``, ``lt``, ``lte``."""

    def core_schema(self) -> CoreSchema:
        return cs.datetime_schema(strict=True, **self.bounds())


class Date(Bounded):
    """A ``datetime.date`` (not a ``datetime``), optionally bounded."""

    def core_schema(self) -> CoreSchema:
        return cs.date_schema(strict=True, **self.bounds())


class Time(Bounded):
    """A ``datetime.time``, optionally bounded."""

    def core_schema(self) -> CoreSchema:
        return cs.time_schema(strict=True, **self.bounds())


class TimeDelta(Bounded):
    """A ``datetime.timedelta``, optionally bounded."""

    def core_schema(self) -> CoreSchema:
        return cs.timedelta_schema(strict=True, **self.bounds())


class TZInfo(Bounded):
    """A ``datetime.tzinfo``."""

    def core_schema(self) -> CoreSchema:
        return check(
            cs.any_schema(),
            lambda value: (
                None if isinstance(value, datetime.tzinfo) else "Not a datetime.tzinfo instance"
            ),
        )
