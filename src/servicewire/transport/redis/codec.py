"""Turning messages into frames and back for one transport, with its limits, log lines and
metrics; shared by the synchronous and asyncio transports."""

from __future__ import annotations

import logging
import time
from typing import Any

from servicewire.errors import InvalidMessageError, MessageTooLarge
from servicewire.logging import RecursivelyCensoredDictWrapper
from servicewire.metrics import MetricsRecorder
from servicewire.serializer.base import Serializer
from servicewire.transport.base import ReceivedMessage
from servicewire.transport.redis.protocol import (
    EXPIRY_META_KEY,
    Envelope,
    ProtocolVersion,
    build_frame,
    encode_envelope,
    is_expired,
    split_into_chunks,
)
from servicewire.transport.redis.settings import RedisTransportSettings

__all__ = ["MessageCodec"]

oversized_message_logger = logging.getLogger("servicewire.transport.oversized_message")
logger = logging.getLogger("servicewire.transport.redis")


class MessageCodec:
    """Serializes, checks and frames outgoing messages; checks the expiry of incoming ones.

    ``metric_prefix`` (``"client.transport.redis."`` or ``"server.transport.redis."``) starts
    every metric name; ``chunk_threshold`` (servers only) enables chunked responses.
    """

    def __init__(
        self,
        service_name: str,
        settings: RedisTransportSettings,
        metrics: MetricsRecorder,
        metric_prefix: str,
        chunk_threshold: int = -1,
    ) -> None:
        self.service_name = service_name
        self.metrics = metrics
        self.metric_prefix = metric_prefix
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
            self.metrics.histogram(self.metric_prefix + "send.message_size", size)
        if size > self.maximum_message_size:
            self.count("send.error.message_too_large")
            raise MessageTooLarge(
                size,
                f"Message {request_id} to service {self.service_name!r} is {size} bytes, over "
                f"the maximum of {self.maximum_message_size} bytes",
            )
        if self.log_threshold and size > self.log_threshold:
            oversized_message_logger.warning(
                "Oversized message (%d bytes, threshold %d) for service %r: %s",
                size,
                self.log_threshold,
                self.service_name,
                RecursivelyCensoredDictWrapper(
                    {"request_id": request_id, "meta": meta, "body": body}
                ),
            )
        if 0 < self.chunk_threshold < size and version >= ProtocolVersion.VERSION_3:
            chunks = split_into_chunks(payload, serializer.mime_type, self.chunk_threshold)
            if self.metrics.enabled:
                self.metrics.histogram(self.metric_prefix + "send.chunk_count", len(chunks))
            return chunks
        return [build_frame(payload, version, serializer.mime_type)]

    def request_frames(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        reply_to: str,
        version: ProtocolVersion,
        expiry_in_seconds: float | None,
        queue_full_timeout: float,
    ) -> tuple[list[bytes], int, float, bool]:
        """Prepare a request: set its reply queue and expiry, and serialize it.

        Returns the frames, the queue key's expiry, how long a full queue may be waited for
        (never past the message's own expiry) and whether a reply is expected.
        """
        meta["reply_to"] = reply_to
        key_expiry = self.expiry_meta(meta, expiry_in_seconds)
        frames = self.encode(request_id, meta, body, version, self.default_serializer)
        max_wait = queue_full_timeout
        if expiry_in_seconds and expiry_in_seconds < max_wait:
            max_wait = expiry_in_seconds
        control = body.get("control")
        expects_reply = not (isinstance(control, dict) and control.get("suppress_response"))
        return frames, key_expiry, max_wait, expects_reply

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

    def expired(self, request_id: int, meta: dict[str, Any], queue: str) -> bool:
        """Whether a received message has expired; if so, log and count its dropping."""
        if not is_expired(meta, time.time()):
            return False
        self.count("receive.error.message_expired")
        logger.warning(
            "Dropped message %s on queue %s for service %r: it expired %.3f s ago",
            request_id,
            queue,
            self.service_name,
            time.time() - meta[EXPIRY_META_KEY],
        )
        return True
