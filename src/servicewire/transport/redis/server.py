"""The server side of the Redis transport."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, ClassVar, cast

from pydantic import BaseModel

from servicewire.errors import (
    ConnectionError as TransportConnectionError,
)
from servicewire.errors import (
    InvalidMessageError,
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
)
from servicewire.metrics import MetricName, MetricsRecorder
from servicewire.serializer.base import Serializer
from servicewire.transport.base import (
    _NO_METRICS,
    MessageDetails,
    ReceivedMessage,
    ServerTransport,
)
from servicewire.transport.redis.backend import RedisBackend
from servicewire.transport.redis.codec import MessageCodec
from servicewire.transport.redis.delivery import DeliveryKeeper
from servicewire.transport.redis.link import QueueLink
from servicewire.transport.redis.protocol import (
    InvalidFrame,
    ProtocolVersion,
    RequestMeta,
    UnsupportedProtocolVersion,
    decode_envelope,
    parse_frame,
    queue_key,
    reply_queue_problem,
    request_queue_name,
    resolve_content_type,
)
from servicewire.transport.redis.settings import RedisServerTransportSettings, validate_settings

__all__ = ["RedisServerTransport"]

logger = logging.getLogger("servicewire.transport.redis")

_FIRST_RECONNECT_PAUSE = 0.05
# How many reply queues found fit a server remembers (see _reply_queue_problem).
_MOST_FIT_REPLY_QUEUES_KEPT = 4096
_LONGEST_RECONNECT_PAUSE = 2.0


class RedisServerTransport(ServerTransport):
    """Receives a service's requests from its Redis queue and pushes the replies.

    Speaks PySOA's protocol: each reply goes out in the protocol version and serializer of
    its request. Beyond PySOA, a bad message raises ``InvalidMessageError`` (with the request
    id and meta when they could be read, so that the server can answer it) instead of
    stopping the server, expired requests are logged and counted, a chunked response is
    pushed in one atomic operation, and a lost connection is retried (with back-off, within
    each receive timeout) until Redis is back.
    """

    settings_schema: ClassVar[type[BaseModel] | None] = RedisServerTransportSettings

    def __init__(
        self,
        service_name: str,
        metrics: MetricsRecorder = _NO_METRICS,
        instance_index: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(service_name, metrics, instance_index)
        self.settings = validate_settings(RedisServerTransportSettings, kwargs, type(self))
        self.codec = MessageCodec(
            service_name,
            self.settings,
            metrics,
            "server.transport.redis.",
            MetricName.TRANSPORT_RESPONSE_SIZE,
            chunk_threshold=self.settings.chunk_messages_larger_than_bytes,
        )
        self.backend = RedisBackend(self.settings)
        self.request_queue_name = request_queue_name(service_name)
        self.request_queue = queue_key(self.request_queue_name)
        self.receive_timeout = float(self.settings.receive_timeout_in_seconds)
        self._local = threading.local()
        self._at_least_once = self.settings.delivery_guarantee == "at_least_once"
        self._keeper: DeliveryKeeper | None = None
        self._outage_started: float | None = None
        self._reconnect_pause = _FIRST_RECONNECT_PAUSE
        # Reply queues found fit to answer into: a client's queue is named in each of its
        # requests and checked again before each response, the same few names over and over.
        self._fit_reply_queues: set[str] = set()
        # A push's acknowledgement is read with the thread's next pop; threads that never
        # pop (a server's workers) read it at once.
        self._settle_each_send = False

    def enable_concurrent_requests(self, workers: int) -> None:
        """Receive on one thread, answer on others: each thread has its own connections,
        and replies sent by threads that do not receive are acknowledged at once."""
        self._settle_each_send = True

    # --- receiving ------------------------------------------------------------------------

    def _link(self, host: int) -> QueueLink:
        links: list[QueueLink | None] | None = getattr(self._local, "links", None)
        if links is None:
            links = self._local.links = [None] * self.backend.host_count
        link = links[host]
        if link is None:
            link = links[host] = QueueLink(self.backend, host)
        return link

    def receive_request_message(self) -> ReceivedMessage:
        """Wait up to ``receive_timeout_in_seconds`` for the next usable request.

        Expired requests are dropped (logged and counted) and the wait goes on. While Redis
        cannot be reached, reconnection is retried until the receive timeout passes.
        """
        deadline = time.monotonic() + self.receive_timeout
        backend = self.backend
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MessageReceiveTimeout(f"No request for service {self.service_name!r}")
            host = backend.request_host()
            link = self._link(host)
            try:
                if self._at_least_once:
                    keeper = self._delivery_keeper()
                    data = link.move(self.request_queue, keeper.processing, remaining)
                else:
                    data = link.pop(self.request_queue, remaining)
            except (TransportConnectionError, MessageReceiveError) as error:
                self._receive_failed(host, error, deadline)
                continue
            refused = link.refused
            if refused:
                self._retry_refused(link)
            if self._outage_started is not None:
                self._reconnected(host)
            if data is None:
                if refused:
                    # The wait ended with the notice of a refused response, not for want of
                    # a request: wait on.
                    continue
                raise MessageReceiveTimeout(f"No request for service {self.service_name!r}")
            if self._at_least_once:
                message = self._read_delivered_request(host, link, data)
            else:
                message = self._read_request(data)
            if message is not None:
                return message

    def _delivery_keeper(self) -> DeliveryKeeper:
        keeper = self._keeper
        if keeper is None or keeper.pid != os.getpid():
            # First use, or in a child forked after it: a server id of this process's own.
            settings = self.settings
            keeper = self._keeper = DeliveryKeeper(
                self.backend,
                self.service_name,
                self.request_queue,
                self.codec,
                float(settings.heartbeat_timeout_in_seconds),
                settings.max_attempts,
            )
            keeper.start()
        return keeper

    def _read_delivered_request(
        self, host: int, link: QueueLink, data: bytes
    ) -> ReceivedMessage | None:
        """:meth:`_read_request` for a request taken into the processing list: an unusable
        one becomes a dead letter, an expired one is removed."""
        keeper = self._delivery_keeper()
        try:
            message = self._read_request(data)
        except InvalidMessageError as error:
            keeper.bury(link, data, str(error))
            raise
        if message is None:
            keeper.finish(link, data)
            return None
        meta = message.meta
        if type(meta) is RequestMeta:
            meta.delivered = (host, data)
        return message

    def _retry_refused(self, link: QueueLink) -> None:
        """Retry replies refused because their queue was full; log those that stay refused
        (the client gave up on them, or is stuck)."""
        refused, link.refused = link.refused, []
        for push in refused:
            try:
                if not push.queue_was_full:
                    raise link.refusal(push)
                self.codec.count_queue_full_retry()
                link.push_now(push)
            except (MessageSendError, TransportConnectionError) as error:
                self.codec.count("send.error.undelivered")
                logger.error(
                    "Could not deliver the response to request %s: %s", push.request_id, error
                )

    def _receive_failed(self, host: int, error: Exception, deadline: float) -> None:
        """Log the first failure of an outage, then pause (with back-off, within the receive
        timeout) before trying again."""
        self.codec.count("receive.error.connection")
        if self._outage_started is None:
            self._outage_started = time.monotonic()
            logger.warning(
                "Cannot receive requests for service %r; trying again: %s",
                self.service_name,
                error,
            )
        pause = min(self._reconnect_pause, max(0.0, deadline - time.monotonic()))
        time.sleep(pause)
        self._reconnect_pause = min(self._reconnect_pause * 2, _LONGEST_RECONNECT_PAUSE)

    def _reconnected(self, host: int) -> None:
        assert self._outage_started is not None
        logger.warning(
            "Receiving requests for service %r again (Redis at %s) after %.1f s",
            self.service_name,
            self.backend.hosts[host],
            time.monotonic() - self._outage_started,
        )
        self._outage_started = None
        self._reconnect_pause = _FIRST_RECONNECT_PAUSE

    def _read_request(self, data: bytes) -> ReceivedMessage | None:
        """Decode a popped request; ``None`` if it expired. Raises ``InvalidMessageError``
        (answerable when its request id and reply queue could be read)."""
        codec = self.codec
        try:
            frame = parse_frame(data)
        except UnsupportedProtocolVersion as error:
            # Read the rest as version 3 to find whom to tell.
            frame = error.frame
            serializer = resolve_content_type(frame.content_type, codec.default_serializer)
            request_id, meta = self._salvage(frame.payload, serializer)
            raise self._bad(
                "unsupported_version", str(error), request_id, meta, serializer
            ) from None
        except InvalidFrame as error:
            raise self._bad("invalid_frame", str(error), None, None, None) from None
        if frame.is_chunk:
            raise self._bad(
                "chunked_request",
                "Chunked requests are not supported (only responses may be chunked)",
                None,
                None,
                None,
            )
        serializer = resolve_content_type(frame.content_type, codec.default_serializer)
        try:
            envelope = decode_envelope(frame.payload, serializer)
        except InvalidMessageError as error:
            raise self._bad(
                "invalid_envelope",
                str(error),
                error.request_id,
                error.meta,
                serializer,
                frame.version,
            ) from None
        meta = RequestMeta(envelope.meta, frame.version, serializer)
        request_id = envelope.request_id
        if codec.expired(request_id, meta, self.request_queue):
            return None
        size = len(data)
        if size > codec.maximum_message_size:
            raise self._bad(
                "message_too_large",
                f"Request of {size} bytes is over the maximum of "
                f"{codec.maximum_message_size} bytes",
                request_id,
                meta,
                serializer,
                frame.version,
            )
        body = envelope.body
        reply_to = meta.get("reply_to")
        if reply_to is None:
            raise self._bad(
                "no_reply_to", f"Request {request_id} has no reply_to", None, None, None
            )
        problem = self._reply_queue_problem(reply_to)
        if problem is not None:
            raise self._bad(
                "bad_reply_to", f"Request {request_id!r} not answered: {problem}", None, None, None
            )
        if body is None:
            raise self._bad(
                "no_body",
                f"Request {request_id} has no body",
                request_id,
                meta,
                serializer,
                frame.version,
            )
        return ReceivedMessage(request_id, meta, body)

    def _reply_queue_problem(self, reply_to: object) -> str | None:
        """Why the server must not answer into ``reply_to`` (``None``: it may)."""
        fit = self._fit_reply_queues
        if type(reply_to) is str and reply_to in fit:
            return None
        problem = reply_queue_problem(reply_to)
        if problem is None and reply_to == self.request_queue_name:
            return f"reply_to {reply_to!r} is this service's own request queue"
        if problem is None:
            if len(fit) >= _MOST_FIT_REPLY_QUEUES_KEPT:
                # Clients come and go (a queue per client thread): start again, not grow.
                fit.clear()
            fit.add(cast(str, reply_to))
        return problem

    @staticmethod
    def _salvage(payload: bytes, serializer: Serializer) -> tuple[int | None, Any]:
        try:
            envelope = decode_envelope(payload, serializer)
        except InvalidMessageError as error:
            return error.request_id, error.meta
        return envelope.request_id, envelope.meta

    def _bad(
        self,
        reason: str,
        description: str,
        request_id: int | None,
        meta: dict[str, Any] | None,
        serializer: Serializer | None,
        version: ProtocolVersion = ProtocolVersion.VERSION_3,
    ) -> InvalidMessageError:
        """The error for a bad request: counted, with the meta to answer it only when it
        names a reply queue."""
        self.codec.count("receive.error." + reason)
        answerable = (
            isinstance(meta, dict) and self._reply_queue_problem(meta.get("reply_to")) is None
        )
        if answerable and meta is not None:
            meta = RequestMeta(meta, version, serializer or self.codec.default_serializer)
        return InvalidMessageError(
            f"Bad request on queue {self.request_queue}: {description}",
            request_id=request_id,
            meta=meta if answerable else None,
        )

    def message_details(self, request_id: int, meta: dict[str, Any]) -> MessageDetails:
        """The request queue; the delivery attempt (always 1 at most once, where a server
        that dies with a request loses it; at least once, 1 plus the deliveries that ended
        with a dead server, or ``None`` if Redis cannot say at once); and in ``extra`` the
        ``reply_to`` queue, the ``protocol_version`` and the ``content_type`` the request came
        in, and at least once the ``processing_list`` holding it."""
        extra: dict[str, Any] = {"reply_to": meta.get("reply_to")}
        attempt: int | None = 1
        if type(meta) is RequestMeta:
            extra["protocol_version"] = int(meta.protocol_version)
            extra["content_type"] = meta.serializer.mime_type
            delivered: tuple[int, bytes] | None = getattr(meta, "delivered", None)
            if delivered is not None and self._keeper is not None:
                extra["processing_list"] = self._keeper.processing
                attempt = self._keeper.delivery_attempt(*delivered)
        return MessageDetails(request_id, self.request_queue, attempt, extra)

    # --- sending --------------------------------------------------------------------------

    def send_response_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        *,
        receive_follows: bool = False,
    ) -> None:
        """Push the response to the request's reply queue, in the request's framing.

        With ``receive_follows``, a small response is written together with the next
        receive's blocking pop (one system call, and one read by Redis, instead of two),
        when that pop goes to the same Redis (one host, and the thread that receives); and,
        on a trusted connection, without an acknowledgement, a full reply queue then being
        told by a notice the pop watches (see :mod:`servicewire.transport.redis.link`).

        Raises ``InvalidMessageError`` if the meta names no reply queue, ``MessageTooLarge``
        or ``InvalidField`` if the response cannot be sent (the server then sends an error
        instead), ``MessageSendError`` if the reply queue stays full and ``ConnectionError``
        if Redis cannot be reached.
        """
        reply_to = meta.get("reply_to")
        if not isinstance(reply_to, str):
            self.codec.count("send.error.missing_reply_queue")
            raise InvalidMessageError(f"Response {request_id} has no reply queue (reply_to)")
        problem = self._reply_queue_problem(reply_to)
        if problem is not None:
            # Never answer into a queue a server reads requests from.
            self.codec.count("send.error.bad_reply_to")
            raise InvalidMessageError(f"Response {request_id} not sent: {problem}")
        codec = self.codec
        if type(meta) is RequestMeta:
            version = meta.protocol_version
            serializer = meta.serializer
        else:
            version = ProtocolVersion.VERSION_3
            serializer = codec.default_serializer
        expiry = codec.expiry_meta(meta, None)
        frames = codec.encode(request_id, meta, body, version, serializer)
        key = queue_key(reply_to)
        backend = self.backend
        link = self._link(backend.reply_host(key))
        if backend.host_count > 1 or self._settle_each_send:
            link.push(key, frames, expiry, request_id=request_id)
            # The next pop may be on another host, or never come: read the acknowledgement.
            link.settle()
            refused, link.refused = link.refused, []
            for push in refused:
                if not push.queue_was_full:
                    raise link.refusal(push)
                codec.count_queue_full_retry()
                link.push_now(push)
        else:
            link.push(
                key,
                frames,
                expiry,
                request_id=request_id,
                hold=receive_follows,
                # A request moved to the processing list is finished by a script sent before
                # the next wait, which cannot watch a notice key.
                acknowledge=not receive_follows or self._at_least_once,
            )

    def complete_request_message(self, request_id: int, meta: dict[str, Any]) -> None:
        """Under at-least-once delivery, remove the finished request from this server's
        processing list (nothing to do otherwise)."""
        if not self._at_least_once:
            return
        delivered: tuple[int, bytes] | None = getattr(meta, "delivered", None)
        if delivered is None:
            return
        host, data = delivered
        link = self._link(host)
        self._delivery_keeper().finish(link, data)
        if self.backend.host_count > 1 or self._settle_each_send:
            link.settle()
            self._retry_refused(link)

    def close(self) -> None:
        links: list[QueueLink | None] = getattr(self._local, "links", None) or []
        for link in links:
            if link is not None and (link.pending or link.unsent is not None):
                try:
                    link.settle()
                except TransportConnectionError as error:
                    logger.error("Responses may not have been delivered: %s", error)
                if link.refused:
                    self._retry_refused(link)
        keeper, self._keeper = self._keeper, None
        if keeper is not None and keeper.pid == os.getpid():
            keeper.close()
        self.backend.close()
