"""Settings machinery: import paths, class references, validation errors naming keys."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from servicewire import InvalidSettings
from servicewire.settings import ClassReference, Settings, class_reference, import_path


class Base:
    pass


class Child(Base):
    def __init__(self, size: int = 1) -> None:
        self.size = size


class ChildSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int


class Checked(Base):
    settings_schema: ClassVar[type[BaseModel]] = ChildSettings


class Unrelated:
    pass


VALUE = {"nested": {"deep": 42}}


class Example(Settings):
    label: ClassVar[str] = "example settings"

    component: class_reference(Base)  # type: ignore[valid-type]
    count: int = 1


def test_import_path_with_a_colon() -> None:
    assert import_path("tests.test_settings:Child") is Child


def test_import_path_with_dots_only() -> None:
    assert import_path("tests.test_settings.Child") is Child


def test_import_path_into_attributes() -> None:
    assert import_path("tests.test_settings:VALUE") == VALUE


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_such_module_anywhere:Thing", "Cannot import module 'no_such_module_anywhere'"),
        ("tests.test_settings:Missing", "has no attribute 'Missing'"),
        ("nodots", "is not an import path"),
    ],
)
def test_import_path_errors_name_the_path(path: str, message: str) -> None:
    with pytest.raises(ImportError, match=message):
        import_path(path)


def test_class_reference_resolves_its_path() -> None:
    reference = ClassReference(path="tests.test_settings:Child", kwargs={"size": 3})
    assert reference.object is Child
    assert reference.object(**reference.kwargs).size == 3


def test_class_reference_accepts_the_class_itself() -> None:
    assert ClassReference(path=Child).object is Child


def test_settings_build_from_a_plain_dict() -> None:
    settings = Example.from_dict({"component": {"path": "tests.test_settings:Child"}, "count": 2})
    assert settings.component.object is Child
    assert settings.count == 2
    assert settings["count"] == 2
    assert "count" in settings
    assert "other" not in settings


def test_settings_from_dict_returns_an_instance_unchanged() -> None:
    settings = Example.from_dict({"component": {"path": Child}})
    assert Example.from_dict(settings) is settings


def test_settings_are_immutable() -> None:
    settings = Example.from_dict({"component": {"path": Child}})
    with pytest.raises(Exception, match="frozen"):
        settings.count = 3  # type: ignore[misc]


def test_reading_an_unknown_key_raises_key_error() -> None:
    settings = Example.from_dict({"component": {"path": Child}})
    with pytest.raises(KeyError):
        settings["nope"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"component": {"path": Child}, "colour": "red"}, "colour: unknown key"),
        ({}, "component: required key is missing"),
        ({"component": {"path": Child}, "count": "many"}, "count: "),
        ({"component": {"path": "nowhere_at_all:X"}}, "component: Value error, Cannot import"),
        ({"component": {"path": Unrelated}}, "must be a subclass of tests.test_settings.Base"),
        ({"component": {"path": Child, "kwargs": {}, "extra": 1}}, "component.extra: unknown key"),
        (
            {"component": {"path": Checked, "kwargs": {"size": "big"}}},
            "bad kwargs for Checked: kwargs.size:",
        ),
        (
            {"component": {"path": Checked, "kwargs": {"size": 1, "colour": 2}}},
            "kwargs.colour: unknown key",
        ),
    ],
)
def test_invalid_settings_name_the_offending_key(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidSettings) as caught:
        Example.from_dict(data)
    assert str(caught.value).startswith("Invalid example settings: ")
    assert expected in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidSettings) as caught:
        Example.from_dict({"count": "x", "other": 1})
    message = str(caught.value)
    assert "component: required key is missing" in message
    assert "count:" in message
    assert "other: unknown key" in message


def test_settings_are_built_from_a_dict_as_pysoa_builds_them() -> None:
    class Sized(Settings):
        size: int = 1
        name: str = "x"

    assert Sized({"size": 3}).size == 3
    assert Sized({"size": 3}, name="y").name == "y"
    assert Sized() == Sized.from_dict({})
    assert Sized(size=2).size == 2
    with pytest.raises(InvalidSettings, match="Invalid settings: nope: unknown key"):
        Sized({"nope": 1})


def test_defaults_and_schema_list_the_keys() -> None:
    class Listed(Settings):
        required: int
        items: list[int] = []
        label_text: str = "x"

    assert Listed.defaults == {"items": [], "label_text": "x"}
    Listed.defaults["items"].append(1)
    assert Listed.defaults["items"] == [], "each read is a fresh copy"
    assert set(Listed.schema) == {"required", "items", "label_text"}
    assert Listed.schema["required"].is_required()
