"""What every field shares: its pydantic core schema, ``errors``, ``introspect``.

A field is a pydantic type: it implements ``__get_pydantic_core_schema__``, so anything that
takes a pydantic type (an action's ``request_schema``, a ``TypeAdapter``, a model's field
annotation) takes a field. Checks pydantic has no schema for run as validator functions that
raise ``PydanticCustomError`` with the wire code (``error_code``) and, for an error about a
part of the value, the path to it (``error_field``) in the error's context; servicewire's
validation reads both when it turns problems into errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError, ValidationError
from pydantic_core import core_schema as cs

from servicewire.compat.conformity.error import ERROR_CODE_INVALID, Error
from servicewire.server.validation import errors_from_validation, validator_for

__all__ = ["AdditionalValidator", "Base", "Bounded", "check", "described", "fail"]


def fail(message: str, code: str = ERROR_CODE_INVALID, pointer: str | None = None) -> Any:
    """Raise the validation error of a check pydantic has no schema for."""
    context: dict[str, Any] = {"message": message, "error_code": code}
    if pointer:
        context["error_field"] = tuple(pointer.split("."))
    raise PydanticCustomError("conformity", "{message}", context)


def check(schema: CoreSchema, test: Callable[[Any], str | None]) -> CoreSchema:
    """``schema``, then ``test(value)``: an ``INVALID`` error with the message it returns,
    if it returns one."""

    def run(value: Any) -> Any:
        message = test(value)
        if message is not None:
            fail(message)
        return value

    return cs.no_info_after_validator_function(run, schema)


def described(schema: CoreSchema, description: str | None) -> CoreSchema:
    """``schema`` with ``description`` in its JSON Schema."""
    if not description:
        return schema

    def add_description(core: CoreSchema, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        json_schema = dict(handler(core))
        json_schema["description"] = description
        return json_schema

    metadata = dict(schema.get("metadata") or {})
    metadata["pydantic_js_functions"] = [
        *metadata.get("pydantic_js_functions", ()),
        add_description,
    ]
    return {**schema, "metadata": metadata}


class AdditionalValidator(Protocol):
    """Conformity's ``AdditionalCollectionValidator``: a check of a whole valid collection."""

    def errors(self, value: Any) -> Iterable[Error]: ...


def with_additional_validator(
    schema: CoreSchema, validator: AdditionalValidator | None
) -> CoreSchema:
    """``schema``, then ``validator.errors(value)`` (run only when the rest is valid, as
    Conformity does); its first error becomes the validation error, at its pointer."""
    if validator is None:
        return schema

    def run(value: Any) -> Any:
        for error in validator.errors(value):
            fail(error.message, error.code, error.pointer)
        return value

    return cs.no_info_after_validator_function(run, schema)


class Base:
    """A Conformity field. Subclasses implement :meth:`core_schema`."""

    description: str | None = None

    def core_schema(self) -> CoreSchema:
        """The pydantic core schema that validates this field's values."""
        raise NotImplementedError(f"{type(self).__name__} does not define core_schema()")

    def pydantic_schema(self) -> CoreSchema:
        """:meth:`core_schema` with the field's ``description``."""
        return described(self.core_schema(), self.description)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return self.pydantic_schema()

    def errors(self, value: Any) -> list[Error]:
        """Each problem of ``value``; empty when it is valid."""
        try:
            validator_for(self).validate(value)
        except ValidationError as error:
            return [
                Error(message=e.message, code=e.code, pointer=e.field)
                for e in errors_from_validation(error, is_caller_error=True)
            ]
        return []

    def warnings(self, value: Any) -> list[Error]:
        """Conformity's warnings; servicewire's fields have none."""
        return []

    def introspect(self) -> dict[str, Any]:
        """The JSON Schema of this field (Conformity returned its own description format)."""
        return validator_for(self).json_schema()


class Bounded(Base):
    """A field of values bounded by ``gt``, ``gte``, ``lt`` and ``lte`` (each optional)."""

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

    def bounds(self) -> dict[str, Any]:
        """The bounds as pydantic core schemas name them."""
        return {"gt": self.gt, "ge": self.gte, "lt": self.lt, "le": self.lte}

    def __repr__(self) -> str:
        bounds = ", ".join(
            f"{name}={value!r}"
            for name, value in (
                ("gt", self.gt),
                ("gte", self.gte),
                ("lt", self.lt),
                ("lte", self.lte),
            )
            if value is not None
        )
        return f"{type(self).__name__}({bounds})"
