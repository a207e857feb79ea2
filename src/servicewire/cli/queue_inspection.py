"""What is waiting in a transport's queues, read without taking anything from them.

:func:`inspector_for` gives the inspector of a client transport (``None`` for a transport
that keeps no queues, such as the local one). The SQL inspector reports, per service, the
requests waiting, the oldest one's age, those a server has taken and not yet finished
(in flight), fan-out consumers' backlogs and leases, and the dead letters; the Redis one
the depth of each service's request queue (Redis keeps no more than that about a queue).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol

from servicewire.cli.client_settings import REDIS_CLIENT_TRANSPORT, SQL_CLIENT_TRANSPORT

__all__ = [
    "INSPECTORS",
    "QueueInspector",
    "QueueStatistics",
    "RedisQueueInspector",
    "SqlQueueInspector",
    "inspector_for",
]


@dataclasses.dataclass(frozen=True)
class QueueStatistics:
    """One service's queue. ``None`` means the transport cannot tell.

    ``waiting``: requests no server has taken; ``oldest_age_in_seconds``: how long the
    oldest of them has waited; ``in_flight``: requests taken by a server and not finished
    (work queue) plus messages leased by fan-out consumers; ``consumers``: fan-out
    consumers with their backlog; ``dead_letters``: messages given up on.
    """

    service: str
    waiting: int
    oldest_age_in_seconds: float | None = None
    in_flight: int | None = None
    dead_letters: int | None = None
    consumers: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class QueueInspector(Protocol):
    """Reads a transport's queues."""

    description: str

    def statistics(self) -> list[QueueStatistics]:
        """Every service with something queued (or dead), by name."""

    def services(self) -> list[str]:
        """The services the transport knows of (those with queues)."""

    def close(self) -> None: ...


class SqlQueueInspector:
    """The queues of the SQL transport's tables (``url`` and ``table_prefix`` as the
    transports take them)."""

    def __init__(self, url: str | None = None, table_prefix: str = "servicewire_") -> None:
        from servicewire.transport.sql.database import open_database
        from servicewire.transport.sql.settings import default_database_url

        self.database = open_database(url or default_database_url(), table_prefix)
        url_text = self.database.url.render_as_string(hide_password=True)
        self.description = f"SQL transport at {url_text}"

    def statistics(self) -> list[QueueStatistics]:
        from sqlalchemy import func, select

        tables = self.database.tables
        requests, dead = tables.requests, tables.dead_letters
        messages, cursors = tables.fanout_messages, tables.fanout_cursors
        now = time.time()

        def read(connection: Any) -> list[QueueStatistics]:
            waiting = connection.execute(
                select(requests.c.service, func.count(), func.min(requests.c.enqueued_at))
                .where(requests.c.taken_by.is_(None))
                .group_by(requests.c.service)
            ).all()
            taken = connection.execute(
                select(requests.c.service, func.count())
                .where(requests.c.taken_by.is_not(None))
                .group_by(requests.c.service)
            ).all()
            dead_counts = connection.execute(
                select(dead.c.service, func.count()).group_by(dead.c.service)
            ).all()
            backlog = connection.execute(
                select(cursors.c.service, cursors.c.consumer, func.count(messages.c.id))
                .select_from(cursors)
                .outerjoin(
                    messages,
                    (messages.c.service == cursors.c.service)
                    & (messages.c.id > cursors.c.position),
                )
                .group_by(cursors.c.service, cursors.c.consumer)
            ).all()
            leased = connection.execute(
                select(cursors.c.service, func.count())
                .where(cursors.c.lease_until > now, cursors.c.current_id.is_not(None))
                .group_by(cursors.c.service)
            ).all()
            return _combine(now, waiting, taken, dead_counts, backlog, leased)

        return self.database.run(read, durable=False)

    def services(self) -> list[str]:
        return [statistics.service for statistics in self.statistics()]

    def close(self) -> None:
        """The database is shared by the process (see ``open_database``); nothing to close."""


def _combine(
    now: float,
    waiting: list[Any],
    taken: list[Any],
    dead_counts: list[Any],
    backlog: list[Any],
    leased: list[Any],
) -> list[QueueStatistics]:
    services: dict[str, dict[str, Any]] = {}

    def entry(service: str) -> dict[str, Any]:
        return services.setdefault(service, {"waiting": 0, "in_flight": 0, "dead_letters": 0})

    for service, count, oldest in waiting:
        entry(service).update(waiting=count, oldest_age_in_seconds=max(0.0, now - oldest))
    for service, count in taken:
        entry(service)["in_flight"] += count
    for service, count in leased:
        entry(service)["in_flight"] += count
    for service, count in dead_counts:
        entry(service)["dead_letters"] = count
    for service, consumer, count in backlog:
        consumers = entry(service).setdefault("consumers", {})
        consumers[consumer] = count
    return [QueueStatistics(service, **fields) for service, fields in sorted(services.items())]


class RedisQueueInspector:
    """The request queues of the Redis transport (its settings as the client takes them):
    ``LLEN`` of each ``pysoa:service.<name>`` list on every host."""

    def __init__(self, **transport_kwargs: Any) -> None:
        from servicewire.errors import InvalidSettings
        from servicewire.transport.redis.backend import RedisBackend
        from servicewire.transport.redis.settings import RedisClientTransportSettings

        try:
            settings = RedisClientTransportSettings.model_validate(transport_kwargs)
        except ValueError as error:
            raise InvalidSettings(f"Invalid settings of the Redis transport: {error}") from None
        self.backend = RedisBackend(settings)
        self.description = "Redis transport at " + ", ".join(self.backend.hosts)

    def _clients(self) -> list[Any]:
        import redis

        return [redis.Redis(connection_pool=pool) for pool in self.backend.pools]

    def statistics(self) -> list[QueueStatistics]:
        from servicewire.transport.redis.protocol import (
            QUEUE_NAME_PREFIX,
            REPLY_QUEUE_SPECIFIER,
        )

        prefix = f"{QUEUE_NAME_PREFIX}service."
        depths: dict[str, int] = {}
        for client in self._clients():
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                name = key.decode()[len(prefix) :]
                # Reply queues are named service.<name>.<client id>!<receiver>.
                if REPLY_QUEUE_SPECIFIER in name:
                    continue
                depth = client.llen(key) if client.type(key) == b"list" else 0
                depths[name] = depths.get(name, 0) + int(depth)
        return [QueueStatistics(service, depth) for service, depth in sorted(depths.items())]

    def services(self) -> list[str]:
        return [statistics.service for statistics in self.statistics()]

    def close(self) -> None:
        self.backend.close()


def _sql_inspector(kwargs: dict[str, Any]) -> QueueInspector:
    return SqlQueueInspector(kwargs.get("url"), kwargs.get("table_prefix", "servicewire_"))


def _redis_inspector(kwargs: dict[str, Any]) -> QueueInspector:
    return RedisQueueInspector(**kwargs)


INSPECTORS: dict[str, Callable[[dict[str, Any]], QueueInspector]] = {
    SQL_CLIENT_TRANSPORT: _sql_inspector,
    REDIS_CLIENT_TRANSPORT: _redis_inspector,
}
"""The inspector of each client transport (by import path), built from its kwargs."""


def inspector_for(path: str, kwargs: dict[str, Any]) -> QueueInspector | None:
    """The inspector of the transport ``path`` with ``kwargs``, or ``None`` if it keeps no
    queues this command can read."""
    make = INSPECTORS.get(path)
    return None if make is None else make(kwargs)
