"""The guide to auxiliary actions and server events: its marked examples run, in order,
and hold."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "auxiliary-actions-and-events.md"

EXAMPLE = re.compile(r"<!-- guide-example:([^>]*)-->\s*```python\n(.*?)```", re.DOTALL)


def test_the_guide_examples_run_in_order() -> None:
    examples = EXAMPLE.findall(GUIDE.read_text())
    assert [name.strip() for name, _ in examples] == ["audit trail"]
    namespace: dict[str, object] = {"__name__": "auxiliary_guide"}
    for name, code in examples:
        exec(compile(code, f"{GUIDE}: {name.strip()}", "exec"), namespace)
