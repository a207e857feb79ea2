"""The concurrency and security guide's marked examples are real code: they run and hold."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "concurrency-and-security.md"

EXAMPLE = re.compile(r"<!-- concurrency-guide-example:([^>]*)-->\s*```python\n(.*?)```", re.DOTALL)


def test_the_guide_examples_run() -> None:
    examples = EXAMPLE.findall(GUIDE.read_text())
    assert [name.strip() for name, _ in examples] == ["signed requests"]
    for name, code in examples:
        namespace: dict[str, object] = {"__name__": "concurrency_guide"}
        exec(compile(code, f"{GUIDE}: {name.strip()}", "exec"), namespace)
