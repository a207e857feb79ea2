"""The command-line guide's examples are real: each shell session runs against the
calculator service and prints what the guide says (``...`` stands for any text)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ROOT, ServiceProcess, wait_until

GUIDE = ROOT / "docs" / "command-line.md"

SESSION = re.compile(r"<!-- command-line-example -->\s*```console\n(.*?)```", re.DOTALL)
SETUP = re.compile(r"<!-- command-line-setup -->\s*```sh\n(.*?)```", re.DOTALL)
PYTHON = re.compile(r"<!-- command-line-python -->\s*```python\n(.*?)```", re.DOTALL)


def commands_and_outputs(session: str) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for line in session.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual) is not None


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of the guide's sessions: a folder of their own (with the examples),
    a database of their own, and the calculator serving on it."""
    folder = tmp_path_factory.mktemp("command-line-guide")
    (folder / "examples").symlink_to(ROOT / "examples")
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "SERVICEWIRE_SQL_URL": f"sqlite:///{folder}/queues.db",
        "HOME": str(folder),
        "NO_COLOR": "1",
    }
    service = ServiceProcess(
        folder,
        "examples.calculator:CalculatorServer",
        "examples.calculator",
        env={"SERVICEWIRE_SQL_URL": environment["SERVICEWIRE_SQL_URL"]},
    )

    def answers() -> bool:
        completed = subprocess.run(
            ["servicewire", "status", "calculator", "--timeout", "1"],
            env=environment,
            capture_output=True,
            check=False,
        )
        return completed.returncode == 0

    wait_until(answers, "the calculator to answer")
    environment["GUIDE_FOLDER"] = str(folder)
    yield environment
    service.stop()


def run_session(session: str, environment: dict[str, str]) -> None:
    folder = environment["GUIDE_FOLDER"]
    status = 0
    for command, expected in commands_and_outputs(session):
        if command == "echo $?":
            assert expected == [str(status)], f"the status of the command before {command!r}"
            continue
        completed = subprocess.run(
            ["bash", "-c", command],
            cwd=folder,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        status = completed.returncode
        actual = (completed.stdout + completed.stderr).splitlines()
        assert len(actual) == len(expected), f"{command}:\n{completed.stdout}{completed.stderr}"
        for expected_line, actual_line in zip(expected, actual, strict=True):
            assert matches(expected_line, actual_line), f"{command}: {actual_line!r}"


def test_the_guide_sessions_print_what_they_say(shell: dict[str, str]) -> None:
    sessions = SESSION.findall(GUIDE.read_text())
    assert len(sessions) == 7
    for session in sessions:
        run_session(session, shell)


def test_the_guides_completion_setup_runs(shell: dict[str, str]) -> None:
    [setup] = SETUP.findall(GUIDE.read_text())
    completed = subprocess.run(
        ["bash", "-e", "-c", setup],
        cwd=shell["GUIDE_FOLDER"],
        env=shell,
        capture_output=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    for shell_name in ("zsh", "fish"):
        script = Path(shell["HOME"]) / f".servicewire-complete.{shell_name}"
        assert "_SERVICEWIRE_COMPLETE" in script.read_text()


def test_the_guides_new_command_runs(
    shell: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servicewire.cli import COMMANDS

    [code] = PYTHON.findall(GUIDE.read_text())
    (tmp_path / "guide_ping.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SERVICEWIRE_SQL_URL", shell["SERVICEWIRE_SQL_URL"])
    monkeypatch.setitem(COMMANDS, "ping", COMMANDS["serve"])  # restored after the test
    sys.modules.pop("guide_ping", None)
    __import__("guide_ping")
