"""Exit statuses of the ``servicewire`` command, and the error that ends a command with one.

Every failure a user can cause or meet (a bad option, bad settings, malformed JSON, a
service that does not answer) ends the command with one line on stderr and its own exit
status, never a traceback, so that scripts and health probes can tell them apart.
"""

from __future__ import annotations

import enum
from typing import IO

import click

__all__ = ["CommandError", "ExitStatus"]


class ExitStatus(enum.IntEnum):
    """The exit statuses of ``servicewire`` commands (documented in docs/command-line.md)."""

    OK = 0
    # The service answered with errors (action or job errors); a health check failed.
    SERVICE_ERRORS = 1
    # A bad option or argument (click's and argparse's own status for usage errors).
    USAGE = 2
    # The client settings (module, file or transport URL) are invalid or cannot be read.
    INVALID_SETTINGS = 3
    # A JSON argument (body, context, switches) or body file is not valid JSON.
    MALFORMED_JSON = 4
    # The request body does not match the action's request schema.
    INVALID_REQUEST = 5
    # The service is not configured, or has no such action.
    UNKNOWN_SERVICE = 6
    # The transport cannot be reached (database or Redis down, wrong address).
    UNREACHABLE = 7
    # The service did not answer in time (it may not be running).
    TIMEOUT = 8


class CommandError(click.ClickException):
    """Ends a command: prints ``servicewire COMMAND: error: MESSAGE`` (on one line) and exits
    with ``status``."""

    def __init__(self, message: str, status: ExitStatus) -> None:
        super().__init__(" ".join(message.split()))
        self.status = status
        # click declares the status a class attribute; each error here carries its own.
        self.exit_code = int(status)  # type: ignore[misc]
        # The command's name prefixes the message; the context is gone by the time it shows.
        context = click.get_current_context(silent=True)
        self.command_path = context.command_path if context is not None else "servicewire"

    def show(self, file: IO[str] | None = None) -> None:
        click.echo(f"{self.command_path}: error: {self.format_message()}", err=True, file=file)
