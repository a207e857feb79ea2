"""PySOA code, with only its imports rewritten, runs on servicewire.

``pysoa_code/`` holds a PySOA 1.4.9 service (Conformity schemas, a switched action, an
action calling another service through ``client_routing``, a Django service with PySOA's
cache backends), client code with expansions, and their tests written against PySOA's
``PyTestServerTestCase`` (``assertIn``, ``assertRaises``, ``setUp``, ``addCleanup``,
``stub_action``, ``raises_*``). Here they are rewritten with the guide's ``sed`` command and
run by pytest in a process of their own.
"""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compat.rewriting import PYSOA_CODE, rewritten_copy

PYSOA_TESTS = 22


@pytest.fixture(scope="module")
def rewritten(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rewritten_copy(tmp_path_factory.mktemp("migrated"))


def test_the_rewrite_changes_only_pysoa_and_conformity_names(rewritten: Path) -> None:
    changed = 0
    for original in sorted(PYSOA_CODE.rglob("*.py")):
        before = original.read_text().splitlines()
        after = (rewritten / original.relative_to(PYSOA_CODE)).read_text().splitlines()
        for line in difflib.unified_diff(before, after, lineterm="", n=0):
            if line.startswith("+") and not line.startswith("+++"):
                changed += 1
                assert "servicewire.compat." in line, line
                assert line[1:].replace("servicewire.compat.", "") in before, line
    assert changed > 20


def run_pysoa_tests(code: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error::pytest.PytestUnraisableExceptionWarning",
            str(code),
        ],
        cwd=code,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_pysoa_tests_pass_on_servicewire(rewritten: Path) -> None:
    completed = run_pysoa_tests(rewritten)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    summary = completed.stdout.strip().splitlines()[-1]
    assert re.search(rf"\b{PYSOA_TESTS} passed\b", summary), completed.stdout
    assert "PySOAMigrationWarning" in completed.stdout, "the migration warning was not shown"


def test_the_pysoa_tests_still_pass_once_the_schemas_are_pydantic_models(
    tmp_path: Path, rewritten: Path
) -> None:
    code = tmp_path / "pysoa_code"
    shutil.copytree(rewritten, code)
    completed = subprocess.run(
        [sys.executable, "-m", "servicewire", "migrate-schemas", "--write", str(code)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "GetUserActionV1.request_schema -> GetUserActionV1Request" in completed.stderr
    assert "CountAction.response_schema -> CountResponse" in completed.stderr
    assert (
        "class GetUserActionV1Request(BaseModel):"
        in (code / "user_service" / "actions.py").read_text()
    )
    tests = run_pysoa_tests(code)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(rf"\b{PYSOA_TESTS} passed\b", tests.stdout.strip().splitlines()[-1])
