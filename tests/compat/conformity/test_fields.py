"""Conformity's fields: what each accepts, and the code and path of what it refuses."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pytest

from servicewire.compat.conformity import Error, ValidationError, fields, validate


def problems(field: fields.Base, value: Any) -> set[tuple[str, str | None]]:
    return {(error.code, error.pointer) for error in field.errors(value)}


INVALID = {("INVALID", None)}


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        (fields.Anything(), [None, 1, object()], []),
        (fields.Hashable(), [1, "a", (1, 2)], [[1], {}]),
        (fields.Boolean(), [True, False], [0, 1, "true", None]),
        (fields.Integer(), [0, -5, 10**20], [True, 1.0, "1", None]),
        (fields.Integer(gt=0, lte=10), [1, 10], [0, 11]),
        (fields.Integer(gte=0, lt=10), [0, 9], [-1, 10]),
        (fields.Float(), [1.5, 2], [True, "1.5"]),
        (fields.Decimal(gt=0), [decimal.Decimal("0.1")], [0.1, decimal.Decimal("0")]),
        (fields.UnicodeString(), ["", "héllo"], [b"bytes", 1]),
        (fields.UnicodeString(min_length=2, max_length=3), ["ab", "abc"], ["a", "abcd"]),
        (fields.UnicodeString(allow_blank=False), ["a"], ["", "  "]),
        (fields.ByteString(), [b"x"], ["x"]),
        (fields.UnicodeDecimal(), ["1.25", "-3"], ["one", 1.25]),
        (fields.Nullable(fields.Integer()), [None, 3], ["3"]),
        (fields.Null(), [None], [0, ""]),
        (fields.ObjectInstance(datetime.date), [datetime.date(2024, 1, 1)], ["2024-01-01"]),
        (fields.List(fields.Integer(), min_length=1, max_length=2), [[1], [1, 2]], [[], (1,)]),
        (fields.Sequence(fields.Integer()), [[1], (1, 2)], [{1}]),
        (fields.Set(fields.Integer()), [{1}, frozenset({2})], [[1]]),
        (fields.Tuple(fields.Integer(), fields.UnicodeString()), [(1, "a")], [[1, "a"], "ab"]),
        (fields.SchemalessDictionary(min_length=1), [{"a": 1}, {2: None}], [{}, []]),
        (fields.Date(), [datetime.date(2024, 1, 1)], [datetime.datetime(2024, 1, 1)]),
        (fields.DateTime(), [datetime.datetime(2024, 1, 1)], [datetime.date(2024, 1, 1)]),
        (fields.Time(), [datetime.time(1, 2)], ["01:02"]),
        (
            fields.TimeDelta(gt=datetime.timedelta(0)),
            [datetime.timedelta(1)],
            [datetime.timedelta(0)],
        ),
        (fields.TZInfo(), [datetime.timezone.utc], ["UTC"]),
        (fields.IPv4Address(), ["192.0.2.1"], ["2001:db8::1", "300.1.1.1"]),
        (fields.IPv6Address(), ["2001:db8::1"], ["192.0.2.1"]),
        (fields.IPAddress(), ["192.0.2.1", "::1"], ["localhost"]),
        (
            fields.EmailAddress(),
            ["a@example.com", "a.b+c@mail.example.org"],
            ["a", "a@b", "@x.com"],
        ),
        (fields.EmailAddress(whitelist=["localhost"]), ["root@localhost"], ["root@otherhost"]),
        (fields.Latitude(), [-90, 45.5, 90], [90.5]),
        (fields.Longitude(), [-180, 180], [-181]),
        (fields.Any(fields.Integer(), fields.UnicodeString()), [1, "a"], [1.5, None]),
        (fields.All(fields.Integer(gt=0), fields.Integer(lt=10)), [5], [0, 10]),
        (
            fields.BooleanValidator(lambda v: v % 2 == 0, "even", "Not even"),
            [2, 4],
            [3, "x"],
        ),
        (fields.TypeReference(base_classes=Exception), [ValueError], [int, ValueError()]),
    ],
)
def test_field_accepts_and_refuses(field: fields.Base, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert field.errors(value) == [], value
    for value in bad:
        assert problems(field, value) == INVALID, value


def test_constant_refuses_other_values_as_unknown_as_conformity_does() -> None:
    field = fields.Constant("a", 1)
    assert field.errors("a") == []
    assert field.errors(1) == []
    assert problems(field, "b") == {("UNKNOWN", None)}
    # True == 1, but a boolean is not the constant 1.
    assert problems(field, True) == {("UNKNOWN", None)}
    assert "one of: 'a', 1" in field.errors("b")[0].message


def test_dictionary_codes_and_dotted_paths() -> None:
    field = fields.Dictionary(
        {
            "id": fields.Integer(),
            "tags": fields.List(fields.UnicodeString()),
            "owner": fields.Dictionary({"name": fields.UnicodeString()}),
            "note": fields.UnicodeString(),
        },
        optional_keys=("note",),
    )
    assert field.errors({"id": 1, "tags": [], "owner": {"name": "a"}}) == []
    assert problems(field, {"tags": ["a", 2], "owner": {}, "extra": 1}) == {
        ("MISSING", "id"),
        ("INVALID", "tags.1"),
        ("MISSING", "owner.name"),
        ("UNKNOWN", "extra"),
    }
    assert problems(field, []) == INVALID


def test_dictionary_allows_extra_keys_when_told() -> None:
    field = fields.Dictionary({"a": fields.Integer()}, allow_extra_keys=True)
    assert field.errors({"a": 1, "b": 2}) == []


def test_dictionary_declared_by_subclassing() -> None:
    class Address(fields.Dictionary):
        contents = {"city": fields.UnicodeString(), "zip": fields.UnicodeString()}
        optional_keys = ("zip",)
        description = "A postal address."

    field = Address()
    assert field.errors({"city": "Paris"}) == []
    assert problems(field, {}) == {("MISSING", "city")}
    assert field.introspect()["description"] == "A postal address."


def test_extend_adds_contents_and_optional_keys() -> None:
    base = fields.Dictionary({"a": fields.Integer()}, optional_keys=("a",))
    extended = base.extend({"b": fields.Integer()}, optional_keys=("b",))
    assert extended.errors({}) == []
    replaced = base.extend({"b": fields.Integer()}, replace_optional_keys=True)
    assert problems(replaced, {}) == {("MISSING", "a"), ("MISSING", "b")}
    assert base.errors({}) == []


def test_schemaless_dictionary_checks_keys_and_values() -> None:
    field = fields.SchemalessDictionary(
        key_type=fields.UnicodeString(), value_type=fields.Integer()
    )
    assert field.errors({"a": 1}) == []
    assert problems(field, {"a": "x", 2: 3}) == {("INVALID", "a"), ("INVALID", "2.[key]")}


def test_polymorph_picks_the_branch_of_the_switch_field() -> None:
    field = fields.Polymorph(
        "kind.name",
        {
            "circle": fields.Dictionary(
                {"kind": fields.SchemalessDictionary(), "radius": fields.Float()}
            ),
            "__default__": fields.SchemalessDictionary(),
        },
    )
    assert field.errors({"kind": {"name": "circle"}, "radius": 1.0}) == []
    assert field.errors({"kind": {"name": "blob"}, "anything": True}) == []
    assert problems(field, {"kind": {"name": "circle"}, "radius": "big"}) == {
        ("INVALID", "circle.radius")
    }
    strict = fields.Polymorph("kind", {"a": fields.SchemalessDictionary()})
    assert problems(strict, {"kind": "b"}) == {("UNKNOWN", None)}
    assert problems(strict, {"kind": ["unhashable"]}) == {("UNKNOWN", None)}


class EndAfterStart:
    def errors(self, value: dict[str, Any]) -> list[Error]:
        if value["end"] <= value["start"]:
            return [Error("End must be after start", pointer="end")]
        return []


def test_additional_validator_runs_once_the_rest_is_valid() -> None:
    field = fields.Dictionary(
        {"start": fields.Integer(), "end": fields.Integer()},
        additional_validator=EndAfterStart(),
    )
    assert field.errors({"start": 1, "end": 2}) == []
    assert field.errors({"start": 2, "end": 1}) == [
        Error("End must be after start", "INVALID", "end")
    ]
    assert problems(field, {"start": 2}) == {("MISSING", "end")}


def test_class_configuration_schema_imports_the_class() -> None:
    field = fields.ClassConfigurationSchema(base_class=Exception)
    assert field.errors({"path": "builtins:ValueError", "kwargs": {"x": 1}}) == []
    assert problems(field, {"path": "builtins:dict"}) == {("INVALID", "path")}
    assert problems(field, {"path": "no.such.module:Thing"}) == {("INVALID", "path")}
    assert problems(field, {"kwargs": {}}) == {("MISSING", "path")}
    defaulted = fields.ClassConfigurationSchema(default_path="builtins:KeyError")
    assert defaulted.errors({}) == []


def test_bad_declarations_fail_when_declared() -> None:
    with pytest.raises(ValueError, match="min_length"):
        fields.UnicodeString(min_length=3, max_length=1)
    with pytest.raises(ValueError, match="at least one"):
        fields.Constant()
    with pytest.raises(TypeError, match="must be a dict"):
        fields.Dictionary(["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a field"):
        fields.List(int)  # type: ignore[arg-type]


def test_introspect_is_json_schema_with_descriptions() -> None:
    field = fields.Dictionary(
        {
            "name": fields.UnicodeString(description="Who."),
            "kind": fields.Constant("a", "b"),
            "age": fields.Nullable(fields.Integer(gte=0, description="Years.")),
        },
        optional_keys=("age",),
        description="A person.",
    )
    schema = field.introspect()
    assert schema["type"] == "object"
    assert schema["description"] == "A person."
    assert schema["required"] == ["name", "kind"]
    assert schema["additionalProperties"] is False
    properties = schema["properties"]
    assert properties["name"]["description"] == "Who."
    assert properties["kind"]["enum"] == ["a", "b"]
    assert {"type": "integer", "minimum": 0}.items() <= properties["age"]["anyOf"][0].items()


def test_validate_raises_with_every_problem() -> None:
    field = fields.Dictionary({"a": fields.Integer(), "b": fields.Integer()})
    validate(field, {"a": 1, "b": 2})
    with pytest.raises(ValidationError, match=r"(?s)Invalid body:.*- a: .*- b: "):
        validate(field, {"a": "x", "b": "y"}, noun="body")
