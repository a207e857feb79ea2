"""How commands print: JSON pretty and coloured on a terminal, plain when piped.

Colour follows the usual conventions: only when standard output is a terminal, never when
``NO_COLOR`` is set (https://no-color.org), always when ``FORCE_COLOR`` is.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

__all__ = ["colour_enabled", "echo_json", "render_json", "to_terminal"]

_KEY = "blue"
_STRING = "green"
_NUMBER = "cyan"
_CONSTANT = "magenta"


def to_terminal() -> bool:
    """Whether standard output is a terminal (a person reads it, not a program)."""
    return sys.stdout.isatty()


def colour_enabled() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or to_terminal()


def echo_json(data: Any, pretty: bool | None = None, err: bool = False) -> None:
    """Print ``data`` as JSON: indented and coloured for a terminal (``pretty`` forces either
    way), one plain line for a program."""
    if pretty is None:
        pretty = to_terminal()
    if not pretty:
        click.echo(json.dumps(data, ensure_ascii=False, default=str), err=err)
        return
    click.echo(render_json(data, colour=colour_enabled()), err=err, color=colour_enabled())


def render_json(data: Any, colour: bool, indent: int = 0) -> str:
    """``data`` as indented JSON, with keys, strings, numbers and constants coloured."""

    def styled(text: str, colour_name: str) -> str:
        return click.style(text, fg=colour_name) if colour else text

    padding = "  " * (indent + 1)
    closing = "  " * indent
    if isinstance(data, dict) and data:
        items = [
            f"{padding}{styled(json.dumps(str(key), ensure_ascii=False), _KEY)}: "
            f"{render_json(value, colour, indent + 1)}"
            for key, value in data.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{closing}}}"
    if isinstance(data, (list, tuple)) and data:
        items = [f"{padding}{render_json(value, colour, indent + 1)}" for value in data]
        return "[\n" + ",\n".join(items) + f"\n{closing}]"
    text = json.dumps(data, ensure_ascii=False, default=str)
    if isinstance(data, str):
        return styled(text, _STRING)
    if isinstance(data, bool) or data is None:
        return styled(text, _CONSTANT)
    if isinstance(data, (int, float)):
        return styled(text, _NUMBER)
    return text
