"""The testing guide's examples are real code: its files and test examples make a project
whose tests pass, and the failure it shows is the one pytest reports."""

from __future__ import annotations

import re
import unittest.mock  # noqa: F401 - before any inner session, see test_pytest_plugin.py
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "testing-guide.md"
TEXT = GUIDE.read_text()

FILE = re.compile(r"<!-- testing-guide-file: (\S+) -->\s*```\w+\n(.*?)```", re.DOTALL)
EXAMPLE = re.compile(r"<!-- testing-guide-example:([^>]*)-->\s*```python\n(.*?)```", re.DOTALL)
FAILING = re.compile(r"<!-- testing-guide-failing-example -->\s*```python\n(.*?)```", re.DOTALL)
FAILURE = re.compile(r"<!-- testing-guide-failure -->\s*```text\n(.*?)```", re.DOTALL)

HELPERS = [
    "stub_action(",
    "call_body",
    "call_bodies",
    "side_effect",
    "@stub_action",
    "mock.patch",
    "AsyncClient",
    "expansions=",
    "contracts.register",
    "contract=False",
    "StubContractError",
    "StubClient(",
    "StubClientTransport",
    "StubServer(",
    "ServerTestCase",
    "PyTestServerTestCase",
    "assertActionRunsWithAndReturnErrors",
    "assertActionRunsWithErrorCodes",
    "assertActionRunsWithFieldErrors",
    "assertActionRunsWithOnlyErrorCodes",
    "assertActionRunsWithOnlyFieldErrors",
    "raises_call_action_error",
    "raises_error_codes",
    "raises_field_errors",
    "raises_only_error_codes",
    "raises_only_field_errors",
    "servicewire_client",
    "servicewire_server(",
    "def test_the_stub_action_fixture(stub_action)",
]


def write_project(pytester: pytest.Pytester) -> None:
    for name, content in FILE.findall(TEXT):
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent != pytester.path:
            (path.parent / "__init__.py").touch()
        path.write_text(content)
    pytester.syspathinsert()


def test_every_helper_has_an_example() -> None:
    code = "\n".join(code for _, code in [*EXAMPLE.findall(TEXT), *FILE.findall(TEXT)])
    assert [helper for helper in HELPERS if helper not in code] == []


def test_the_examples_pass(pytester: pytest.Pytester) -> None:
    write_project(pytester)
    examples = EXAMPLE.findall(TEXT)
    pytester.makepyfile(test_guide="\n\n".join(code for _, code in examples))
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-W", "error"
    )
    tests = len(re.findall(r"^\s*(?:async )?def test_", "\n".join(c for _, c in examples), re.M))
    result.assert_outcomes(passed=tests)


def test_the_failure_shown_is_the_one_reported(pytester: pytest.Pytester) -> None:
    write_project(pytester)
    imports = dict(EXAMPLE.findall(TEXT))[" imports "]
    (failing,) = FAILING.findall(TEXT)
    (failure,) = FAILURE.findall(TEXT)
    pytester.makepyfile(test_failing=imports + "\n\n" + failing)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"E   *{line.strip()}" for line in failure.splitlines()])
