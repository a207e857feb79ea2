"""Waiting for work without wasting it: polls that back off, and PostgreSQL notifications.

A receiver loops: take a :meth:`Waiter.token`, look in the database, and if nothing is
there :meth:`Waiter.wait` with the token. The token makes the pair race-free: anything
signalled after the token was taken ends the wait at once. Two equal tokens mean that
nothing was signalled in between (a polling waiter never gives equal tokens).

- SQLite has no notifications: :class:`PollingWaiter` sleeps a little (from 0.1 ms), half
  as long again each time nothing came, up to the maximum poll interval (25 ms by
  default); finding work resets it, so a busy receiver looks again at once and an idle one
  costs a few cheap reads a second.
- PostgreSQL: :class:`PostgresListener` holds one connection that ``LISTEN``\\ s on the
  receiver's channels, and senders ``NOTIFY`` in the statement that writes the row, so an
  idle receiver wakes within milliseconds. Waits are still bounded by the maximum poll
  interval, because some work appears without a notification (a lease that runs out) and
  because the listening connection may drop (the listener then reconnects, and receivers
  poll meanwhile).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from servicewire.transport.sql.database import Database

__all__ = [
    "PollingWaiter",
    "PostgresListener",
    "PostgresWaiter",
    "Waiter",
    "new_listener",
    "new_waiter",
]

_logger = logging.getLogger("servicewire.transport.sql")

FIRST_POLL_INTERVAL = 0.0001
POLL_BACK_OFF = 1.5
SQLITE_MAXIMUM_POLL_INTERVAL = 0.025
POSTGRES_MAXIMUM_POLL_INTERVAL = 1.0


class Waiter(Protocol):
    def token(self) -> int:
        """Call before looking in the database; pass the result to :meth:`wait`. Equal
        tokens: nothing was signalled in between."""

    def wait(self, token: int, timeout: float) -> None:
        """Wait at most ``timeout`` seconds for something to look at."""

    def reset(self) -> None:
        """Something was found: the next wait starts short again."""


class PollingWaiter:
    """Exponential back-off between ``FIRST_POLL_INTERVAL`` and ``maximum_interval``."""

    def __init__(self, maximum_interval: float) -> None:
        self.maximum_interval = maximum_interval
        self._interval = FIRST_POLL_INTERVAL
        self._tokens = 0

    def token(self) -> int:
        self._tokens += 1
        return self._tokens

    def wait(self, token: int, timeout: float) -> None:
        time.sleep(max(0.0, min(self._interval, timeout)))
        self._interval = min(self._interval * POLL_BACK_OFF, self.maximum_interval)

    def reset(self) -> None:
        self._interval = FIRST_POLL_INTERVAL


class PostgresListener:
    """One ``LISTEN`` connection shared by the threads of one transport.

    One waiting thread at a time reads the connection (the leader); the others wait on a
    condition for the generation counter to move. Every notification moves it, so each
    waiter wakes and looks for its own work.
    """

    def __init__(
        self, connect_kwargs: dict[str, Any], channels: Iterable[str], description: str
    ) -> None:
        self._connect_kwargs = connect_kwargs
        self._channels = tuple(channels)
        self._description = description
        self._condition = threading.Condition()
        self._generation = 0
        self._leader = False
        self._connection: Any = None
        self._closed = False

    def _connected(self) -> Any:
        if self._connection is None:
            import psycopg

            connection = psycopg.connect(**self._connect_kwargs, autocommit=True)
            for channel in self._channels:
                connection.execute(f'LISTEN "{channel}"')
            self._connection = connection
        return self._connection

    def token(self) -> int:
        """The current generation; listening has started when this returns (if it can)."""
        with self._condition:
            if self._connection is None and not self._leader and not self._closed:
                # Whatever was notified while nobody listened is lost: a new generation
                # makes every receiver look.
                self._generation += 1
                try:
                    self._connected()
                except Exception as error:
                    _logger.warning("Cannot listen for %s: %s", self._description, error)
            return self._generation

    def wait(self, token: int, timeout: float) -> None:
        with self._condition:
            if self._generation != token or self._closed:
                return
            if self._leader:
                self._condition.wait(timeout)
                return
            self._leader = True
        notified = False
        try:
            notified = self._read(timeout)
        finally:
            with self._condition:
                self._leader = False
                if self._closed:
                    self._drop_connection()
                if notified:
                    self._generation += 1
                # Followers re-check either way; one of them leads the next wait.
                self._condition.notify_all()

    def _read(self, timeout: float) -> bool:
        try:
            connection = self._connected()
            for _notification in connection.notifies(timeout=timeout, stop_after=1):
                return True
        except Exception as error:
            if self._closed:
                return False
            _logger.warning(
                "Lost the connection listening for %s (%s); polling until it is back",
                self._description,
                error,
            )
            self._drop_connection()
            time.sleep(min(timeout, 0.5))
            return True
        return False

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            if not self._leader:
                self._drop_connection()
            self._condition.notify_all()


class PostgresWaiter:
    """A :class:`Waiter` over a shared :class:`PostgresListener`, bounded by the maximum
    poll interval."""

    def __init__(self, listener: PostgresListener, maximum_interval: float) -> None:
        self.listener = listener
        self.maximum_interval = maximum_interval

    def token(self) -> int:
        return self.listener.token()

    def wait(self, token: int, timeout: float) -> None:
        self.listener.wait(token, min(timeout, self.maximum_interval))

    def reset(self) -> None:
        pass


def new_listener(
    database: Database, channels: Iterable[str], description: str
) -> PostgresListener | None:
    """A listener on ``channels`` for PostgreSQL; ``None`` for SQLite (which polls)."""
    if not database.is_postgresql:
        return None
    return PostgresListener(database.psycopg_connect_kwargs(), channels, description)


def new_waiter(listener: PostgresListener | None, maximum_interval: float | None) -> Waiter:
    """A waiter over ``listener`` (from :func:`new_listener`), or a polling one."""
    if listener is None:
        return PollingWaiter(maximum_interval or SQLITE_MAXIMUM_POLL_INTERVAL)
    return PostgresWaiter(listener, maximum_interval or POSTGRES_MAXIMUM_POLL_INTERVAL)
