"""The ``servicewire`` command group, whose commands are imported only when needed."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import click
from click.shell_completion import CompletionItem

__all__ = ["CommandEntry", "LazyGroup"]


class CommandEntry(NamedTuple):
    """A registered command: ``path`` (``module:attribute``) of its click command, and the
    one-line ``summary`` listed by ``servicewire --help``."""

    path: str
    summary: str


class LazyGroup(click.Group):
    """A click group whose commands are imported from ``lazy_commands`` on first use.

    Listing the commands (``--help``, completing a command name) reads the summaries of
    the entries and imports nothing.
    """

    def __init__(
        self, *args: Any, lazy_commands: Mapping[str, CommandEntry], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        # The registry itself, not a copy: a command registered later is listed too.
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.lazy_commands.get(cmd_name)
        if entry is None or cmd_name in self.commands:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = entry.path.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry.path} is not a click command")
        if command.short_help is None:
            command.short_help = entry.summary
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self._summary(name)) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        names = self.list_commands(ctx)
        items = [
            CompletionItem(name, help=self._summary(name))
            for name in names
            if name.startswith(incomplete)
        ]
        # The group's own options (--help, --version), completed as any command's are.
        items.extend(click.Command.shell_complete(self, ctx, incomplete))
        return items

    def _summary(self, name: str) -> str:
        entry = self.lazy_commands.get(name)
        if entry is not None:
            return entry.summary
        return self.commands[name].get_short_help_str()
