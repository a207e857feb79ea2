"""The Redis transport's dead letters for ``servicewire dead-letters`` (kept by servers with
``delivery_guarantee="at_least_once"``): a store over
:class:`servicewire.transport.redis.dead_letters.DeadLetters`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from servicewire.cli.dead_letter_stores import DeadLetterRecord, _record

__all__ = ["RedisDeadLetterStore"]

# The client transport's keys that say where Redis is (the rest concern sending).
_WHERE_KEYS = ("backend_type", "backend_layer_kwargs")


class RedisDeadLetterStore:
    """The dead letters of the Redis servers a Redis client transport's kwargs name."""

    def __init__(self, transport_kwargs: dict[str, Any]) -> None:
        from servicewire.transport.redis.dead_letters import DeadLetters

        self.dead_letters = DeadLetters(
            **{key: transport_kwargs[key] for key in _WHERE_KEYS if key in transport_kwargs}
        )
        self.description = "Redis transport at " + ", ".join(self.dead_letters.backend.hosts)

    def list(self, service: str | None = None, limit: int | None = None) -> list[DeadLetterRecord]:
        return [
            _readable(letter, decode=False)
            for letter in self.dead_letters.list(service, None, limit)
        ]

    def get(self, letter_id: str) -> DeadLetterRecord | None:
        if not letter_id.isdigit():
            return None
        letter = self.dead_letters.get(int(letter_id))
        return None if letter is None else _readable(letter, decode=True)

    def requeue(self, letter_ids: Sequence[str]) -> int:
        return self.dead_letters.requeue(_ids(letter_ids))

    def discard(self, letter_ids: Sequence[str]) -> int:
        return self.dead_letters.discard(_ids(letter_ids))

    def close(self) -> None:
        self.dead_letters.close()


def _readable(letter: Any, decode: bool) -> DeadLetterRecord:
    record = _record(letter, decode)
    if record.request_id is None:  # an unreadable message: shown as -1
        record = dataclasses.replace(record, request_id=-1)
    return record


def _ids(letter_ids: Sequence[str]) -> list[int]:
    return [int(letter_id) for letter_id in letter_ids if letter_id.isdigit()]
