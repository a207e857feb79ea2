"""Where ``servicewire dead-letters`` finds dead letters: one small interface per transport.

A transport that keeps dead letters plugs in a :class:`DeadLetterStore` (list, get, requeue,
discard) and one line in :data:`STORES`, mapping its client transport's import path to a
function that builds the store from the transport's kwargs. The SQL transport's store wraps
:class:`servicewire.transport.sql.dead_letters.DeadLetters`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from servicewire.cli.client_settings import SQL_CLIENT_TRANSPORT

__all__ = ["STORES", "DeadLetterRecord", "DeadLetterStore", "SqlDeadLetterStore", "store_for"]


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


class SqlDeadLetterStore:
    """The dead letters of the SQL transport (``url`` and ``table_prefix`` as the transports
    take them)."""

    def __init__(self, url: str | None = None, table_prefix: str = "servicewire_") -> None:
        from servicewire.transport.sql.dead_letters import DeadLetters

        self.dead_letters = DeadLetters(url, table_prefix)
        url_text = self.dead_letters.database.url.render_as_string(hide_password=True)
        self.description = f"SQL transport at {url_text}"

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> SqlDeadLetterStore:
        return cls(kwargs.get("url"), kwargs.get("table_prefix", "servicewire_"))

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
        return self.dead_letters.requeue(_sql_ids(letter_ids))

    def discard(self, letter_ids: Sequence[str]) -> int:
        return self.dead_letters.discard(_sql_ids(letter_ids))

    def close(self) -> None:
        """The database is shared by the process (see ``open_database``); nothing to close."""


def _sql_ids(letter_ids: Sequence[str]) -> list[int]:
    return [int(letter_id) for letter_id in letter_ids if letter_id.isdigit()]


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
        request_id=letter.request_id,
        attempts=letter.attempts,
        enqueued_at=letter.enqueued_at,
        dead_at=letter.dead_at,
        last_error=letter.last_error,
        size=len(letter.payload),
        message=message,
        message_error=message_error,
    )


STORES: dict[str, Callable[[dict[str, Any]], DeadLetterStore]] = {
    SQL_CLIENT_TRANSPORT: SqlDeadLetterStore.from_kwargs,
}
"""The dead-letter store of each client transport (by import path), built from its kwargs."""


def store_for(path: str, kwargs: dict[str, Any]) -> DeadLetterStore | None:
    """The store of the transport ``path`` with ``kwargs``, or ``None`` if it has none."""
    make = STORES.get(path)
    return None if make is None else make(kwargs)
