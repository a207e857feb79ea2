"""``servicewire introspect`` and ``servicewire status`` against a real service process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from servicewire.cli.errors import ExitStatus
from servicewire.cli.service_info import summarize_schema
from tests.cli.conftest import RunningService


def test_introspect_summarizes_every_action(run: Any, sqlite_greeter: RunningService) -> None:
    outcome = run("introspect", "greeter", "--transport", sqlite_greeter.transport_url)
    assert outcome.status == 0, outcome.err
    lines = outcome.out.splitlines()
    assert lines[0] == "greeter: Greets people."
    greet = lines.index("greet")
    assert lines[greet + 1 : greet + 4] == [
        "    Greets someone by name.",
        "    request:  {name*: string, times: integer}",
        "    response: any",
    ]
    assert {"echo", "introspect", "status"} <= set(lines)


def test_introspect_one_action_as_json(run: Any, sqlite_greeter: RunningService) -> None:
    outcome = run(
        "introspect", "greeter", "greet", "--json", "--transport", sqlite_greeter.transport_url
    )
    description = json.loads(outcome.out)
    assert description["action_names"] == ["greet"]
    schema = description["actions"]["greet"]["request_schema"]
    assert schema["required"] == ["name"]


def test_introspect_an_unknown_action(run: Any, sqlite_greeter: RunningService) -> None:
    outcome = run("introspect", "greeter", "shout", "--transport", sqlite_greeter.transport_url)
    assert outcome.status == ExitStatus.UNKNOWN_SERVICE
    assert outcome.err == (
        "servicewire introspect: greeter.introspect: INVALID at action_name: "
        "Action 'shout' is not defined\n"
    )


@pytest.fixture
def unhealthy(sqlite_greeter: RunningService) -> Iterator[None]:
    sqlite_greeter.unhealthy_marker.write_text("only 1% left")
    yield
    sqlite_greeter.unhealthy_marker.unlink()


def test_status_shows_version_build_and_warnings(run: Any, sqlite_greeter: RunningService) -> None:
    outcome = run("status", "greeter", "--transport", sqlite_greeter.transport_url)
    assert outcome.status == 0, outcome.err
    first, *rest = outcome.out.splitlines()
    assert first.startswith("greeter: version 2.1.0 (build build-7), Python 3.")
    assert rest == ["warning  DISK_LOW: 90% used", "healthy"]


@pytest.mark.usefixtures("unhealthy")
def test_status_exits_non_zero_when_a_check_fails(run: Any, sqlite_greeter: RunningService) -> None:
    outcome = run("status", "greeter", "--transport", sqlite_greeter.transport_url)
    assert outcome.status == ExitStatus.SERVICE_ERRORS
    assert "error    DISK_FULL: only 1% left" in outcome.out.splitlines()
    as_json = run("status", "greeter", "--json", "--transport", sqlite_greeter.transport_url)
    assert as_json.status == ExitStatus.SERVICE_ERRORS
    assert json.loads(as_json.out)["healthcheck"]["errors"] == [["DISK_FULL", "only 1% left"]]


def test_status_of_a_service_that_is_not_running_times_out(run: Any, tmp_path: Any) -> None:
    outcome = run(
        "status", "greeter", "--timeout", "0.3", "--transport", f"sqlite:///{tmp_path}/q.db"
    )
    assert outcome.status == ExitStatus.TIMEOUT


@pytest.mark.parametrize(
    ("schema", "summary"),
    [
        (None, "any"),
        (
            {
                "type": "object",
                "properties": {
                    "ids": {"type": "array", "items": {"type": "integer"}},
                    "mode": {"enum": ["a", "b"]},
                    "owner": {"$ref": "#/$defs/Owner"},
                    "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
                "required": ["ids"],
                "$defs": {"Owner": {"type": "object", "properties": {}}},
            },
            "{ids*: array of integer, mode: 'a' | 'b', owner: Owner, note: string | null}",
        ),
    ],
)
def test_schemas_are_summarized_on_one_line(schema: Any, summary: str) -> None:
    assert summarize_schema(schema) == summary
