"""Shell completion: commands, services (from the settings and the transport) and actions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servicewire.cli import main
from servicewire.transport.sql import SqlClientTransport
from tests.cli.conftest import RunningService


def complete(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], words: str
) -> list[str]:
    """What bash would offer for the command line ``words`` (its last word being completed)."""
    parts = words.split(" ")
    monkeypatch.setenv("_SERVICEWIRE_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", str(len(parts) - 1))
    capsys.readouterr()
    assert main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    return [line.split(",", 1)[1] for line in lines if line]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_completion_script(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], shell: str
) -> None:
    monkeypatch.setenv("_SERVICEWIRE_COMPLETE", f"{shell}_source")
    assert main([]) == 0
    assert "_SERVICEWIRE_COMPLETE" in capsys.readouterr().out


def test_commands_complete(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert complete(monkeypatch, capsys, "servicewire ") == [
        "call", "dead-letters", "gateway", "introspect", "migrate-schemas", "queues", "serve",
        "status",
    ]  # fmt: skip
    assert complete(monkeypatch, capsys, "servicewire dead-letters r") == ["retry"]


def test_services_complete_from_the_settings_and_the_queues(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/queues.db"
    transport = SqlClientTransport("billing", url=url)
    try:
        transport.send_request_message(1, {}, {"control": {}, "context": {}, "actions": []})
    finally:
        transport.close()
    settings = tmp_path / "settings.json"
    sql = {"path": "servicewire.transport.sql:SqlClientTransport", "kwargs": {"url": url}}
    settings.write_text(json.dumps({"orders": {"transport": sql}, "users": {"transport": sql}}))
    offered = complete(monkeypatch, capsys, f"servicewire call --settings-file {settings} ")
    assert offered == ["billing", "orders", "users"]
    offered = complete(monkeypatch, capsys, f"servicewire status --settings-file {settings} o")
    assert offered == ["orders"]


def test_actions_complete_from_the_services_introspection(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sqlite_greeter: RunningService,
) -> None:
    words = f"servicewire call --transport {sqlite_greeter.transport_url} greeter "
    assert complete(monkeypatch, capsys, words) == ["echo", "greet", "introspect", "status"]
    assert complete(monkeypatch, capsys, words + "gr") == ["greet"]


def test_completion_offers_nothing_rather_than_failing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    words = "servicewire call --transport redis://127.0.0.1:1/0 "
    assert complete(monkeypatch, capsys, words) == []
    assert complete(monkeypatch, capsys, words + "greeter ") == []
