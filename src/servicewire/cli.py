"""The ``servicewire`` command.

``servicewire serve module:ServerClass -s settings_module [--fork N] [--no-respawn] [-d]``
runs a service, as ``ServerClass.main()`` would (see :mod:`servicewire.server.runtime`).
Modules are looked up from the current directory too, as a service's own code usually is.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from servicewire import __version__
from servicewire.server.runtime import EXIT_USAGE, add_server_options, serve
from servicewire.server.server import Server
from servicewire.settings import import_path

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="servicewire", description="Services and the clients that call them."
    )
    parser.add_argument("--version", action="version", version=f"servicewire {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve_command = commands.add_parser(
        "serve",
        help="run a service",
        description="Run a service: serve its requests until SIGTERM or SIGINT.",
    )
    serve_command.add_argument(
        "server", metavar="module:ServerClass", help="the Server subclass to run"
    )
    add_server_options(serve_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    options = build_parser().parse_args(argv)
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
    return serve(server_class, options)


if __name__ == "__main__":
    sys.exit(main())
