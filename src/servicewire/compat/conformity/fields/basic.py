"""Conformity's scalar fields: booleans, numbers, strings, constants, anything."""

from __future__ import annotations

import decimal
from collections.abc import Hashable as HashableValue
from typing import Any

from pydantic_core import CoreSchema
from pydantic_core import core_schema as cs

from servicewire.compat.conformity.error import ERROR_CODE_UNKNOWN
from servicewire.compat.conformity.fields.base import Base, Bounded, check, fail

__all__ = [
    "Anything",
    "Boolean",
    "ByteString",
    "Constant",
    "Decimal",
    "Float",
    "Hashable",
    "Integer",
    "UnicodeDecimal",
    "UnicodeString",
]


class Anything(Base):
    """Any value at all."""

    def __init__(self, description: str | None = None) -> None:
        self.description = description

    def core_schema(self) -> CoreSchema:
        return cs.any_schema()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Hashable(Anything):
    """Any hashable value."""

    def core_schema(self) -> CoreSchema:
        return check(
            cs.any_schema(),
            lambda value: None if isinstance(value, HashableValue) else "Value is not hashable",
        )


class Boolean(Base):
    """``True`` or ``False`` (not ``0`` or ``1``)."""

    def __init__(self, description: str | None = None) -> None:
        self.description = description

    def core_schema(self) -> CoreSchema:
        return cs.bool_schema(strict=True)

    def __repr__(self) -> str:
        return "Boolean()"


class Integer(Bounded):
    """An ``int`` (not a ``bool``), optionally bounded by ``gt``, ``gte``, ``lt``, ``lte``."""

    def core_schema(self) -> CoreSchema:
        return cs.int_schema(strict=True, **self.bounds())


class Float(Integer):
    """A ``float`` or an ``int`` (not a ``bool``), optionally bounded."""

    def core_schema(self) -> CoreSchema:
        return cs.float_schema(strict=True, **self.bounds())


class Decimal(Integer):
    """A ``decimal.Decimal``, optionally bounded."""

    def core_schema(self) -> CoreSchema:
        return cs.decimal_schema(strict=True, **self.bounds())


class UnicodeString(Base):
    """A ``str`` of ``min_length`` to ``max_length`` characters; with ``allow_blank=False``,
    not empty or only white space."""

    def __init__(
        self,
        min_length: int | None = None,
        max_length: int | None = None,
        description: str | None = None,
        allow_blank: bool = True,
    ) -> None:
        if min_length is not None and max_length is not None and min_length > max_length:
            raise ValueError("min_length cannot be greater than max_length")
        self.min_length, self.max_length = min_length, max_length
        self.description = description
        self.allow_blank = allow_blank

    def _text_schema(self) -> CoreSchema:
        return cs.str_schema(strict=True, min_length=self.min_length, max_length=self.max_length)

    def core_schema(self) -> CoreSchema:
        schema = self._text_schema()
        if self.allow_blank:
            return schema
        return check(schema, lambda value: None if value.strip() else "String cannot be blank")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(min_length={self.min_length!r}, "
            f"max_length={self.max_length!r}, allow_blank={self.allow_blank!r})"
        )


class ByteString(UnicodeString):
    """A ``bytes`` value, with the same options as :class:`UnicodeString`."""

    def _text_schema(self) -> CoreSchema:
        return cs.bytes_schema(strict=True, min_length=self.min_length, max_length=self.max_length)


def _decimal_text_problem(value: str) -> str | None:
    try:
        decimal.Decimal(value)
    except decimal.InvalidOperation:
        return "Invalid decimal value (parse error)"
    return None


class UnicodeDecimal(Base):
    """A ``str`` that parses as a decimal number (``"12.50"``)."""

    def __init__(self, description: str | None = None) -> None:
        self.description = description

    def core_schema(self) -> CoreSchema:
        return check(cs.str_schema(strict=True), _decimal_text_problem)

    def __repr__(self) -> str:
        return "UnicodeDecimal()"


class Constant(Base):
    """One of the given values; anything else is an ``UNKNOWN`` error, as in Conformity."""

    def __init__(self, *values: Any, description: str | None = None) -> None:
        if not values:
            raise ValueError("Constant needs at least one value")
        self.values = values
        self.description = description

    def core_schema(self) -> CoreSchema:
        values = self.values

        def one_of_the_values(value: Any) -> Any:
            # ``True == 1``: compare the types too, so a bool is not taken for an int.
            if not any(type(value) is type(v) and value == v for v in values):
                if len(values) == 1:
                    fail(f"Value is not {values[0]!r}", ERROR_CODE_UNKNOWN)
                fail(
                    "Value is not one of: " + ", ".join(repr(v) for v in values),
                    ERROR_CODE_UNKNOWN,
                )
            return value

        return cs.no_info_after_validator_function(
            one_of_the_values,
            cs.any_schema(metadata={"pydantic_js_functions": [_constant_json(values)]}),
        )

    def __repr__(self) -> str:
        return f"Constant({', '.join(repr(v) for v in self.values)})"


def _constant_json(values: tuple[Any, ...]) -> Any:
    def json_schema(core: CoreSchema, handler: Any) -> dict[str, Any]:
        return handler(cs.literal_schema(list(values)))  # type: ignore[no-any-return]

    return json_schema
