"""``servicewire serve module:ServerClass -s settings_module [--fork N] [--no-respawn] [-d]``.

Runs a service, as ``ServerClass.main()`` would (see :mod:`servicewire.server.runtime`); the
options are those of ``Server.main()``, parsed by the same code. Modules are looked up from
the current directory too, as a service's own code usually is.
"""

from __future__ import annotations

import argparse
import os
import sys

import click

from servicewire.server.runtime import EXIT_USAGE, add_server_options
from servicewire.server.runtime import serve as serve_server
from servicewire.server.server import Server
from servicewire.settings import import_path

__all__ = ["serve"]

DESCRIPTION = "Run a service: serve its requests until SIGTERM or SIGINT."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="servicewire serve", description=DESCRIPTION)
    parser.add_argument("server", metavar="module:ServerClass", help="the Server subclass to run")
    add_server_options(parser)
    return parser


# The arguments go, untouched, to the argparse options Server.main() takes, so that the two
# ways of starting a service cannot drift apart (help and errors included).
@click.command(
    help=DESCRIPTION,
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def serve(arguments: tuple[str, ...]) -> int:
    options = build_parser().parse_args(arguments)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        server_class = import_path(options.server)
    except ImportError as error:
        print(f"servicewire serve: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not (isinstance(server_class, type) and issubclass(server_class, Server)):
        print(
            f"servicewire serve: error: {options.server!r} is not a Server subclass",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return serve_server(server_class, options)
