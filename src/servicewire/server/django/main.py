"""The command-line entry point of a Django-backed service."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, cast

from servicewire.server.django.server import with_django_hooks
from servicewire.server.server import Server

__all__ = ["django_main"]


def django_main(server_getter: Callable[[], type[Server]]) -> None:
    """Set Django up, then run the server class ``server_getter`` returns with its ``main()``.

    The Django settings module is the ``-s``/``--settings`` argument or, failing that, the
    ``DJANGO_SETTINGS_MODULE`` environment variable; without either the process exits with
    an error. The argument stays in ``sys.argv`` for ``main()``, which reads the same
    module's ``SOA_SERVER_SETTINGS``. ``server_getter`` is called after ``django.setup()``,
    so the server's module may import models. The class runs with
    :class:`~servicewire.server.django.DjangoServer`'s per-job housekeeping, mixed in if it
    does not already have it.

    Use it in the service's ``__main__``: ``django_main(lambda: MyServer)``.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-s", "--settings")
    arguments, _ = parser.parse_known_args(sys.argv[1:])
    settings_module = arguments.settings or os.environ.get("DJANGO_SETTINGS_MODULE")
    if not settings_module:
        sys.exit(
            "A Django service needs its settings module: pass -s/--settings or set "
            "DJANGO_SETTINGS_MODULE"
        )
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module

    import django

    django.setup()
    server_class = with_django_hooks(server_getter())
    # main() is the process runtime's entry point (signals, forking, harakiri).
    cast(Any, server_class).main()
