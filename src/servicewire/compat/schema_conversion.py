"""Conformity field calls, read from source, as pydantic type annotations and model classes.

The part of ``servicewire migrate-schemas`` that knows Conformity's fields: given the
``ast`` of a ``fields.Dictionary(...)`` call, :class:`SchemaConverter` writes the source of
the equivalent pydantic model class (and of the models of its nested dictionaries), or
raises :class:`NotConvertible` naming what it cannot express faithfully.
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass, field

from pydantic import BaseModel

__all__ = ["ImportsNeeded", "NotConvertible", "SchemaConverter", "model_name_of"]

_MODEL_ATTRIBUTES = frozenset(dir(BaseModel))


class NotConvertible(Exception):
    """A declaration uses something the rewrite cannot express faithfully."""


@dataclass
class ImportsNeeded:
    """The imports the generated code uses."""

    pydantic: set[str] = field(default_factory=lambda: {"BaseModel", "ConfigDict"})
    typing: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)


def model_name_of(name: str) -> str:
    """``USER_SCHEMA`` -> ``UserSchema``, ``team_id`` -> ``TeamId``."""
    words = [word for word in re.split(r"[^0-9A-Za-z]+", name) if word]
    text = "".join(
        (word.lower() if word.isupper() else word)[:1].upper()
        + (word.lower() if word.isupper() else word)[1:]
        for word in words
    )
    return text if text and text[0].isalpha() else f"Model{text}"


def _literal(node: ast.expr | None) -> object:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise NotConvertible(f"{ast.unparse(node)} is not a literal") from None


class SchemaConverter:
    """Turns one declaration's field calls into annotations and model classes."""

    def __init__(self, field_names: dict[str, str], known_models: dict[str, str]) -> None:
        self.field_names = field_names  # local callable text -> Conformity field name
        self.known_models = known_models  # module-level schema name -> its model
        self.needs = ImportsNeeded()
        self.classes: list[str] = []

    def field_name(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Call):
            return self.field_names.get(ast.unparse(node.func))
        return None

    def _arguments(self, call: ast.Call, names: tuple[str, ...]) -> dict[str, ast.expr]:
        arguments: dict[str, ast.expr] = dict(zip(names, call.args, strict=False))
        if len(call.args) > len(names):
            raise NotConvertible(f"too many arguments in {ast.unparse(call)}")
        for keyword_argument in call.keywords:
            if keyword_argument.arg is None:
                raise NotConvertible(f"**arguments in {ast.unparse(call)}")
            arguments[keyword_argument.arg] = keyword_argument.value
        return arguments

    def _constrained(self, base: str, constraints: dict[str, object]) -> str:
        present = {name: value for name, value in constraints.items() if value is not None}
        if not present:
            return base
        self.needs.typing.add("Annotated")
        self.needs.pydantic.add("Field")
        options = ", ".join(f"{name}={value!r}" for name, value in present.items())
        return f"Annotated[{base}, Field({options})]"

    def annotation(self, node: ast.expr, model_name: str) -> str:
        """The type annotation validating what the field at ``node`` validates."""
        if isinstance(node, ast.Name) and node.id in self.known_models:
            return self.known_models[node.id]
        name = self.field_name(node)
        if name is None:
            raise NotConvertible(f"{ast.unparse(node)} is not a Conformity field")
        assert isinstance(node, ast.Call)
        scalar = {
            "Boolean": "bool",
            "ByteString": "bytes",
            "UnicodeDecimal": "str",
            "EmailAddress": "str",
            "IPAddress": "str",
            "IPv4Address": "str",
            "IPv6Address": "str",
        }
        temporal = {
            "Date": "date",
            "DateTime": "datetime",
            "Time": "time",
            "TimeDelta": "timedelta",
        }
        numbers = {"Integer": "int", "Float": "float", "Decimal": "decimal.Decimal"}
        if name in ("Anything", "Hashable"):
            self.needs.typing.add("Any")
            return "Any"
        if name in scalar:
            return self._scalar(node, name, scalar[name])
        if name in numbers:
            arguments = self._arguments(node, ("gt", "gte", "lt", "lte", "description"))
            if name == "Decimal":
                self.needs.modules.add("decimal")
            return self._constrained(
                numbers[name],
                {
                    "gt": _literal(arguments.get("gt")),
                    "ge": _literal(arguments.get("gte")),
                    "lt": _literal(arguments.get("lt")),
                    "le": _literal(arguments.get("lte")),
                    "description": _literal(arguments.get("description")),
                },
            )
        if name in temporal:
            arguments = self._arguments(node, ("gt", "gte", "lt", "lte", "description"))
            if any(key in arguments for key in ("gt", "gte", "lt", "lte")):
                raise NotConvertible(f"bounds of {name} are not literals")
            self.needs.modules.add("datetime")
            return self._constrained(
                f"datetime.{temporal[name]}",
                {"description": _literal(arguments.get("description"))},
            )
        if name == "UnicodeString":
            return self._scalar(node, name, "str")
        if name == "Constant":
            constants = [_literal(value) for value in node.args]
            description = {k.arg: _literal(k.value) for k in node.keywords}
            self.needs.typing.add("Literal")
            return self._constrained(
                f"Literal[{', '.join(repr(value) for value in constants)}]",
                {"description": description.get("description")},
            )
        if name == "Nullable":
            return f"{self.annotation(node.args[0], model_name)} | None"
        if name in ("List", "Set", "Sequence"):
            arguments = self._arguments(
                node,
                ("contents", "max_length", "min_length", "description", "additional_validator"),
            )
            if "additional_validator" in arguments:
                raise NotConvertible(f"{name} has an additional_validator")
            kind = {"List": "list", "Set": "set", "Sequence": "list"}[name]
            return self._constrained(
                f"{kind}[{self.annotation(arguments['contents'], model_name + 'Item')}]",
                {
                    "min_length": _literal(arguments.get("min_length")),
                    "max_length": _literal(arguments.get("max_length")),
                    "description": _literal(arguments.get("description")),
                },
            )
        if name == "Tuple":
            items = [self.annotation(item, f"{model_name}Item") for item in node.args]
            return f"tuple[{', '.join(items)}]"
        if name == "SchemalessDictionary":
            arguments = self._arguments(
                node,
                (
                    "key_type",
                    "value_type",
                    "max_length",
                    "min_length",
                    "description",
                    "additional_validator",
                ),
            )
            if "additional_validator" in arguments:
                raise NotConvertible("SchemalessDictionary has an additional_validator")
            self.needs.typing.add("Any")
            keys = (
                self.annotation(arguments["key_type"], model_name + "Key")
                if "key_type" in arguments
                else "Any"
            )
            values = (
                self.annotation(arguments["value_type"], model_name + "Value")
                if "value_type" in arguments
                else "Any"
            )
            return self._constrained(
                f"dict[{keys}, {values}]",
                {
                    "min_length": _literal(arguments.get("min_length")),
                    "max_length": _literal(arguments.get("max_length")),
                    "description": _literal(arguments.get("description")),
                },
            )
        if name == "Any":
            return " | ".join(
                self.annotation(option, f"{model_name}Option{index}")
                for index, option in enumerate(node.args, 1)
            )
        if name == "Dictionary":
            return self.model(node, model_name)
        raise NotConvertible(f"{name} has no pydantic counterpart the rewrite can write")

    def _scalar(self, node: ast.Call, name: str, base: str) -> str:
        if name in ("UnicodeString", "ByteString"):
            arguments = self._arguments(
                node, ("min_length", "max_length", "description", "allow_blank")
            )
            allow_blank = _literal(arguments.get("allow_blank"))
            return self._constrained(
                base,
                {
                    "min_length": _literal(arguments.get("min_length")),
                    "max_length": _literal(arguments.get("max_length")),
                    "pattern": r"\S" if allow_blank is False else None,
                    "description": _literal(arguments.get("description")),
                },
            )
        arguments = {k.arg: k.value for k in node.keywords if k.arg == "description"}
        return self._constrained(base, {"description": _literal(arguments.get("description"))})

    def model(self, node: ast.Call, model_name: str) -> str:
        """Write the model class of a ``Dictionary`` call; return its name."""
        arguments = self._arguments(
            node,
            (
                "contents",
                "optional_keys",
                "allow_extra_keys",
                "description",
                "additional_validator",
            ),
        )
        if "additional_validator" in arguments:
            raise NotConvertible("Dictionary has an additional_validator")
        contents = arguments.get("contents")
        if not isinstance(contents, ast.Dict):
            raise NotConvertible("Dictionary contents are not a dict literal")
        optional_keys = _literal(arguments.get("optional_keys")) or ()
        if not isinstance(optional_keys, list | tuple | set | frozenset):
            raise NotConvertible(f"optional_keys {optional_keys!r} is not a collection")
        optional = set(optional_keys)
        extra = "allow" if _literal(arguments.get("allow_extra_keys")) else "forbid"
        description = _literal(arguments.get("description"))
        lines = [f"class {model_name}(BaseModel):"]
        if description:
            lines.append(f"    {_docstring(str(description))}")
            lines.append("")
        lines.append(f'    model_config = ConfigDict(extra="{extra}")')
        lines.append("")
        for key_node, value_node in zip(contents.keys, contents.values, strict=True):
            key = _literal(key_node)
            if not isinstance(key, str):
                raise NotConvertible(f"key {key!r} is not a string")
            annotation = self.annotation(value_node, model_name + model_name_of(key))
            attribute, alias = _attribute_name(key)
            default = None
            if alias is not None:
                self.needs.pydantic.add("Field")
                default = f"Field(alias={alias!r}" + (", default=None)" if key in optional else ")")
            elif key in optional:
                default = "None"
            if key in optional and not annotation.endswith("| None"):
                annotation = f"{annotation} | None"
            lines.append(f"    {attribute}: {annotation}" + (f" = {default}" if default else ""))
        self.classes.append("\n".join(lines))
        return model_name


def _docstring(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""{escaped}"""'


def _attribute_name(key: str) -> tuple[str, str | None]:
    """A valid model attribute for ``key``, and the alias to give it when it differs."""
    if (
        key.isidentifier()
        and not keyword.iskeyword(key)
        and not key.startswith("_")
        and key not in _MODEL_ATTRIBUTES
    ):
        return key, None
    name = re.sub(r"\W", "_", key).strip("_") or "field"
    if name[0].isdigit() or keyword.iskeyword(name) or name in _MODEL_ATTRIBUTES:
        name = f"{name}_"
    return name, key
