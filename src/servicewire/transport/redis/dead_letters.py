"""Dead letters over Redis: requests given up on, kept with their last error until someone
decides.

Under ``delivery_guarantee="at_least_once"`` a request becomes a dead letter when it was
delivered ``max_attempts`` times and its server died each time, or when it cannot be read.
:class:`DeadLetters` has the interface of the SQL transport's
(:class:`servicewire.transport.sql.DeadLetters`): list, get, requeue (to the end of the
service's queue, with a fresh expiry), discard and purge. The keys are described in
:mod:`servicewire.transport.redis.delivery`.

An id tells the host it lives on among several: ``id = number * host_count + host``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from servicewire.errors import InvalidField, InvalidMessage, InvalidMessageError
from servicewire.serializer.msgpack import MsgpackSerializer
from servicewire.transport.redis.backend import RedisBackend
from servicewire.transport.redis.delivery import (
    DEAD_LETTER_SERVICES,
    DeliveryKeys,
    dead_letter_key,
)
from servicewire.transport.redis.protocol import (
    EXPIRY_META_KEY,
    build_frame,
    decode_envelope,
    encode_envelope,
    parse_frame,
    queue_key,
    request_queue_name,
    resolve_content_type,
)
from servicewire.transport.redis.settings import RedisTransportSettings, validate_settings

__all__ = ["DeadLetter", "DeadLetters"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter, shaped like the SQL transport's. ``consumer`` is always ``None``
    (Redis has no fan-out) and ``message_id`` is the dead letter's own number on its host
    (a Redis message has no id); ``request_id`` and ``reply_to`` are ``None`` when the
    message cannot be read."""

    id: int
    service: str
    consumer: str | None
    message_id: int
    request_id: int | None
    reply_to: str | None
    attempts: int
    last_error: str
    enqueued_at: float
    dead_at: float
    payload: bytes

    def message(self) -> tuple[dict[str, Any], Any]:
        """The message's ``(meta, body)``; ``InvalidMessage`` if it cannot be decoded."""
        try:
            frame = parse_frame(self.payload)
            envelope = decode_envelope(
                frame.payload, resolve_content_type(frame.content_type, _DEFAULT_SERIALIZER)
            )
        except InvalidMessageError as error:
            raise InvalidMessage(f"Dead letter {self.id} cannot be decoded: {error}") from None
        return envelope.meta, envelope.body


_DEFAULT_SERIALIZER = MsgpackSerializer()


class DeadLetters:
    """Inspect and act on the dead letters kept in Redis.

    ``url`` (``redis://host:port/db``) names one Redis; or give the transports' own settings
    (``backend_type``, ``backend_layer_kwargs``: Sentinel, several hosts) as keywords.
    """

    def __init__(self, url: str | None = None, **transport_kwargs: Any) -> None:
        if url is not None:
            transport_kwargs.setdefault("backend_layer_kwargs", {"hosts": [url]})
        settings = validate_settings(RedisTransportSettings, transport_kwargs, type(self))
        self.backend = RedisBackend(settings)

    def close(self) -> None:
        self.backend.close()

    def list(
        self,
        service: str | None = None,
        consumer: str | None = None,
        limit: int | None = 100,
    ) -> list[DeadLetter]:
        """Dead letters, oldest first, of one service or all (none for a ``consumer``:
        Redis has no fan-out consumers)."""
        if consumer is not None:
            return []
        found: list[DeadLetter] = []
        for host in range(self.backend.host_count):
            client = self.backend.client(host)
            if service is None:
                services = sorted(_text(name) for name in client.smembers(DEAD_LETTER_SERVICES))
            else:
                services = [service]
            for name in services:
                numbers: list[bytes] = client.zrange(DeliveryKeys(name).dead_letters, 0, -1)  # type: ignore[assignment]
                for number in numbers:
                    letter = self._read(host, int(number))
                    if letter is not None:
                        found.append(letter)
        found.sort(key=lambda letter: (letter.dead_at, letter.id))
        return found if limit is None else found[:limit]

    def get(self, dead_letter_id: int) -> DeadLetter | None:
        """One dead letter by id, or ``None``."""
        host, number = self._locate(dead_letter_id)
        if host is None:
            return None
        return self._read(host, number)

    def requeue(
        self, dead_letters: Iterable[DeadLetter | int], message_expiry_in_seconds: float = 60
    ) -> int:
        """Deliver dead letters again, at the end of their service's queue, each with a fresh
        expiry (an unreadable one as it is); return how many. Each is removed as it is
        re-queued."""

        def deliver_again(pipeline: Any, letter: DeadLetter) -> None:
            queue = queue_key(request_queue_name(letter.service))
            pipeline.rpush(queue, _with_fresh_expiry(letter.payload, message_expiry_in_seconds))
            pipeline.expire(queue, max(1, int(message_expiry_in_seconds + 0.999)))

        return self._remove(dead_letters, deliver_again)

    def discard(self, dead_letters: Iterable[DeadLetter | int]) -> int:
        """Delete dead letters for good; return how many."""
        return self._remove(dead_letters, lambda pipeline, letter: None)

    def _remove(
        self,
        dead_letters: Iterable[DeadLetter | int],
        also: Callable[[Any, DeadLetter], None],
    ) -> int:
        """Remove each dead letter that exists, in one transaction with ``also``'s commands;
        return how many."""
        removed = 0
        for dead_letter_id in _ids(dead_letters):
            host, number = self._locate(dead_letter_id)
            letter = None if host is None else self._read(host, number)
            if host is None or letter is None:
                continue
            pipeline = self.backend.client(host).pipeline(transaction=True)
            also(pipeline, letter)
            pipeline.delete(dead_letter_key(number))
            pipeline.zrem(DeliveryKeys(letter.service).dead_letters, number)
            pipeline.execute()
            removed += 1
        return removed

    def purge(self, older_than_in_seconds: float) -> int:
        """Delete the dead letters older than ``older_than_in_seconds``; return how many."""
        cutoff = time.time() - older_than_in_seconds
        return self.discard(letter for letter in self.list(limit=None) if letter.dead_at < cutoff)

    # --- reading --------------------------------------------------------------------------

    def _locate(self, dead_letter_id: int) -> tuple[int | None, int]:
        count = self.backend.host_count
        if dead_letter_id < 0:
            return None, 0
        return dead_letter_id % count, dead_letter_id // count

    def _read(self, host: int, number: int) -> DeadLetter | None:
        fields: dict[bytes, bytes] = self.backend.client(host).hgetall(dead_letter_key(number))  # type: ignore[assignment]
        if not fields:
            return None
        payload = fields.get(b"payload", b"")
        request_id, reply_to = _addressing(payload)
        return DeadLetter(
            id=number * self.backend.host_count + host,
            service=_text(fields.get(b"service", b"")),
            consumer=None,
            message_id=number,
            request_id=request_id,
            reply_to=reply_to,
            attempts=int(fields.get(b"attempts", b"0")),
            last_error=_text(fields.get(b"last_error", b"")),
            enqueued_at=float(fields.get(b"enqueued_at", b"0")),
            dead_at=float(fields.get(b"dead_at", b"0")),
            payload=payload,
        )


def _addressing(payload: bytes) -> tuple[int | None, str | None]:
    """The request id and reply queue of a payload, when it can be read."""
    try:
        frame = parse_frame(payload)
        envelope = decode_envelope(
            frame.payload, resolve_content_type(frame.content_type, _DEFAULT_SERIALIZER)
        )
    except InvalidMessageError:
        return None, None
    reply_to = envelope.meta.get("reply_to")
    return envelope.request_id, reply_to if isinstance(reply_to, str) else None


def _with_fresh_expiry(payload: bytes, expiry_in_seconds: float) -> bytes:
    """The message re-framed in its own version and serializer with a new ``__expiry__``."""
    try:
        frame = parse_frame(payload)
        serializer = resolve_content_type(frame.content_type, _DEFAULT_SERIALIZER)
        envelope = decode_envelope(frame.payload, serializer)
        if frame.is_chunk:
            return payload
        meta = dict(envelope.meta)
        meta[EXPIRY_META_KEY] = time.time() + expiry_in_seconds
        encoded = encode_envelope(envelope.request_id, meta, envelope.body, serializer)
    except (InvalidMessageError, InvalidMessage, InvalidField):
        return payload
    return build_frame(encoded, frame.version, serializer.mime_type)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _ids(dead_letters: Iterable[DeadLetter | int]) -> list[int]:
    return [item.id if isinstance(item, DeadLetter) else int(item) for item in dead_letters]
