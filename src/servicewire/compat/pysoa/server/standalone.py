"""PySOA's ``pysoa.server.standalone``: a service's ``__main__`` entry points."""

from __future__ import annotations

from collections.abc import Callable

from servicewire.server.server import Server

__all__ = ["django_main", "simple_main"]


def simple_main(server_getter: Callable[[], type[Server]]) -> None:
    """Run the server class ``server_getter`` returns, from the command line
    (``Server.main()``: ``-s/--settings``, ``--fork``, ...)."""
    server_getter().main()


def django_main(server_getter: Callable[[], type[Server]]) -> None:
    """:func:`servicewire.server.django.django_main` (needs ``servicewire[django]``)."""
    from servicewire.server.django import django_main as run_with_django

    run_with_django(server_getter)
