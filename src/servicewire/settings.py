"""Settings machinery: plain dicts in, validated, typed objects out, once at start-up.

Users write settings as plain dicts, as PySOA users do today. A :class:`Settings` subclass
(a pydantic model) validates them, rejecting unknown keys and bad values with an
:class:`~servicewire.errors.InvalidSettings` error that names every offending key.

A *class reference* is ``{"path": "module:Class", "kwargs": {...}}``. It is imported and
checked when the settings are validated; if the class declares ``settings_schema`` (a
pydantic model of its constructor's keyword arguments) the ``kwargs`` are validated against
it too, so a bad transport option fails at start-up rather than at the first request.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from typing_extensions import Self

from servicewire.errors import InvalidSettings

__all__ = [
    "ClassReference",
    "LogLevel",
    "SOASettings",
    "Settings",
    "class_reference",
    "format_validation_error",
    "import_path",
]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def import_path(path: str) -> Any:
    """Import ``"package.module:Attribute.sub"`` (or the dotted ``"package.module.Attribute"``).

    Raises ``ImportError`` with the path in the message when it cannot be resolved.
    """
    if ":" in path:
        module_name, _, attribute_path = path.partition(":")
    else:
        module_name, _, attribute_path = path.rpartition(".")
    if not module_name or not attribute_path:
        raise ImportError(f"{path!r} is not an import path of the form 'module:Name'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(f"Cannot import module {module_name!r} of {path!r}: {error}") from error
    for attribute in attribute_path.split("."):
        try:
            target = getattr(target, attribute)
        except AttributeError:
            raise ImportError(
                f"Module {module_name!r} has no attribute {attribute_path!r} (from {path!r})"
            ) from None
    return target


def format_validation_error(error: ValidationError, prefix: str = "") -> str:
    """One line per problem: ``dotted.key: what is wrong``."""
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in (*([prefix] if prefix else []), *problem["loc"]))
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        elif problem["type"] == "missing":
            message = "required key is missing"
        lines.append(f"{location or '<root>'}: {message}")
    return "; ".join(lines)


class ClassReference(BaseModel):
    """``{"path": "module:Class", "kwargs": {...}}``: a class to build, with its arguments.

    ``path`` may also be the class object itself. After validation, ``object`` is the
    imported class.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    path: str | type
    kwargs: dict[str, Any] = Field(default_factory=dict)
    _object: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve(self) -> Self:
        try:
            self._object = import_path(self.path) if isinstance(self.path, str) else self.path
        except ImportError as error:
            raise ValueError(str(error)) from None
        return self

    @property
    def object(self) -> Any:
        """The imported class (or callable) named by ``path``."""
        return self._object


def _requires(base: type) -> Callable[[ClassReference], ClassReference]:
    def check(reference: ClassReference) -> ClassReference:
        target = reference.object
        if not (isinstance(target, type) and issubclass(target, base)):
            raise ValueError(
                f"{reference.path!r} must be a subclass of {base.__module__}.{base.__qualname__}"
            )
        schema = getattr(target, "settings_schema", None)
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            try:
                schema.model_validate(reference.kwargs)
            except ValidationError as error:
                raise ValueError(
                    f"bad kwargs for {target.__qualname__}: "
                    + format_validation_error(error, "kwargs")
                ) from None
        return reference

    return check


def class_reference(base: type) -> Any:
    """The annotation of a settings field holding a class reference to a subclass of ``base``."""
    return Annotated[ClassReference, AfterValidator(_requires(base))]


class _ClassProperty:
    """A read-only attribute computed from the class (``ClientSettings.defaults``)."""

    def __init__(self, getter: Callable[[type[Settings]], Any]) -> None:
        self.getter = getter
        self.__doc__ = getter.__doc__

    def __get__(self, instance: object, owner: type[Settings]) -> Any:
        return self.getter(owner)


def _defaults(cls: type[Settings]) -> dict[str, Any]:
    """Each key that has a default, with that default (a fresh copy on each read)."""
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in cls.model_fields.items()
        if not field.is_required()
    }


def _schema(cls: type[Settings]) -> dict[str, Any]:
    """Each key the settings accept, with its pydantic field (type, default, description)."""
    return dict(cls.model_fields)


class Settings(BaseModel):
    """Base of validated settings objects.

    Build one with :meth:`from_dict`, or as PySOA does, ``ServerSettings(data)`` (keyword
    arguments are keys too); both raise ``InvalidSettings``. Subclasses add fields (with
    defaults) as pydantic fields. For code written against PySOA, ``settings["key"]`` reads a
    field too, and the class attributes ``defaults`` and ``schema`` list the keys with
    defaults and every key accepted.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    label: ClassVar[str] = "settings"
    defaults: ClassVar[Any] = _ClassProperty(_defaults)
    schema: ClassVar[Any] = _ClassProperty(_schema)

    def __init__(self, data: Mapping[str, Any] | None = None, /, **values: Any) -> None:
        if data is None:
            # Keywords only: pydantic itself builds nested settings this way, and reports
            # their problems under the enclosing key.
            super().__init__(**values)
            return
        try:
            super().__init__(**{**data, **values})
        except ValidationError as error:
            raise InvalidSettings(
                f"Invalid {self.label}: {format_validation_error(error)}"
            ) from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Settings | None = None) -> Self:
        """Validate ``data``; raise ``InvalidSettings`` naming every bad or unknown key."""
        if isinstance(data, cls):
            return data
        if isinstance(data, Settings):
            data = data.model_dump()
        try:
            return cls.model_validate(dict(data or {}))
        except ValidationError as error:
            raise InvalidSettings(
                f"Invalid {cls.label}: {format_validation_error(error)}"
            ) from None

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in type(self).model_fields


SOASettings = Settings
"""PySOA's name of :class:`Settings`."""
