"""The ``servicewire`` command line (serving itself is covered by tests/server/test_runtime.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from servicewire import __version__
from servicewire.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"servicewire {__version__}"


def test_serve_requires_a_settings_module(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["serve", "tests.server.runtime_service:RuntimeServer"])
    assert caught.value.code == 2
    assert "-s/--settings" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module:Server", "Cannot import module 'no_such_module'"),
        ("tests.server.runtime_service:Nope", "has no attribute 'Nope'"),
        ("tests.server.runtime_service:Whoami", "is not a Server subclass"),
    ],
)
def test_serve_rejects_a_bad_server_path(
    capsys: pytest.CaptureFixture[str], target: str, message: str
) -> None:
    assert main(["serve", target, "-s", "anything"]) == 2
    assert message in capsys.readouterr().err


def test_serve_rejects_a_missing_settings_module(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["serve", "tests.server.runtime_service:RuntimeServer", "-s", "no_such_settings"]) == 2
    )
    assert "Cannot import settings module 'no_such_settings'" in capsys.readouterr().err


def test_serve_rejects_a_module_without_settings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty_settings.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert (
        main(["serve", "tests.server.runtime_service:RuntimeServer", "-s", "empty_settings"]) == 2
    )
    assert "defines neither SOA_SERVER_SETTINGS nor settings" in capsys.readouterr().err


def test_serve_rejects_invalid_settings_naming_the_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bad_settings.py").write_text("settings = {'harakiri': {'timeout': -1}}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["serve", "tests.server.runtime_service:RuntimeServer", "-s", "bad_settings"]) == 2
    assert "harakiri.timeout" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("servicewire")
    completed = subprocess.run(
        [str(script), "serve", "--help"], check=False, capture_output=True, text=True
    )
    assert completed.returncode == 0
    assert "module:ServerClass" in completed.stdout
    assert "--fork" in completed.stdout
