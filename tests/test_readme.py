"""The README's example is real code: it runs and prints what it promises."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- readme-example:[^>]*-->\s*```python\n(.*?)```", text, flags=re.DOTALL)
    assert match, "the README lost its tested example"
    return match.group(1)


def test_readme_example_is_at_most_about_twenty_lines_of_code() -> None:
    code_lines = [line for line in readme_example().splitlines() if line.strip()]
    assert len(code_lines) <= 26


def test_readme_example_greets(capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(readme_example(), str(README), "exec"), {"__name__": "readme_example"})
    assert capsys.readouterr().out == "Hello, Ada!\n"
