"""Rewriting Conformity declarations into pydantic models."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from pydantic import ValidationError

from servicewire.compat.schema_migration import migrate_source
from servicewire.server.validation import errors_from_validation, validator_for

SERVICE = textwrap.dedent(
    '''\
    """A service."""

    from conformity import fields

    from servicewire import Action

    # Shared by the actions.
    ADDRESS = fields.Dictionary(
        {"city": fields.UnicodeString(min_length=1), "zip": fields.UnicodeString()},
        optional_keys=("zip",),
        description="Where.",
    )


    class CreateAction(Action):
        request_schema = fields.Dictionary(
            {
                "_type": fields.Constant("person"),
                "class": fields.Integer(gte=0, lt=10, description="A class."),
                "first-name": fields.UnicodeString(allow_blank=False),
                "tags": fields.List(fields.UnicodeString(), min_length=1),
                "scores": fields.SchemalessDictionary(
                    key_type=fields.UnicodeString(), value_type=fields.Float()
                ),
                "nick": fields.Nullable(fields.UnicodeString()),
                "address": ADDRESS,
                "extra": fields.Dictionary({"a": fields.Boolean()}, allow_extra_keys=True),
                "pair": fields.Tuple(fields.Integer(), fields.ByteString()),
                "either": fields.Any(fields.Integer(), fields.UnicodeString()),
                "when": fields.Nullable(fields.DateTime()),
                "price": fields.Decimal(gt=0),
            },
            optional_keys=["nick", "when"],
        )
        response_schema = fields.Dictionary({"id": fields.Integer()})

        def run(self, request):
            return {"id": 1}  # keep this comment
    '''
)


@pytest.fixture(scope="module")
def migrated() -> dict[str, Any]:
    migration = migrate_source(SERVICE, "service.py")
    namespace: dict[str, Any] = {"__name__": "migrated_service"}
    # dont_inherit: this module's ``from __future__ import annotations`` is not the file's.
    exec(compile(migration.source, "service.py", "exec", dont_inherit=True), namespace)
    namespace["__migration__"] = migration
    return namespace


def codes(schema: Any, value: Any) -> set[tuple[str, str | None]]:
    try:
        validator_for(schema).validate(value)
    except ValidationError as error:
        return {(e.code, e.field) for e in errors_from_validation(error, is_caller_error=True)}
    return set()


GOOD = {
    "_type": "person",
    "class": 3,
    "first-name": "Ada",
    "tags": ["x"],
    "scores": {"math": 1.5},
    "address": {"city": "Paris"},
    "extra": {"a": True, "b": 1},
    "pair": (1, b"x"),
    "either": "text",
    "price": __import__("decimal").Decimal("1.5"),
}


def test_declarations_become_models_and_the_rest_stays(migrated: dict[str, Any]) -> None:
    migration = migrated["__migration__"]
    assert migration.converted == [
        "service.py:8: ADDRESS -> Address",
        "service.py:15: CreateAction.request_schema -> CreateRequest",
        "service.py:15: CreateAction.response_schema -> CreateResponse",
    ]
    assert migration.skipped == []
    source = migration.source
    assert "from conformity" not in source
    assert "from pydantic import BaseModel, ConfigDict, Field" in source
    assert "# Shared by the actions." in source
    assert 'return {"id": 1}  # keep this comment' in source
    assert "    request_schema = CreateRequest\n" in source
    assert migrated["ADDRESS"] is migrated["Address"]
    assert migrated["Address"].__doc__ == "Where."


def test_the_models_accept_what_the_conformity_schema_accepted(migrated: dict[str, Any]) -> None:
    model = migrated["CreateRequest"]
    assert codes(model, GOOD) == set()
    assert codes(model, {**GOOD, "nick": "a", "when": None}) == set()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"class": 10}, {("INVALID", "class")}),
        ({"first-name": "  "}, {("INVALID", "first-name")}),
        ({"tags": []}, {("INVALID", "tags")}),
        ({"scores": {"math": "high"}}, {("INVALID", "scores.math")}),
        ({"address": {}}, {("MISSING", "address.city")}),
        ({"address": {"city": "P", "planet": "Earth"}}, {("UNKNOWN", "address.planet")}),
        ({"pair": (1, "x")}, {("INVALID", "pair.1")}),
        ({"price": __import__("decimal").Decimal("0")}, {("INVALID", "price")}),
        ({"surprise": 1}, {("UNKNOWN", "surprise")}),
    ],
)
def test_the_models_refuse_what_it_refused_with_the_same_field(
    migrated: dict[str, Any], change: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    assert codes(migrated["CreateRequest"], {**GOOD, **change}) == expected


def test_a_missing_key_is_missing(migrated: dict[str, Any]) -> None:
    body = dict(GOOD)
    del body["_type"]
    assert codes(migrated["CreateRequest"], body) == {("MISSING", "_type")}


def test_declarations_without_a_counterpart_are_left_and_reported() -> None:
    source = textwrap.dedent(
        """\
        from conformity import fields

        SHAPE = fields.Polymorph("kind", {"a": fields.Dictionary({"kind": fields.Constant("a")})})
        BOX = fields.Dictionary({"shape": SHAPE})
        CHECKED = fields.Dictionary({"a": fields.Integer()}, additional_validator=CHECK)
        """
    )
    migration = migrate_source(source, "shapes.py")
    assert migration.source == source
    assert migration.skipped == [
        "shapes.py:4: BOX left as it is: SHAPE is not a Conformity field",
        "shapes.py:5: CHECKED left as it is: Dictionary has an additional_validator",
    ]


def test_a_file_without_conformity_is_unchanged() -> None:
    source = "from pydantic import BaseModel\n\nX = fields.Dictionary({})\n"
    migration = migrate_source(source)
    assert (migration.source, migration.changed) == (source, False)


def test_field_imports_by_name_and_the_compat_package_are_recognised() -> None:
    source = textwrap.dedent(
        """\
        from servicewire.compat.conformity.fields import Dictionary, Integer as Int

        POINT = Dictionary({"x": Int(), "y": Int()})
        """
    )
    migration = migrate_source(source)
    assert "class Point(BaseModel):" in migration.source
    assert "    x: int\n    y: int\n" in migration.source
    assert "servicewire.compat.conformity" not in migration.source


def test_a_schema_used_as_a_conformity_object_stays_one_with_its_users() -> None:
    source = textwrap.dedent(
        """\
        from conformity import fields

        USER = fields.Dictionary({"id": fields.Integer()})
        ADMIN = USER.extend({"level": fields.Integer()})
        TEAM = fields.Dictionary({"lead": USER})
        POINT = fields.Dictionary({"x": fields.Integer()})
        """
    )
    migration = migrate_source(source, "users.py")
    assert migration.converted == ["users.py:6: POINT -> Point"]
    assert migration.skipped == [
        "users.py:3: USER left as it is: it is used as a Conformity object",
        "users.py:5: TEAM left as it is: USER is not a Conformity field",
    ]
    assert 'USER = fields.Dictionary({"id": fields.Integer()})' in migration.source
    assert "from conformity import fields" in migration.source
