"""The client guide's examples are real code: the marked ones run, in order, and hold."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "client-guide.md"

EXAMPLE = re.compile(r"<!-- client-guide-example:([^>]*)-->\s*```python\n(.*?)```", re.DOTALL)


def examples() -> list[tuple[str, str]]:
    return [(name.strip(), code) for name, code in EXAMPLE.findall(GUIDE.read_text())]


def test_the_guide_has_its_tested_examples() -> None:
    names = [name for name, _ in examples()]
    for needed in ("one job", "parallel", "futures", "context", "expansions", "asyncio"):
        assert needed in names


def test_the_guide_examples_run_in_order() -> None:
    namespace: dict[str, object] = {"__name__": "client_guide"}
    for name, code in examples():
        exec(compile(code, f"{GUIDE}: {name}", "exec"), namespace)
