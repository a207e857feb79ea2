"""Conformity's fields about other fields and about Python objects: ``Nullable``,
``Polymorph``, ``Any``/``All``, ``ObjectInstance``, ``ClassConfigurationSchema``, ..."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any as AnyType

from pydantic_core import CoreSchema
from pydantic_core import core_schema as cs

from servicewire.compat.conformity.error import ERROR_CODE_UNKNOWN
from servicewire.compat.conformity.fields.base import Base, check, fail
from servicewire.compat.conformity.fields.basic import UnicodeString
from servicewire.compat.conformity.fields.structures import Dictionary, SchemalessDictionary
from servicewire.settings import import_path

__all__ = [
    "All",
    "Any",
    "BooleanValidator",
    "ClassConfigurationSchema",
    "Deprecated",
    "Null",
    "Nullable",
    "ObjectInstance",
    "Polymorph",
    "TypeReference",
]


class Nullable(Base):
    """``None``, or a value valid for ``field``."""

    def __init__(self, field: Base) -> None:
        self.field = field
        self.description = field.description

    def core_schema(self) -> CoreSchema:
        return cs.nullable_schema(self.field.pydantic_schema())

    def __repr__(self) -> str:
        return f"Nullable({self.field!r})"


class Null(Base):
    """``None`` alone."""

    def __init__(self, description: str | None = None) -> None:
        self.description = description

    def core_schema(self) -> CoreSchema:
        return cs.none_schema()

    def __repr__(self) -> str:
        return "Null()"


class Deprecated(Base):
    """``field``, documented as deprecated (``message``)."""

    def __init__(self, field: Base, message: str = "This field has been deprecated") -> None:
        self.field = field
        self.message = message
        self.description = f"{message}. {field.description or ''}".strip()

    def core_schema(self) -> CoreSchema:
        return self.field.core_schema()


def _switch_value(value: AnyType, path: list[str]) -> AnyType:
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


class Polymorph(Base):
    """A value valid for one of the fields of ``contents_map``: the one named by the value's
    ``switch_field`` (a key, or a dotted path of keys), else the ``"__default__"`` one, else
    an ``UNKNOWN`` error.

    The branch taken is part of the path of its errors (``kind_a.field``), which pydantic's
    tagged unions add.
    """

    def __init__(
        self,
        switch_field: str,
        contents_map: Mapping[AnyType, Base],
        description: str | None = None,
    ) -> None:
        self.switch_field = switch_field
        self.contents_map = dict(contents_map)
        self.description = description

    def core_schema(self) -> CoreSchema:
        path = self.switch_field.split(".")
        branches = self.contents_map

        def branch(value: AnyType) -> AnyType:
            switch = _switch_value(value, path)
            try:
                if switch in branches:
                    return switch
            except TypeError:  # an unhashable switch value
                pass
            return "__default__" if "__default__" in branches else None

        return cs.tagged_union_schema(
            {key: field.pydantic_schema() for key, field in branches.items()},
            discriminator=branch,
            custom_error_type="polymorph_switch",
            custom_error_message=f"Invalid switch value in {self.switch_field!r}",
            custom_error_context={"error_code": ERROR_CODE_UNKNOWN},
        )

    def __repr__(self) -> str:
        return f"Polymorph({self.switch_field!r}, {self.contents_map!r})"


class Any(Base):
    """A value valid for at least one of ``options`` (Conformity's ``Any``; for any value at
    all, see ``Anything``)."""

    def __init__(self, *options: Base, description: str | None = None) -> None:
        if not options:
            raise ValueError("Any needs at least one field")
        self.options = options
        self.description = description

    def core_schema(self) -> CoreSchema:
        return cs.union_schema(
            [option.pydantic_schema() for option in self.options],
            mode="left_to_right",
            custom_error_type="any_of",
            custom_error_message="Value does not match any of the allowed fields",
        )

    def __repr__(self) -> str:
        return f"Any({', '.join(repr(option) for option in self.options)})"


class All(Base):
    """A value valid for every one of ``requirements``."""

    def __init__(self, *requirements: Base, description: str | None = None) -> None:
        if not requirements:
            raise ValueError("All needs at least one field")
        self.requirements = requirements
        self.description = description

    def core_schema(self) -> CoreSchema:
        schemas: list[CoreSchema] = [
            requirement.pydantic_schema() for requirement in self.requirements
        ]
        # Strict validation returns the value it was given, so each requirement sees it.
        return cs.chain_schema(schemas) if len(schemas) > 1 else schemas[0]


class BooleanValidator(Base):
    """A value for which ``validator(value)`` is true; else ``error`` (the message)."""

    def __init__(
        self,
        validator: Callable[[AnyType], bool],
        validator_description: str,
        error: str,
        description: str | None = None,
    ) -> None:
        self.validator = validator
        self.validator_description = validator_description
        self.error = error
        self.description = description

    def core_schema(self) -> CoreSchema:
        def test(value: AnyType) -> str | None:
            try:
                return None if self.validator(value) else self.error
            except Exception as problem:
                return f"Validator encountered an error (invalid type?): {problem!r}"

        return check(cs.any_schema(), test)


class ObjectInstance(Base):
    """An instance of ``valid_type`` (a class or a tuple of classes)."""

    def __init__(self, valid_type: type | tuple[type, ...], description: str | None = None):
        self.valid_type = valid_type
        self.description = description

    def core_schema(self) -> CoreSchema:
        name = getattr(self.valid_type, "__name__", repr(self.valid_type))
        return check(
            cs.any_schema(),
            lambda value: (
                None if isinstance(value, self.valid_type) else f"Not an instance of {name}"
            ),
        )


class TypeReference(Base):
    """A class (a ``type``), a subclass of ``base_classes`` when given."""

    def __init__(
        self, base_classes: type | tuple[type, ...] | None = None, description: str | None = None
    ) -> None:
        self.base_classes = base_classes
        self.description = description

    def core_schema(self) -> CoreSchema:
        return check(cs.any_schema(), lambda value: _class_problem(value, self.base_classes))


def _class_problem(value: AnyType, base: type | tuple[type, ...] | None) -> str | None:
    if not isinstance(value, type):
        return "Not a type"
    if base is not None and not issubclass(value, base):
        return (
            f"Type {value.__module__}.{value.__qualname__} is not one of or a subclass of {base!r}"
        )
    return None


class ClassConfigurationSchema(Base):
    """``{"path": "module:Class", "kwargs": {...}}``: a class to import, a subclass of
    ``base_class`` when given, and its keyword arguments; ``path`` may be left out when
    ``default_path`` is given. (Conformity also added the imported class to the dict as
    ``object``; validation here leaves the value as it is.)"""

    def __init__(
        self,
        base_class: type | None = None,
        default_path: str | None = None,
        description: str | None = None,
        eager_default_validation: bool = True,
        add_class_object_to_dict: bool = True,
    ) -> None:
        self.base_class = base_class
        self.default_path = default_path
        self.description = description
        self.eager_default_validation = eager_default_validation
        self.add_class_object_to_dict = add_class_object_to_dict

    def core_schema(self) -> CoreSchema:
        shape = Dictionary(
            {"path": UnicodeString(), "kwargs": SchemalessDictionary(key_type=UnicodeString())},
            optional_keys=("kwargs", "path") if self.default_path else ("kwargs",),
            allow_extra_keys=True,
        )

        def importable(value: dict[str, AnyType]) -> dict[str, AnyType]:
            path = str(value.get("path", self.default_path))
            try:
                target = import_path(path)
            except ImportError as problem:
                fail(str(problem), pointer="path")
            problem_text = _class_problem(target, self.base_class)
            if problem_text:
                fail(problem_text, pointer="path")
            return value

        return cs.no_info_after_validator_function(importable, shape.pydantic_schema())
