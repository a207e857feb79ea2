"""JSON output: indented and coloured for a person at a terminal, one plain line for programs."""

from __future__ import annotations

import json

import click
import pytest

from servicewire.cli import output

DATA = {"name": "Ada", "n": 3, "ok": True, "none": None, "items": [1.5, "x"], "empty": {}}


def test_piped_output_is_one_plain_line(capsys: pytest.CaptureFixture[str]) -> None:
    output.echo_json(DATA)
    printed = capsys.readouterr().out
    assert printed == json.dumps(DATA) + "\n"


def test_terminal_output_is_indented_and_coloured(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "to_terminal", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    output.echo_json(DATA)
    printed = capsys.readouterr().out
    assert click.style('"name"', fg="blue") in printed
    assert click.style('"Ada"', fg="green") in printed
    assert click.style("3", fg="cyan") in printed
    assert click.style("true", fg="magenta") in printed
    assert json.loads(click.unstyle(printed)) == DATA
    assert click.unstyle(printed).startswith('{\n  "name": "Ada",\n')


def test_no_color_keeps_the_indentation_and_drops_the_colour(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "to_terminal", lambda: True)
    monkeypatch.setenv("NO_COLOR", "1")
    output.echo_json(DATA)
    printed = capsys.readouterr().out
    assert printed == json.dumps(DATA, indent=2) + "\n"
