"""Message size limits, shared by the transports that serialize messages.

A message over ``maximum_message_size_in_bytes`` raises :class:`MessageTooLarge` (on a
server, the response is then replaced by a ``RESPONSE_TOO_LARGE`` error); one over
``log_messages_larger_than_bytes`` (0: never) is sent but logged, censored, at WARNING on the
``servicewire.transport.oversized_message`` logger, so that growing payloads are noticed before
they hit the limit.
"""

from __future__ import annotations

import logging
from typing import Any

from servicewire.errors import MessageTooLarge
from servicewire.logging import RecursivelyCensoredDictWrapper

__all__ = ["check_message_size", "oversized_message_logger"]

oversized_message_logger = logging.getLogger("servicewire.transport.oversized_message")

# How much of an oversized message its log line shows.
_LOGGED_MESSAGE_CHARACTERS = 2000


def _shortened(value: Any) -> Any:
    """``value`` with every string and bytes value cut to what a log line shows: a
    megabyte's ``repr`` costs a millisecond, only to be cut at once. (``reprlib`` would
    sort the keys, pushing the request id behind the body.)"""
    if isinstance(value, dict):
        return {key: _shortened(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_shortened(child) for child in value)
    if isinstance(value, str | bytes) and len(value) > _LOGGED_MESSAGE_CHARACTERS:
        return value[:_LOGGED_MESSAGE_CHARACTERS]
    return value


def check_message_size(
    size: int, maximum: int, log_larger_than: int, description: str, message: Any
) -> None:
    """Raise ``MessageTooLarge`` if ``size`` is over ``maximum``; log ``message`` (censored,
    cut to its first 2000 characters) if it is over ``log_larger_than``.

    ``description`` names the message in both (``"request 12 to service 'calculator'"``).
    """
    if size > maximum:
        raise MessageTooLarge(
            size,
            f"The {description} is {size} bytes, over the limit of {maximum} bytes "
            "(maximum_message_size_in_bytes)",
        )
    if log_larger_than and size > log_larger_than:
        if not oversized_message_logger.isEnabledFor(logging.WARNING):
            return
        censored = repr(_shortened(RecursivelyCensoredDictWrapper(message).censored()))
        if len(censored) > _LOGGED_MESSAGE_CHARACTERS:
            censored = censored[:_LOGGED_MESSAGE_CHARACTERS] + "... (cut)"
        oversized_message_logger.warning(
            "Oversized message: the %s is %d bytes (logged over %d): %s",
            description,
            size,
            log_larger_than,
            censored,
        )
