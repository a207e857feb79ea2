"""``servicewire migrate-schemas``: a diff by default, the files changed with --write."""

from __future__ import annotations

from pathlib import Path

import pytest

from servicewire.cli import main

ACTION = """from conformity import fields


class PingAction:
    request_schema = fields.Dictionary({"count": fields.Integer(gte=1)})
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "actions.py").write_text(ACTION)
    (tmp_path / "service" / "broken.py").write_text("def (:\n")
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "vendored.py").write_text(ACTION)
    return tmp_path


def test_without_write_it_prints_the_diff_and_changes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate-schemas", str(project)]) == 0
    out, err = capsys.readouterr()
    actions = project / "service" / "actions.py"
    assert actions.read_text() == ACTION
    assert f"--- {actions}\n+++ {actions}\n" in out
    assert "+class PingRequest(BaseModel):" in out
    assert '-    request_schema = fields.Dictionary({"count": fields.Integer(gte=1)})' in out
    assert f"{actions}:4: PingAction.request_schema -> PingRequest" in err
    assert "broken.py: skipped, it does not parse" in err
    assert "vendored" not in out + err


def test_write_changes_the_files(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    actions = project / "service" / "actions.py"
    assert main(["migrate-schemas", "--write", str(actions)]) == 0
    out, _ = capsys.readouterr()
    assert out == ""
    text = actions.read_text()
    assert "    count: Annotated[int, Field(ge=1)]\n" in text
    assert "request_schema = PingRequest" in text
    assert "conformity" not in text
    compile(text, str(actions), "exec")


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["migrate-schemas", str(tmp_path / "nowhere")])
    assert raised.value.code == 2
