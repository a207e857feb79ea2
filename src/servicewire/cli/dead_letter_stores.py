"""Where ``servicewire dead-letters`` finds dead letters: one small interface per transport.

A transport that keeps dead letters plugs in a :class:`DeadLetterStore` (list, get, requeue,
discard) and one line in :data:`STORES`, mapping its client transport's import path to a
function that builds the store from the transport's kwargs. The SQL and Redis transports'
stores are one :class:`TransportDeadLetterStore` over each transport's ``DeadLetters``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from servicewire.cli.client_settings import REDIS_CLIENT_TRANSPORT, SQL_CLIENT_TRANSPORT

__all__ = ["STORES", "DeadLetterRecord", "DeadLetterStore", "TransportDeadLetterStore", "store_for"]


@dataclasses.dataclass(frozen=True)
class DeadLetterRecord:
    """One dead letter, whatever the transport.

    ``id`` is the store's own (a string, so any transport's ids fit); ``consumer`` the
    fan-out consumer it died for (``None`` for a work-queue request); ``message`` the
    decoded ``{"meta": ..., "body": ...}``, or ``None`` with ``message_error`` saying why it
    cannot be decoded; times are epoch seconds.
    """

    id: str
    service: str
    consumer: str | None
    request_id: int
    attempts: int
    enqueued_at: float | None
    dead_at: float
    last_error: str
    size: int
    message: dict[str, Any] | None = None
    message_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class DeadLetterStore(Protocol):
    """The dead letters of one transport's installation."""

    description: str

    def list(self, service: str | None = None, limit: int | None = None) -> list[DeadLetterRecord]:
        """Dead letters, oldest first (of one service, or all), at most ``limit``."""

    def get(self, letter_id: str) -> DeadLetterRecord | None:
        """One dead letter with its message, or ``None``."""

    def requeue(self, letter_ids: Sequence[str]) -> int:
        """Deliver these dead letters again (each leaves the dead letters); return how many."""

    def discard(self, letter_ids: Sequence[str]) -> int:
        """Delete these dead letters for good; return how many."""

    def close(self) -> None: ...


class TransportDeadLetterStore:
    """A :class:`DeadLetterStore` over a transport's own ``DeadLetters`` (the SQL and the
    Redis transports keep one each, with the same ``list``/``get``/``requeue``/``discard``)."""

    def __init__(self, dead_letters: Any, description: str) -> None:
        self.dead_letters = dead_letters
        self.description = description

    def list(self, service: str | None = None, limit: int | None = None) -> list[DeadLetterRecord]:
        return [
            _record(letter, decode=False) for letter in self.dead_letters.list(service, None, limit)
        ]

    def get(self, letter_id: str) -> DeadLetterRecord | None:
        if not letter_id.isdigit():
            return None
        letter = self.dead_letters.get(int(letter_id))
        return None if letter is None else _record(letter, decode=True)

    def requeue(self, letter_ids: Sequence[str]) -> int:
        return int(self.dead_letters.requeue(_numeric_ids(letter_ids)))

    def discard(self, letter_ids: Sequence[str]) -> int:
        return int(self.dead_letters.discard(_numeric_ids(letter_ids)))

    def close(self) -> None:
        # The SQL database is shared by the process (see ``open_database``) and has no close.
        close = getattr(self.dead_letters, "close", None)
        if close is not None:
            close()


def _numeric_ids(letter_ids: Sequence[str]) -> list[int]:
    return [int(letter_id) for letter_id in letter_ids if letter_id.isdigit()]


def _sql_store(kwargs: dict[str, Any]) -> DeadLetterStore:
    from servicewire.transport.sql.dead_letters import DeadLetters

    dead_letters = DeadLetters(kwargs.get("url"), kwargs.get("table_prefix", "servicewire_"))
    url_text = dead_letters.database.url.render_as_string(hide_password=True)
    return TransportDeadLetterStore(dead_letters, f"SQL transport at {url_text}")


# The Redis client transport's keys that say where Redis is (the rest concern sending).
_REDIS_WHERE_KEYS = ("backend_type", "backend_layer_kwargs")


def _redis_store(kwargs: dict[str, Any]) -> DeadLetterStore:
    from servicewire.transport.redis.dead_letters import DeadLetters

    dead_letters = DeadLetters(**{key: kwargs[key] for key in _REDIS_WHERE_KEYS if key in kwargs})
    hosts = ", ".join(dead_letters.backend.hosts)
    return TransportDeadLetterStore(dead_letters, f"Redis transport at {hosts}")


def _record(letter: Any, decode: bool) -> DeadLetterRecord:
    message: dict[str, Any] | None = None
    message_error: str | None = None
    if decode:
        try:
            meta, body = letter.message()
        except Exception as error:  # whatever made it a dead letter may be undecodable
            message_error = str(error) or type(error).__name__
        else:
            message = {"meta": meta, "body": body}
    return DeadLetterRecord(
        id=str(letter.id),
        service=letter.service,
        consumer=letter.consumer,
        # A Redis dead letter whose message cannot be read has no request id: shown as -1.
        request_id=-1 if letter.request_id is None else letter.request_id,
        attempts=letter.attempts,
        enqueued_at=letter.enqueued_at,
        dead_at=letter.dead_at,
        last_error=letter.last_error,
        size=len(letter.payload),
        message=message,
        message_error=message_error,
    )


STORES: dict[str, Callable[[dict[str, Any]], DeadLetterStore]] = {
    SQL_CLIENT_TRANSPORT: _sql_store,
    REDIS_CLIENT_TRANSPORT: _redis_store,
}
"""The dead-letter store of each client transport (by import path), built from its kwargs."""


def store_for(path: str, kwargs: dict[str, Any]) -> DeadLetterStore | None:
    """The store of the transport ``path`` with ``kwargs``, or ``None`` if it has none."""
    make = STORES.get(path)
    return None if make is None else make(kwargs)
