"""``servicewire call``: against a real service process, over SQLite and Redis."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from servicewire.cli.errors import ExitStatus
from tests.cli.conftest import RunningService


@pytest.fixture(params=["sqlite", "redis"])
def greeter(request: pytest.FixtureRequest) -> RunningService:
    service: RunningService = request.getfixturevalue(f"{request.param}_greeter")
    return service


def test_call_prints_the_response_body_as_json(run: Any, greeter: RunningService) -> None:
    outcome = run(
        "call", "greeter", "greet", '{"name": "Ada"}', "--transport", greeter.transport_url
    )
    assert (outcome.status, outcome.err) == (0, "")
    assert json.loads(outcome.out) == {"greeting": "Hello, Ada!"}
    assert outcome.out.count("\n") == 1  # plain JSON on one line when piped


def test_switches_context_and_correlation_id_reach_the_action(
    run: Any, greeter: RunningService
) -> None:
    outcome = run(
        "call", "greeter", "echo", '{"x": 1}', "--switch", "3", "--switch", "5",
        "--context", '{"tenant": "t1"}', "--correlation-id", "corr-9",
        "--transport", greeter.transport_url,
    )  # fmt: skip
    assert outcome.status == 0, outcome.err
    answer = json.loads(outcome.out)
    assert answer["body"] == {"x": 1}
    assert answer["switches"] == [3, 5]
    assert answer["context"]["tenant"] == "t1"
    assert answer["context"]["correlation_id"] == "corr-9"


def test_the_body_from_stdin_or_a_file(
    run: Any, sqlite_greeter: RunningService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"name": "Grace"}'))
    outcome = run("call", "greeter", "greet", "-", "--transport", sqlite_greeter.transport_url)
    assert json.loads(outcome.out) == {"greeting": "Hello, Grace!"}
    body = tmp_path / "body.json"
    body.write_text('{"name": "Linus", "times": 2}')
    outcome = run(
        "call", "greeter", "greet", "--body-file", str(body),
        "--transport", sqlite_greeter.transport_url,
    )  # fmt: skip
    assert json.loads(outcome.out) == {"greeting": "Hello, Linus! Hello, Linus!"}


def test_raw_prints_the_whole_job_response(run: Any, sqlite_greeter: RunningService) -> None:
    outcome = run(
        "call", "greeter", "greet", '{"name": "Ada"}', "--raw", "--correlation-id", "c-raw",
        "--transport", sqlite_greeter.transport_url,
    )  # fmt: skip
    response = json.loads(outcome.out)
    assert response["context"]["correlation_id"] == "c-raw"
    assert response["actions"] == [
        {"action": "greet", "errors": [], "body": {"greeting": "Hello, Ada!"}}
    ]


def test_action_errors_are_printed_readably_with_a_non_zero_status(
    run: Any, greeter: RunningService
) -> None:
    outcome = run(
        "call", "greeter", "greet", '{"name": "nobody"}', "--transport", greeter.transport_url
    )
    assert outcome.status == ExitStatus.SERVICE_ERRORS
    assert outcome.out == ""
    assert outcome.err == "servicewire call: greeter.greet: NOBODY: nobody cannot be greeted\n"


def test_errors_as_json_with_the_json_switch(run: Any, sqlite_greeter: RunningService) -> None:
    outcome = run(
        "call", "greeter", "greet", '{"name": "nobody"}', "--json",
        "--transport", sqlite_greeter.transport_url,
    )  # fmt: skip
    assert outcome.status == ExitStatus.SERVICE_ERRORS
    [error] = json.loads(outcome.out)["errors"]
    assert (error["action"], error["code"], error["message"]) == (
        "greet",
        "NOBODY",
        "nobody cannot be greeted",
    )


def test_a_body_failing_the_schema_has_its_own_status(run: Any, greeter: RunningService) -> None:
    outcome = run(
        "call", "greeter", "greet", '{"times": "x"}', "--transport", greeter.transport_url
    )
    assert outcome.status == ExitStatus.INVALID_REQUEST
    lines = outcome.err.splitlines()
    assert "servicewire call: greeter.greet: MISSING at name: Field required" in lines
    assert any(
        line.startswith("servicewire call: greeter.greet: INVALID at times") for line in lines
    )


def test_an_unknown_action_has_the_unknown_status(run: Any, sqlite_greeter: RunningService) -> None:
    outcome = run("call", "greeter", "shout", "--transport", sqlite_greeter.transport_url)
    assert outcome.status == ExitStatus.UNKNOWN_SERVICE
    assert "UNKNOWN at action" in outcome.err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"name": ', "the body is not valid JSON: Expecting value: line 1 column 10 (char 9)"),
        ('["Ada"]', "the body must be a JSON object, not list"),
    ],
)
def test_malformed_json_is_one_line_and_its_own_status(
    run: Any, body: str, message: str, tmp_path: Path
) -> None:
    outcome = run("call", "greeter", "greet", body, "--transport", f"sqlite:///{tmp_path}/q.db")
    assert outcome.status == ExitStatus.MALFORMED_JSON
    assert outcome.err == f"servicewire call: error: {message}\n"


def test_malformed_context_is_named(run: Any, tmp_path: Path) -> None:
    outcome = run(
        "call",
        "greeter",
        "echo",
        "--context",
        "tenant=t1",
        "--transport",
        f"sqlite:///{tmp_path}/q.db",
    )
    assert outcome.status == ExitStatus.MALFORMED_JSON
    assert outcome.err.startswith("servicewire call: error: --context is not valid JSON")


def test_a_service_that_does_not_answer_times_out(run: Any, tmp_path: Path) -> None:
    outcome = run(
        "call", "nobody", "greet", "--timeout", "0.3", "--transport", f"sqlite:///{tmp_path}/q.db"
    )
    assert outcome.status == ExitStatus.TIMEOUT
    assert outcome.err == (
        f"servicewire call: error: service 'nobody' did not answer in time through --transport "
        f"sqlite:///{tmp_path}/q.db (is it running?)\n"
    )


def test_a_service_the_settings_do_not_name_is_unknown(run: Any, tmp_path: Path) -> None:
    settings = tmp_path / "routes.json"
    settings.write_text(json.dumps({"greeter": {}}))
    outcome = run("call", "billing", "charge", "--settings-file", str(settings))
    assert outcome.status == ExitStatus.UNKNOWN_SERVICE
    assert outcome.err == (
        f"servicewire call: error: unknown service 'billing': settings file {str(settings)!r} "
        "configures greeter\n"
    )


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:1/0", "postgresql://nobody@127.0.0.1:1/nothing"]
)
def test_an_unreachable_transport_is_one_line_and_its_own_status(run: Any, url: str) -> None:
    outcome = run("call", "greeter", "greet", "--transport", url)
    assert outcome.status == ExitStatus.UNREACHABLE
    assert outcome.err.startswith(
        f"servicewire call: error: cannot reach service 'greeter' through --transport {url}: "
    )
    assert outcome.err.count("\n") == 1
    assert "Traceback" not in outcome.err


def test_invalid_settings_have_their_own_status(run: Any) -> None:
    outcome = run("call", "greeter", "greet", "--transport", "mysql://db/x")
    assert outcome.status == ExitStatus.INVALID_SETTINGS
    assert outcome.err.startswith(
        "servicewire call: error: --transport mysql://db/x: unknown scheme"
    )


def test_a_body_both_inline_and_in_a_file_is_a_usage_error(run: Any, tmp_path: Path) -> None:
    outcome = run("call", "greeter", "greet", "{}", "--body-file", str(tmp_path / "b.json"))
    assert outcome.status == ExitStatus.USAGE
    assert "not both" in outcome.err
