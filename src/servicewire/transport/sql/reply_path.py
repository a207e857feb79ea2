"""The reply path of the work queue: a job's response on its way to the reply table.

A response is encoded (and its size checked) when the server gives it, so that a response
too large or not serializable fails where the server can still send an error instead; the
row is written either at once or, for a request still held under its lease, in one go with
the request's acknowledgement (see ``WorkQueue.finish``).
"""

from __future__ import annotations

import logging
from typing import Any

from servicewire.metrics import MetricName
from servicewire.transport.sql.delivery import DeliveryContext
from servicewire.transport.sql.envelope import encode_payload

__all__ = ["ReplyPath"]

_logger = logging.getLogger("servicewire.transport.sql")


class ReplyPath:
    """Encodes the responses of one server and writes them to the reply table."""

    def __init__(self, context: DeliveryContext) -> None:
        self._context = context
        self._replies = context.replies

    def encode(
        self, request_id: int, meta: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The reply row's parameters (``Replies.parameters``); ``None`` (and a warning)
        for a request that names no ``reply_to``. Raises ``MessageTooLarge`` over
        ``maximum_message_size_in_bytes`` and ``InvalidField`` for a value that cannot be
        serialized."""
        context = self._context
        reply_to = meta.get("reply_to")
        if not isinstance(reply_to, str) or not reply_to:
            _logger.warning(
                "Dropped the response to request %s of service %r: the request names no reply_to",
                request_id,
                context.service,
            )
            return None
        settings = context.settings
        payload = encode_payload(
            meta,
            body,
            maximum_size=settings.maximum_message_size_in_bytes,
            log_larger_than=settings.log_messages_larger_than_bytes,
            description=f"response to request {request_id} of service {context.service!r}",
        )
        if context.metrics.enabled:
            context.metrics.histogram(
                MetricName.TRANSPORT_RESPONSE_SIZE, len(payload), context.metric_tags
            )
        return self._replies.parameters(
            reply_to, request_id, payload, settings.message_expiry_in_seconds
        )

    def write(self, reply: dict[str, Any]) -> None:
        """Write a reply given by :meth:`encode` now."""
        replies = self._replies
        self._context.run(lambda connection: replies.put_with(connection, reply))
