"""Turning messages into frames and back for one transport, with its limits, log lines and
metrics; shared by the synchronous and asyncio transports."""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from typing import Any

from servicewire.errors import InvalidMessageError
from servicewire.metrics import MetricName, MetricsRecorder
from servicewire.serializer.base import Serializer
from servicewire.transport.base import ReceivedMessage
from servicewire.transport.limits import check_message_size
from servicewire.transport.redis.protocol import (
    EXPIRY_META_KEY,
    Envelope,
    MessageReader,
    ProtocolVersion,
    build_frame,
    encode_envelope,
    is_expired,
    queue_key,
    reply_queue_name,
    request_queue_name,
    split_into_chunks,
)
from servicewire.transport.redis.settings import (
    RedisClientTransportSettings,
    RedisTransportSettings,
    validate_settings,
)

__all__ = ["ClientCodec", "MessageCodec", "ReplyReader"]

logger = logging.getLogger("servicewire.transport.redis")


class MessageCodec:
    """Serializes, checks and frames outgoing messages; checks the expiry of incoming ones.

    ``metric_prefix`` (``"client.transport.redis."`` or ``"server.transport.redis."``) starts
    the names of the Redis transport's own metrics; ``size_metric`` is the documented
    metric of the sizes of the messages sent (requests or responses); ``chunk_threshold``
    (servers only) enables chunked responses.
    """

    def __init__(
        self,
        service_name: str,
        settings: RedisTransportSettings,
        metrics: MetricsRecorder,
        metric_prefix: str,
        size_metric: str,
        chunk_threshold: int = -1,
    ) -> None:
        self.service_name = service_name
        self.metrics = metrics
        self.metric_prefix = metric_prefix
        self.size_metric = size_metric
        self.metric_tags = {"service": service_name}
        serializer_reference = settings.default_serializer_config
        self.default_serializer: Serializer = serializer_reference.object(
            **serializer_reference.kwargs
        )
        self.maximum_message_size = settings.maximum_message_size_in_bytes
        self.log_threshold = settings.log_messages_larger_than_bytes
        self.chunk_threshold = chunk_threshold
        self.message_expiry = settings.message_expiry_in_seconds

    def count(self, name: str) -> None:
        """Add one to the metric ``<prefix><name>`` (if metrics are enabled)."""
        if self.metrics.enabled:
            self.metrics.counter(self.metric_prefix + name)

    def count_queue_full_retry(self) -> None:
        """Count a send retried because its queue was full (if metrics are enabled)."""
        if self.metrics.enabled:
            self.metrics.counter(MetricName.TRANSPORT_QUEUE_FULL_RETRY, tags=self.metric_tags)

    def expiry_meta(self, meta: dict[str, Any], expiry_in_seconds: float | None) -> int:
        """Set ``meta["__expiry__"]``; return the queue key's expiry in whole seconds.

        With an explicit expiry (a caller's timeout) the key lives 10 s longer than the
        message, as PySOA does.
        """
        if expiry_in_seconds:
            meta[EXPIRY_META_KEY] = time.time() + expiry_in_seconds
            return int(expiry_in_seconds + 10.999)
        meta[EXPIRY_META_KEY] = time.time() + self.message_expiry
        return max(1, int(self.message_expiry + 0.999))

    def encode(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: Any,
        version: ProtocolVersion,
        serializer: Serializer,
    ) -> list[bytes]:
        """The frames to push for one message (several only for a chunked response).

        Raises ``InvalidField`` when the message cannot be serialized and
        ``MessageTooLarge`` when it exceeds ``maximum_message_size_in_bytes``.
        """
        payload = encode_envelope(request_id, meta, body, serializer)
        size = len(payload)
        if self.metrics.enabled:
            self.metrics.histogram(self.size_metric, size, self.metric_tags)
        if size > self.maximum_message_size or (self.log_threshold and size > self.log_threshold):
            self._check_size(request_id, meta, body, size)
        if 0 < self.chunk_threshold < size and version >= ProtocolVersion.VERSION_3:
            chunks = split_into_chunks(payload, serializer.mime_type, self.chunk_threshold)
            if self.metrics.enabled:
                self.metrics.histogram(self.metric_prefix + "send.chunk_count", len(chunks))
            return chunks
        return [build_frame(payload, version, serializer.mime_type)]

    def reply(self, envelope: Envelope, queue: str) -> ReceivedMessage | None:
        """A received reply, or ``None`` if it expired (then logged and counted)."""
        if self.expired(envelope.request_id, envelope.meta, queue):
            return None
        return ReceivedMessage(envelope.request_id, envelope.meta, envelope.body)

    def unreadable(self, error: InvalidMessageError, queue: str) -> InvalidMessageError:
        """The error for a reply that cannot be read (counted)."""
        self.count("receive.error.invalid_message")
        return InvalidMessageError(
            f"Unreadable reply on {queue} from service {self.service_name!r}: {error}",
            request_id=error.request_id,
        )

    def _check_size(self, request_id: int, meta: dict[str, Any], body: Any, size: int) -> None:
        if size > self.maximum_message_size:
            self.count("send.error.message_too_large")
        check_message_size(
            size,
            self.maximum_message_size,
            self.log_threshold,
            f"message {request_id} of service {self.service_name!r}",
            {"request_id": request_id, "meta": meta, "body": body},
        )

    def expired(self, request_id: int, meta: dict[str, Any], queue: str) -> bool:
        """Whether a received message has expired; if so, log and count its dropping."""
        if not is_expired(meta, time.time()):
            return False
        if self.metrics.enabled:
            self.metrics.counter(MetricName.TRANSPORT_MESSAGE_EXPIRED, tags=self.metric_tags)
        logger.warning(
            "Dropped message %s on queue %s for service %r: it expired %.3f s ago",
            request_id,
            queue,
            self.service_name,
            time.time() - meta[EXPIRY_META_KEY],
        )
        return True


class ClientCodec(MessageCodec):
    """The codec of a client transport (synchronous or asyncio): its validated settings, and
    what it needs to send requests and name reply queues.

    ``owner`` is the transport class, named when its ``kwargs`` are invalid.
    """

    def __init__(
        self, service_name: str, metrics: MetricsRecorder, kwargs: dict[str, Any], owner: type
    ) -> None:
        settings = validate_settings(RedisClientTransportSettings, kwargs, owner)
        super().__init__(
            service_name,
            settings,
            metrics,
            "client.transport.redis.",
            MetricName.TRANSPORT_REQUEST_SIZE,
        )
        self.settings = settings
        self.client_id = uuid.uuid4().hex
        self._reply_queue_numbers = itertools.count(1)
        self.protocol_version = settings.protocol_version
        self.request_queue = queue_key(request_queue_name(service_name))
        self.receive_timeout = float(settings.receive_timeout_in_seconds)
        self.queue_full_timeout = float(settings.queue_full_timeout_in_seconds)

    def new_reply_queue(self) -> str:
        """The name of a new reply queue (one per thread or task).

        Numbered, not named after the thread: thread idents are reused, and a new thread must
        not inherit the late replies of a dead one.
        """
        return reply_queue_name(self.service_name, self.client_id, next(self._reply_queue_numbers))

    def after_fork(self) -> None:
        """A forked child gets reply queues of its own, or it would read its parent's."""
        self.client_id = uuid.uuid4().hex

    def request_frames(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        reply_to: str,
        expiry_in_seconds: float | None,
    ) -> tuple[list[bytes], int, float]:
        """Prepare a request: set its reply queue and expiry, and serialize it.

        Returns the frames, the queue key's expiry and how long a full queue may be waited
        for (never past the message's own expiry).
        """
        meta["reply_to"] = reply_to
        key_expiry = self.expiry_meta(meta, expiry_in_seconds)
        frames = self.encode(request_id, meta, body, self.protocol_version, self.default_serializer)
        max_wait = self.queue_full_timeout
        if expiry_in_seconds and expiry_in_seconds < max_wait:
            max_wait = expiry_in_seconds
        return frames, key_expiry, max_wait


class ReplyReader:
    """Reads one reply from the items popped off a reply queue: a whole message, or all its
    chunks in order.

    Feed it the first item, then, while :attr:`waiting`, each next one (``None`` when none
    came in time). It returns the reply once complete (``None`` if it expired, logged and
    counted) and raises ``InvalidMessageError`` for one that cannot be read.
    """

    __slots__ = ("codec", "queue", "reader", "waiting")

    def __init__(self, codec: MessageCodec, queue: str) -> None:
        self.codec = codec
        self.queue = queue
        self.reader = MessageReader(codec.default_serializer)
        self.waiting = True

    def feed(self, data: bytes | None) -> ReceivedMessage | None:
        try:
            if data is None:
                raise self.reader.incomplete()
            envelope = self.reader.feed(data)
        except InvalidMessageError as error:
            self.waiting = False
            raise self.codec.unreadable(error, self.queue) from None
        if envelope is None:
            return None
        self.waiting = False
        return self.codec.reply(envelope, self.queue)
