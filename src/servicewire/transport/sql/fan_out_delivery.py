"""Fan-out delivery for the server: one consumer's turn through the service's log.

The consumer's cursor (``FanOutCursor``) hands out one message at a time, in order, under a
lease. A job's response goes nowhere but here: it is the message's outcome. A success moves
the cursor past the message; a failure the server is to blame for is retried after
``fan_out_retry_delay_in_seconds`` until ``max_attempts``; a failure of the caller (retrying
cannot help), or the last attempt, makes the message a dead letter of the consumer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from types import MappingProxyType
from typing import Any

from servicewire.errors import ImproperlyConfigured, InvalidMessageError
from servicewire.transport.sql.delivery import DeliveryContext, Held, decode_held
from servicewire.transport.sql.envelope import job_outcome
from servicewire.transport.sql.fan_out import FanOutCursor
from servicewire.transport.sql.schema import TakenMessage
from servicewire.transport.sql.settings import SqlServerTransportSettings

__all__ = ["FanOutDelivery"]

_logger = logging.getLogger("servicewire.transport.sql")


class FanOutDelivery:
    """Fan-out delivery to the consumer named in the settings."""

    def __init__(self, settings: SqlServerTransportSettings) -> None:
        assert settings.consumer is not None  # the settings require it in fan-out delivery
        self._settings = settings
        self.consumer = settings.consumer
        self.details: Mapping[str, Any] = MappingProxyType({"consumer": settings.consumer})
        self._lease = settings.visibility_timeout_in_seconds

    def open(self, context: DeliveryContext) -> None:
        self._context = context
        self._cursor = FanOutCursor(
            context.database, context.service, self.consumer, context.worker_id
        )
        self.channel = self._cursor.channel

    def allow_workers(self, workers: int, description: str) -> None:
        """Refused: a consumer handles its messages one at a time, in order, so further
        workers would only wait."""
        raise ImproperlyConfigured(
            f"{description} delivers fan-out messages one at a time, in order: "
            f"it cannot use {workers} workers (use 1, or more processes of the consumer "
            "for availability)"
        )

    def take(self) -> Held | None:
        context, cursor, settings = self._context, self._cursor, self._settings
        message, passed = context.run(
            lambda connection: cursor.claim(connection, self._lease, settings.max_attempts)
        )
        for skipped, reason in passed:
            if reason == "expired":
                context.log_expired(skipped)
            else:
                context.count("sql.fan_out.dead_lettered")
                _logger.error(
                    "Fan-out message %s (request %s) of service %r became a dead letter of "
                    "consumer %r: its deliveries were never finished",
                    skipped.row_id,
                    skipped.request_id,
                    context.service,
                    self.consumer,
                )
        if message is None:
            return None
        held = decode_held(message, self.fail, context)
        if message.attempts > 1:
            _logger.info(
                "Fan-out message %s (request %s) of service %r: attempt %d for consumer %r",
                message.row_id,
                message.request_id,
                context.service,
                message.attempts,
                self.consumer,
            )
        control = held.body.get("control")
        if isinstance(control, dict):
            # The consumer needs the job's outcome to retry a failure; the response is
            # handed to this transport and goes nowhere else.
            control["suppress_response"] = False
        context.lease_keeper.hold(held.key, partial(self.renew, held))
        return held

    def renew(self, held: Held) -> bool:
        cursor, row_id, lease = self._cursor, held.message.row_id, self._lease
        return self._context.run(lambda c: cursor.renew(c, row_id, lease))

    def fail(self, message: TakenMessage, error: Exception) -> InvalidMessageError:
        text = f"Undecodable payload: {error}"
        cursor = self._cursor
        self._context.run(lambda c: cursor.fail(c, message, text, retry_in=0, give_up=True))
        _logger.error(
            "Fan-out message %s (request %s) of service %r cannot be decoded (%s); it is "
            "now a dead letter of consumer %r",
            message.row_id,
            message.request_id,
            self._context.service,
            error,
            self.consumer,
        )
        return InvalidMessageError(text, request_id=message.request_id, meta=None)

    def respond(
        self, held: Held | None, request_id: int, meta: dict[str, Any], body: dict[str, Any]
    ) -> None:
        """Keep the response as the outcome of the message being served (nobody reads a
        fan-out reply)."""
        if held is not None:
            held.response = body

    def finish(self, held: Held) -> None:
        """Move the cursor past a success; retry a failure, or bury it."""
        context, cursor, settings = self._context, self._cursor, self._settings
        context.lease_keeper.release(held.key)
        message = held.message
        outcome, error = job_outcome(held.response)
        if outcome == "succeeded":
            kept = context.run(lambda c: cursor.finish(c, message.row_id))
        else:
            assert error is not None
            give_up = outcome == "rejected" or message.attempts >= settings.max_attempts
            delay = settings.fan_out_retry_delay_in_seconds
            kept = context.run(
                lambda c: cursor.fail(c, message, error, retry_in=delay, give_up=give_up)
            )
            if kept and give_up:
                context.count("sql.fan_out.dead_lettered")
                _logger.error(
                    "Fan-out message %s (request %s) of service %r is now a dead letter of "
                    "consumer %r after %d attempt(s): %s",
                    message.row_id,
                    message.request_id,
                    context.service,
                    self.consumer,
                    message.attempts,
                    error,
                )
            elif kept:
                context.count("sql.fan_out.retried")
                _logger.warning(
                    "Fan-out message %s (request %s) of service %r failed for consumer %r "
                    "(attempt %d of %d); retrying in %s s: %s",
                    message.row_id,
                    message.request_id,
                    context.service,
                    self.consumer,
                    message.attempts,
                    settings.max_attempts,
                    delay,
                    error,
                )
        if not kept:
            _logger.warning(
                "%s lost its lease on fan-out message %s before finishing it; another "
                "process of consumer %r has taken it over",
                context.description,
                message.row_id,
                self.consumer,
            )

    def purge(self) -> None:
        """Delete the messages every consumer has passed, or that expired."""
        cursor = self._cursor
        self._context.run(cursor.purge)

    def close(self) -> None:
        """Nothing is taken ahead: a message's lease runs out if it was never finished."""
