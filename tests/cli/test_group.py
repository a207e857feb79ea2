"""The ``servicewire`` command group: lazy commands, exit statuses, ``python -m``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import click
import pytest

from servicewire.cli import COMMANDS, main
from servicewire.cli.errors import CommandError, ExitStatus
from servicewire.cli.group import CommandEntry, LazyGroup


def run_python(
    *arguments: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *arguments], check=False, capture_output=True, text=True, env=env
    )


def test_help_lists_every_command_without_importing_their_modules() -> None:
    completed = run_python(
        "-c",
        "import sys\n"
        "from servicewire.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('servicewire.cli.')))",
    )
    assert completed.returncode == 0, completed.stderr
    *help_lines, imported = completed.stdout.splitlines()
    for name, entry in COMMANDS.items():
        assert any(line.split() == [name, *entry.summary.split()] for line in help_lines)
    assert eval(imported) == ["servicewire.cli.errors", "servicewire.cli.group"]


def test_python_dash_m_servicewire_runs_the_command() -> None:
    completed = run_python("-m", "servicewire", "serve", "--help")
    assert completed.returncode == 0
    assert "module:ServerClass" in completed.stdout


def test_command_names_complete_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    completed = run_python(
        "-m",
        "servicewire",
        env={
            "_SERVICEWIRE_COMPLETE": "bash_complete",
            "COMP_WORDS": "servicewire se",
            "COMP_CWORD": "1",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert completed.returncode == 0, completed.stderr
    assert "plain,serve" in completed.stdout.splitlines()


@click.command()
@click.argument("what")
def probe(what: str) -> int:
    if what == "fail":
        raise CommandError("the probe failed\nbadly", ExitStatus.UNREACHABLE)
    return int(ExitStatus.SERVICE_ERRORS) if what == "errors" else 0


@pytest.fixture
def probe_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from servicewire.cli import servicewire

    assert isinstance(servicewire, LazyGroup)
    monkeypatch.setitem(
        servicewire.lazy_commands, "probe", CommandEntry(f"{__name__}:probe", "Probe.")
    )
    yield
    servicewire.commands.pop("probe", None)


@pytest.mark.usefixtures("probe_registered")
def test_a_registered_command_runs_and_returns_its_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["probe", "ok"]) == 0
    assert main(["probe", "errors"]) == ExitStatus.SERVICE_ERRORS
    assert main(["probe", "fail"]) == ExitStatus.UNREACHABLE
    assert capsys.readouterr().err == "servicewire probe: error: the probe failed badly\n"


@pytest.mark.usefixtures("probe_registered")
def test_usage_errors_exit_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["probe"])
    assert caught.value.code == ExitStatus.USAGE
    assert "Missing argument 'WHAT'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["no-such-command"])
    assert caught.value.code == ExitStatus.USAGE


def test_a_registry_entry_that_is_not_a_command_is_a_programming_error() -> None:
    group = LazyGroup(lazy_commands={"bad": CommandEntry("servicewire.cli:main", "Bad.")})
    with pytest.raises(TypeError, match=r"servicewire\.cli:main is not a click command"):
        group.get_command(click.Context(group), "bad")
