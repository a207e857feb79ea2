"""The per-job housekeeping a Django-backed server needs."""

from __future__ import annotations

from typing import Any

from django.core.cache import caches
from django.db import close_old_connections, connections, reset_queries

from servicewire.server.server import Server

__all__ = ["DjangoServer", "with_django_hooks"]


class DjangoServer(Server):
    """Base class of servers whose actions use Django: subclass it instead of ``Server``.

    Around each job, as Django does around each HTTP request, it checks the database
    connections (closing those that are broken, left in a transaction, or older than
    ``CONN_MAX_AGE``, so the next query reconnects) and forgets the queries recorded in
    ``DEBUG`` mode. After each job it closes the caches in use, which empties a
    :class:`~servicewire.server.django.RequestScopedMemoryCache`. At shutdown it closes the
    caches for good and every database connection.

    Django connections belong to a thread: actions that are ``async def`` (or coroutines
    they schedule) run on the event loop's thread, where Django's ORM refuses to run
    unless wrapped with ``asgiref.sync.sync_to_async``.
    """

    def perform_pre_request_actions(self) -> None:
        super().perform_pre_request_actions()
        reset_queries()
        close_old_connections()

    def perform_post_request_actions(self) -> None:
        try:
            for cache in caches.all(initialized_only=True):
                cache.close()
            close_old_connections()
        finally:
            super().perform_post_request_actions()

    def teardown(self) -> None:
        # Coroutines still running may use the database: the event loop stops first.
        try:
            super().teardown()
        finally:
            for cache in caches.all(initialized_only=True):
                cache.close(for_shutdown=True)
            connections.close_all()


def with_django_hooks(server_class: type[Server]) -> type[Server]:
    """``server_class`` with :class:`DjangoServer`'s housekeeping (itself if it has it)."""
    if issubclass(server_class, DjangoServer):
        return server_class
    namespace: dict[str, Any] = {
        "__module__": server_class.__module__,
        "__qualname__": server_class.__qualname__,
        "__doc__": server_class.__doc__,
    }
    return type(server_class.__name__, (DjangoServer, server_class), namespace)
