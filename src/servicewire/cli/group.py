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
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.lazy_commands.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = entry.path.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry.path} is not a click command")
        if command.short_help is None:
            command.short_help = entry.summary
        self.add_command(command, cmd_name)
        del self.lazy_commands[cmd_name]
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, entry.summary) for name, entry in self.lazy_commands.items()]
        rows += [
            (name, command.get_short_help_str(formatter.width))
            for name, command in self.commands.items()
            if not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))

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
