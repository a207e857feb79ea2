"""Conformity's collections: dictionaries with and without a schema, lists, sets, tuples."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

from pydantic_core import CoreSchema
from pydantic_core import core_schema as cs

from servicewire.compat.conformity.fields.base import (
    AdditionalValidator,
    Base,
    with_additional_validator,
)
from servicewire.compat.conformity.fields.basic import Anything, Hashable

__all__ = ["Dictionary", "List", "SchemalessDictionary", "Sequence", "Set", "Tuple"]


class Dictionary(Base):
    """A ``dict`` with the keys of ``contents``, each valid for its field.

    Every key is required unless listed in ``optional_keys``; other keys are ``UNKNOWN``
    errors unless ``allow_extra_keys``. As in Conformity, a subclass may set ``contents``,
    ``optional_keys``, ``allow_extra_keys`` and ``description`` as class attributes.
    """

    contents: ClassVar[Mapping[str, Base] | None] = None
    optional_keys: ClassVar[Iterable[str]] = frozenset()
    allow_extra_keys: ClassVar[bool] = False

    def __init__(
        self,
        contents: Mapping[str, Base] | None = None,
        optional_keys: Iterable[str] | None = None,
        allow_extra_keys: bool | None = None,
        description: str | None = None,
        additional_validator: AdditionalValidator | None = None,
    ) -> None:
        contents = type(self).contents if contents is None else contents
        if contents is None:
            raise ValueError("Dictionary needs contents")
        if not isinstance(contents, Mapping):
            raise TypeError(f"Dictionary contents must be a dict, not {contents!r}")
        # Instance attributes shadow the class attributes of a subclass-declared schema.
        self.contents = dict(contents)  # type: ignore[misc]
        keys = type(self).optional_keys if optional_keys is None else optional_keys
        self.optional_keys = frozenset(keys)  # type: ignore[misc]
        extra = type(self).allow_extra_keys if allow_extra_keys is None else allow_extra_keys
        if not isinstance(extra, bool):
            raise TypeError(f"allow_extra_keys must be a bool, not {extra!r}")
        self.allow_extra_keys = extra  # type: ignore[misc]
        self.description = description if description is not None else type(self).description
        self.additional_validator = additional_validator

    def core_schema(self) -> CoreSchema:
        fields = {
            key: cs.typed_dict_field(
                field.pydantic_schema(),
                required=key not in self.optional_keys,
            )
            for key, field in (self.contents or {}).items()
        }
        schema = cs.typed_dict_schema(
            fields,
            extra_behavior="allow" if self.allow_extra_keys else "forbid",
            strict=True,
        )
        return with_additional_validator(schema, self.additional_validator)

    def extend(
        self,
        contents: Mapping[str, Base] | None = None,
        optional_keys: Iterable[str] | None = None,
        allow_extra_keys: bool | None = None,
        description: str | None = None,
        replace_optional_keys: bool = False,
        additional_validator: AdditionalValidator | None = None,
    ) -> Dictionary:
        """A new ``Dictionary`` with more ``contents`` and ``optional_keys`` (or, with
        ``replace_optional_keys``, only the given optional keys) and, when given, another
        ``allow_extra_keys``, ``description`` and ``additional_validator``."""
        added = frozenset(optional_keys or ())
        kept = frozenset(self.optional_keys)
        extra = self.allow_extra_keys if allow_extra_keys is None else allow_extra_keys
        return Dictionary(
            {**(self.contents or {}), **(contents or {})},
            optional_keys=added if replace_optional_keys else kept | added,
            allow_extra_keys=extra,
            description=self.description if description is None else description,
            additional_validator=additional_validator or self.additional_validator,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.contents!r}, "
            f"optional_keys={sorted(self.optional_keys)!r}, "
            f"allow_extra_keys={self.allow_extra_keys!r})"
        )


class SchemalessDictionary(Base):
    """A ``dict`` whose keys are valid for ``key_type`` and values for ``value_type`` (by
    default, any hashable key and any value), of ``min_length`` to ``max_length`` items."""

    def __init__(
        self,
        key_type: Base | None = None,
        value_type: Base | None = None,
        max_length: int | None = None,
        min_length: int | None = None,
        description: str | None = None,
        additional_validator: AdditionalValidator | None = None,
    ) -> None:
        self.key_type = key_type if key_type is not None else Hashable()
        self.value_type = value_type if value_type is not None else Anything()
        self.max_length, self.min_length = max_length, min_length
        self.description = description
        self.additional_validator = additional_validator

    def core_schema(self) -> CoreSchema:
        schema = cs.dict_schema(
            self.key_type.pydantic_schema(),
            self.value_type.pydantic_schema(),
            min_length=self.min_length,
            max_length=self.max_length,
            strict=True,
        )
        return with_additional_validator(schema, self.additional_validator)

    def __repr__(self) -> str:
        return f"SchemalessDictionary(key_type={self.key_type!r}, value_type={self.value_type!r})"


class _Collection(Base):
    def __init__(
        self,
        contents: Base,
        max_length: int | None = None,
        min_length: int | None = None,
        description: str | None = None,
        additional_validator: AdditionalValidator | None = None,
    ) -> None:
        if not isinstance(contents, Base):
            raise TypeError(f"{type(self).__name__} contents must be a field, not {contents!r}")
        self.contents = contents
        self.max_length, self.min_length = max_length, min_length
        self.description = description
        self.additional_validator = additional_validator

    def _collection_schema(self, items: CoreSchema) -> CoreSchema:
        raise NotImplementedError

    def core_schema(self) -> CoreSchema:
        schema = self._collection_schema(self.contents.pydantic_schema())
        return with_additional_validator(schema, self.additional_validator)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.contents!r})"


class List(_Collection):
    """A ``list`` of values valid for ``contents``, of ``min_length`` to ``max_length``."""

    def _collection_schema(self, items: CoreSchema) -> CoreSchema:
        return cs.list_schema(
            items, min_length=self.min_length, max_length=self.max_length, strict=True
        )


def _convert_first(kind: type, into: type, schema: CoreSchema) -> CoreSchema:
    """``schema``, given a ``kind`` value converted ``into`` what it validates first."""
    return cs.no_info_before_validator_function(
        lambda value: into(value) if isinstance(value, kind) else value, schema
    )


class Sequence(_Collection):
    """A ``list`` or a ``tuple`` of values valid for ``contents``."""

    def _collection_schema(self, items: CoreSchema) -> CoreSchema:
        schema = cs.list_schema(
            items, min_length=self.min_length, max_length=self.max_length, strict=True
        )
        return _convert_first(tuple, list, schema)


class Set(_Collection):
    """A ``set`` or ``frozenset`` of values valid for ``contents``."""

    def _collection_schema(self, items: CoreSchema) -> CoreSchema:
        schema = cs.set_schema(
            items, min_length=self.min_length, max_length=self.max_length, strict=True
        )
        return _convert_first(frozenset, set, schema)


class Tuple(Base):
    """A ``tuple`` with one value per field of ``contents``, each valid for its field."""

    def __init__(
        self,
        *contents: Base,
        description: str | None = None,
        additional_validator: AdditionalValidator | None = None,
    ) -> None:
        if not contents:
            raise ValueError("Tuple needs at least one field")
        self.contents = contents
        self.description = description
        self.additional_validator = additional_validator

    def core_schema(self) -> CoreSchema:
        schema = cs.tuple_schema([field.pydantic_schema() for field in self.contents], strict=True)
        return with_additional_validator(schema, self.additional_validator)

    def __repr__(self) -> str:
        return f"Tuple({', '.join(repr(field) for field in self.contents)})"
