"""The ``servicewire`` command (also ``python -m servicewire``).

Each command lives in a module of its own under ``servicewire.cli`` and is registered by one
line in :data:`COMMANDS`: its name, the import path of its click command, and the one-line
help ``servicewire --help`` shows. A command's module is imported only when that command
runs, or its arguments are completed, so that ``servicewire --help`` and the completion of
command names stay fast. Commands that call services take the shared options of
:mod:`servicewire.cli.client_settings`; errors end a command with a
:class:`~servicewire.cli.errors.CommandError` and one of the documented
:class:`~servicewire.cli.errors.ExitStatus` values.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click
from click.shell_completion import shell_complete

from servicewire import __version__
from servicewire.cli.errors import CommandError, ExitStatus
from servicewire.cli.group import CommandEntry, LazyGroup

__all__ = ["COMMANDS", "main", "servicewire"]

COMMANDS: dict[str, CommandEntry] = {
    "call": CommandEntry("servicewire.cli.call:call", "Call an action and print its response."),
    "dead-letters": CommandEntry(
        "servicewire.cli.dead_letters:dead_letters", "List, show, retry and purge dead letters."
    ),
    "gateway": CommandEntry(
        "servicewire.cli.gateway:gateway", "Serve actions to HTTP callers, with OpenAPI."
    ),
    "introspect": CommandEntry(
        "servicewire.cli.service_info:introspect", "Describe a service's actions and schemas."
    ),
    "migrate-schemas": CommandEntry(
        "servicewire.cli.migrate_schemas:migrate_schemas",
        "Rewrite Conformity schemas into pydantic models.",
    ),
    "queues": CommandEntry("servicewire.cli.queues:queues", "Show what waits in the queues."),
    "serve": CommandEntry("servicewire.cli.serve:serve", "Run a service."),
    "status": CommandEntry(
        "servicewire.cli.service_info:status", "Show a service's version and health checks."
    ),
}

COMPLETE_VARIABLE = "_SERVICEWIRE_COMPLETE"
"""The environment variable of click's shell completion (see docs/command-line.md)."""


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
@click.version_option(__version__, prog_name="servicewire", message="%(prog)s %(version)s")
def servicewire() -> None:
    """Services and the clients that call them."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status.

    As with argparse, ``--help``, ``--version`` and usage errors raise ``SystemExit``; a
    command's own outcome, errors included, is the returned status.
    """
    instruction = os.environ.get(COMPLETE_VARIABLE)
    if instruction:
        return shell_complete(servicewire, {}, "servicewire", COMPLETE_VARIABLE, instruction)
    arguments = sys.argv[1:] if argv is None else list(argv)
    try:
        with servicewire.make_context("servicewire", arguments) as context:
            status = servicewire.invoke(context)
    except click.exceptions.Exit as exit_request:
        raise SystemExit(exit_request.exit_code) from None
    except CommandError as error:
        error.show()
        return error.exit_code
    except click.ClickException as error:
        error.show()
        raise SystemExit(error.exit_code) from None
    except (click.Abort, KeyboardInterrupt, EOFError):
        click.echo("Aborted.", err=True)
        return int(ExitStatus.SERVICE_ERRORS)
    return int(status or 0)
