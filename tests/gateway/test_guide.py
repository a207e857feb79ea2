"""The gateway guide's marked examples are real code: they run and hold."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"

EXAMPLE = re.compile(r"<!-- gateway-guide-example:([^>]*)-->\s*```python\n(.*?)```", re.DOTALL)


def test_the_guide_examples_run() -> None:
    examples = EXAMPLE.findall(GUIDE.read_text())
    assert [name.strip() for name, _ in examples] == ["in-process"]
    for name, code in examples:
        namespace: dict[str, object] = {"__name__": "gateway_guide"}
        exec(compile(code, f"{GUIDE}: {name.strip()}", "exec"), namespace)


def test_the_guide_shows_the_screenshots_the_browser_test_takes() -> None:
    images = re.findall(r"\]\((images/[^)]+\.png)\)", GUIDE.read_text())
    assert images == [
        "images/gateway-explorer.png",
        "images/gateway-call.png",
        "images/gateway-error.png",
    ]
    for image in images:
        assert (GUIDE.parent / image).stat().st_size > 0
