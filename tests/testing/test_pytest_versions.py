"""The pytest plugin works with each supported major version of pytest: the plugin's own tests
(tests/testing/test_pytest_plugin.py) pass in a fresh process of each, which loads the plugin
through its entry point."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.pytest_versions import pytest_command
from tests.support.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_TESTS = "tests/testing/test_pytest_plugin.py"


@pytest.mark.parametrize("major", [8, 9])
def test_the_plugin_tests_pass_under_pytest(major: int) -> None:
    try:
        command = pytest_command(major)
    except subprocess.CalledProcessError as error:
        unavailable(f"cannot install pytest {major}: {error.stderr or error}")
    result = subprocess.run(
        [*command, "-p", "no:cacheprovider", "-p", "no:hypothesispytest", PLUGIN_TESTS],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    header = re.search(r"platform \S+ -- Python \S+, pytest-(\d+)\.", output)
    assert header is not None, output
    assert int(header.group(1)) == major
    assert re.search(r"plugins: .*servicewire-", output), output
    summary = output.strip().splitlines()[-1]
    assert re.fullmatch(r"=+ \d+ passed in [\d.]+s( \(.*\))? =+", summary), summary
