"""The client side of the Redis transport."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from typing import Any, ClassVar

from pydantic import BaseModel

from servicewire.errors import (
    ConnectionError as TransportConnectionError,
)
from servicewire.errors import (
    MessageReceiveTimeout,
    MessageSendError,
    TransportError,
)
from servicewire.metrics import MetricsRecorder
from servicewire.transport.base import _NO_METRICS, ClientTransport, ReceivedMessage
from servicewire.transport.redis.backend import RedisBackend
from servicewire.transport.redis.codec import ClientCodec, ReplyReader
from servicewire.transport.redis.link import QueueLink, is_marker
from servicewire.transport.redis.protocol import (
    queue_key,
)
from servicewire.transport.redis.settings import RedisClientTransportSettings

__all__ = ["RedisClientTransport"]

logger = logging.getLogger("servicewire.transport.redis")

# The most replies one pop takes off a reply queue (bounding the size of one read).
_MOST_ITEMS_PER_POP = 100


class _Receiver:
    """One thread's reply queue, its links to the hosts, and the replies it still expects."""

    __slots__ = (
        "__weakref__", "backend", "early", "expected", "host", "key", "links", "name",
        "outstanding",
    )  # fmt: skip

    def __init__(self, name: str, backend: RedisBackend) -> None:
        self.name = name
        self.key = queue_key(name)
        self.backend = backend
        self.host = backend.reply_host(self.key)
        self.links: list[QueueLink | None] = [None] * backend.host_count
        self.outstanding = 0
        # The ids awaiting a reply: a second reply to one request (a server delivering it
        # again, at least once) must not count as the reply of another.
        self.expected: set[int] = set()
        # Items popped but not read yet: replies popped together, and those popped while a
        # refused push was being retried.
        self.early: deque[bytes] = deque()

    def link(self, host: int) -> QueueLink:
        link = self.links[host]
        if link is None:
            link = self.links[host] = QueueLink(self.backend, host)
            # When the thread ends, its connections go back to the pool.
            weakref.finalize(self, link.close)
        return link


class RedisClientTransport(ClientTransport):
    """Sends requests to a service's Redis queue and receives the replies.

    Each thread has its own reply queue (``service.<name>.<client id>!<number>``), so replies
    never cross between threads; ``ServiceHandler`` matches them to requests by request id.
    Settings are those of PySOA's Redis client transport (see
    :class:`~servicewire.transport.redis.settings.RedisClientTransportSettings`).
    """

    settings_schema: ClassVar[type[BaseModel] | None] = RedisClientTransportSettings
    async_transport_class: ClassVar[str | None] = (
        "servicewire.transport.redis.aio:AsyncRedisClientTransport"
    )

    def __init__(
        self, service_name: str, metrics: MetricsRecorder = _NO_METRICS, **kwargs: Any
    ) -> None:
        super().__init__(service_name, metrics)
        self.codec = ClientCodec(service_name, metrics, kwargs, type(self))
        self.settings = self.codec.settings
        self.backend = RedisBackend(self.settings)
        self._local = threading.local()
        _transports.add(self)

    def _receiver(self) -> _Receiver:
        try:
            receiver: _Receiver = self._local.receiver
        except AttributeError:
            name = self.codec.new_reply_queue()
            receiver = self._local.receiver = _Receiver(name, self.backend)
        return receiver

    def _after_fork(self) -> None:
        self.codec.after_fork()
        self._local = threading.local()

    @property
    def requests_outstanding(self) -> int:
        """How many replies the calling thread still expects."""
        return self._receiver().outstanding

    # --- sending --------------------------------------------------------------------------

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        *,
        expects_reply: bool = True,
        receive_follows: bool = False,
    ) -> None:
        """Push a request onto the service's queue, naming this thread's reply queue.

        A full queue is retried (PySOA's back-off) within ``queue_full_timeout_in_seconds``
        and the message's own expiry, then raises ``MessageSendError`` (possibly from the
        next receive: when the request queue and the reply queue share a host, the push is
        acknowledged with the wait for the reply, saving a round trip). With
        ``receive_follows``, a small request is written together with that wait, and on a
        trusted connection without an acknowledgement (see
        :mod:`servicewire.transport.redis.link`).
        """
        receiver = self._receiver()
        codec = self.codec
        frames, expiry, max_wait = codec.request_frames(
            request_id, meta, body, receiver.name, message_expiry_in_seconds
        )
        host = self.backend.request_host()
        link = receiver.link(host)
        try:
            if expects_reply and host == receiver.host:
                link.push(
                    self.codec.request_queue,
                    frames,
                    expiry,
                    wake_key=receiver.key,
                    max_wait=max_wait,
                    request_id=request_id,
                    hold=receive_follows,
                    acknowledge=not receive_follows,
                )
            else:
                link.push(self.codec.request_queue, frames, expiry, max_wait=max_wait)
                link.settle()
                self._retry_refused(link)
        except TransportError:
            codec.count("send.error")
            raise
        if expects_reply:
            receiver.outstanding += 1
            receiver.expected.add(request_id)

    def _retry_refused(self, link: QueueLink) -> None:
        refused, link.refused = link.refused, []
        for push in refused:
            if not push.queue_was_full:
                raise link.refusal(push)
            self.codec.count_queue_full_retry()
            link.push_now(push)

    # --- receiving ------------------------------------------------------------------------

    def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        """The next reply on this thread's reply queue.

        Returns ``(None, None, None)`` when the thread expects no reply. Raises
        ``MessageReceiveTimeout`` when none comes in time (default
        ``receive_timeout_in_seconds``), ``ConnectionError`` when Redis cannot be reached,
        ``MessageSendError`` when a request sent earlier could not be queued, and
        ``InvalidMessageError`` for a reply that cannot be read. Expired replies are dropped
        (logged and counted) and the wait goes on.
        """
        receiver = self._receiver()
        if receiver.outstanding <= 0 and not receiver.early:
            return ReceivedMessage(None, None, None)
        timeout = receive_timeout_in_seconds or self.codec.receive_timeout
        deadline = time.monotonic() + timeout
        link = receiver.link(receiver.host)
        early = receiver.early
        while True:
            if not early and not link.refused:
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    # Every reply already there, in one round trip: a parallel call's replies
                    # are read in batches instead of one wait each.
                    count = min(receiver.outstanding, _MOST_ITEMS_PER_POP)
                    early.extend(self._pop(link, receiver.key, remaining, count, True))
            if link.refused:
                try:
                    self._retry_refused(link)
                except MessageSendError:
                    receiver.outstanding -= 1
                    raise
                continue
            if not early:
                # A request sent without acknowledgement may have been refused unseen: the
                # next one is acknowledged, and says so if Redis refuses it too.
                link.distrust()
                self.codec.count("receive.error.timeout")
                raise MessageReceiveTimeout(
                    f"No reply from service {self.service_name!r} within {timeout:.3f} s"
                )
            data = early.popleft()
            if is_marker(data):
                link.take_marker(data)
                continue
            message = self._read_reply(receiver, link, data, deadline)
            if message is not None:
                request_id = message.request_id
                if request_id in receiver.expected:
                    receiver.expected.discard(request_id)
                    receiver.outstanding -= 1
                    link.replied(request_id)
                return message

    def _pop(
        self,
        link: QueueLink,
        key: str,
        timeout: float,
        count: int = 1,
        abort_on_refusal: bool = False,
    ) -> list[bytes]:
        try:
            return link.pop_up_to(key, timeout, count, abort_on_refusal=abort_on_refusal)
        except TransportConnectionError:
            self.codec.count("receive.error.connection")
            raise

    def _read_reply(
        self, receiver: _Receiver, link: QueueLink, data: bytes, deadline: float
    ) -> ReceivedMessage | None:
        reader = ReplyReader(self.codec, receiver.key)
        message = reader.feed(data)
        while reader.waiting:
            # The next chunks of a chunked reply: popped already, or still to come.
            if not receiver.early:
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    receiver.early.extend(self._pop(link, receiver.key, remaining))
            message = reader.feed(receiver.early.popleft() if receiver.early else None)
        return message

    def close(self) -> None:
        self.backend.close()


_transports: weakref.WeakSet[RedisClientTransport] = weakref.WeakSet()


def _new_reply_queues_after_fork() -> None:
    for transport in list(_transports):
        transport._after_fork()


os.register_at_fork(after_in_child=_new_reply_queues_after_fork)
