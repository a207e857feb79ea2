"""Logging helpers: request context on every record, censoring, syslog, configuration.

:class:`LogContextFilter` adds ``correlation_id``, ``request_id``, ``action_name`` and
``service_name`` to every log record emitted while a job is handled. The values live in a
context variable, so each thread and each coroutine sees its own job's values (a coroutine
scheduled with ``request.run_coroutine`` keeps the values of the job that scheduled it).

:class:`RecursivelyCensoredDictWrapper` wraps a request or response dict for logging and
replaces, recursively, the values of sensitive keys and anything that looks like a payment
card number (13 to 19 digits passing the Luhn check) with ``**********``.

:class:`SyslogHandler` sends records to syslog in packets that fit the connection's MTU.
:func:`configure_logging` applies a server's ``logging`` setting (or
:data:`DEFAULT_LOGGING`).
"""

from __future__ import annotations

import contextvars
import copy
import logging
import logging.config
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from servicewire._syslog import SyslogHandler

if TYPE_CHECKING:
    from servicewire.settings import Settings

__all__ = [
    "CENSORED",
    "DEFAULT_LOGGING",
    "SENSITIVE_FIELDS",
    "LogContextFilter",
    "PySOALogContextFilter",
    "RecursivelyCensoredDictWrapper",
    "SyslogHandler",
    "configure_logging",
    "log_context",
]

CENSORED = "**********"

# Each phrase is sensitive in snake_case, kebab-case and camelCase; the first group in its
# plural too.
_PLURALIZED_PHRASES = (
    "account number", "bank account", "bank account number", "card id",
    "card identification", "card identification code", "card identification number",
    "card identification value", "card number", "card security", "card security code",
    "card security number", "card security value", "card validation", "card validation code",
    "card validation number", "card validation value", "card verification",
    "card verification code", "card verification number", "card verification value",
    "cc number", "ccn", "cid", "credit card", "credit card number", "csc", "csn", "cvc",
    "cvc2", "cvd", "cve", "cvn2", "cvv", "cvv2", "icvv", "pass phrase", "passphrase", "passwd",
    "password", "personal id number", "personal identification number", "pin", "pin code",
    "pin number", "private", "private key", "secret", "secret key", "security code",
)  # fmt: skip
_SINGULAR_PHRASES = (
    "auth", "auth token", "authentication", "authentication token", "authorization",
    "authorization token", "pass", "token",
)  # fmt: skip


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("ty") else word + "s"


def _spellings(phrase: str) -> set[str]:
    words = phrase.split()
    camel = words[0] + "".join(word[:1].upper() + word[1:] for word in words[1:])
    return {"_".join(words), "-".join(words), camel}


def _sensitive_fields() -> frozenset[str]:
    names: set[str] = set()
    for phrase in _PLURALIZED_PHRASES:
        *head, last = phrase.split()
        names |= _spellings(phrase) | _spellings(" ".join([*head, _plural(last)]))
    for phrase in _SINGULAR_PHRASES:
        names |= _spellings(phrase)
    return frozenset(names)


SENSITIVE_FIELDS: frozenset[str] = _sensitive_fields()
"""Keys whose values are always censored in request and response logs."""


def _passes_luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def looks_like_card_number(value: object) -> bool:
    """Whether ``value`` (a string or an int) could be a payment card number."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        digits = str(value) if value > 0 else ""
    elif isinstance(value, str) and 13 <= len(value) <= 23:
        # Accept the usual groupings: "4111 1111 1111 1111", "4111-1111-1111-1111".
        digits = value.replace(" ", "").replace("-", "")
        if not digits.isascii() or not digits.isdigit():
            return False
    else:
        return False
    return 13 <= len(digits) <= 19 and _passes_luhn(digits)


_SENSITIVE_FIELDS_FOLDED = frozenset(field.casefold() for field in SENSITIVE_FIELDS)


class RecursivelyCensoredDictWrapper:
    """Wraps a dict so that its ``repr``/``str`` show it censored.

    The value of every key named in ``SENSITIVE_FIELDS`` or ``extra_fields_to_redact``
    (compared without regard to case, so ``Password`` and ``PASSWORD`` count too) is
    replaced, at any depth, unless it is ``None``, empty or a boolean (``"passphrase": True``
    tells nothing secret, and PySOA kept it too); so is every string or integer
    that looks like a payment card number, whatever its key.

    The censored copy is made on first use and cached, so wrapping costs nothing when the log
    record is never formatted. The wrapped dict itself is never modified.
    """

    SENSITIVE_FIELDS: frozenset[str] = SENSITIVE_FIELDS

    __slots__ = ("_censored", "_sensitive", "wrapped_dict")

    def __init__(
        self, wrapped_dict: Mapping[str, Any], extra_fields_to_redact: Iterable[str] = ()
    ) -> None:
        self.wrapped_dict = wrapped_dict
        if self.SENSITIVE_FIELDS is SENSITIVE_FIELDS and not extra_fields_to_redact:
            self._sensitive = _SENSITIVE_FIELDS_FOLDED
        else:
            self._sensitive = frozenset(
                field.casefold() for field in (*self.SENSITIVE_FIELDS, *extra_fields_to_redact)
            )
        self._censored: Any = None

    def censored(self) -> Any:
        """The censored copy of the wrapped dict."""
        if self._censored is None:
            self._censored = self._censor(self.wrapped_dict)
        return self._censored

    def _censor(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                key: (
                    CENSORED
                    if isinstance(key, str)
                    and key.casefold() in self._sensitive
                    and child is not None
                    and child != ""
                    and not isinstance(child, bool)
                    else self._censor(child)
                )
                for key, child in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return type(value)(self._censor(child) for child in value)
        if looks_like_card_number(value):
            return CENSORED
        return value

    def __repr__(self) -> str:
        return repr(self.censored())

    __str__ = __repr__


# (service_name, correlation_id, request_id, action_name): a plain tuple, as it is made for
# every job and every action.
_LogContext = tuple[str | None, str | None, int | None, str | None]


_log_context: contextvars.ContextVar[_LogContext | None] = contextvars.ContextVar(
    "servicewire_log_context", default=None
)

_MISSING = "--"


def set_log_context(
    service_name: str | None,
    correlation_id: str | None,
    request_id: int | None,
    action_name: str | None,
) -> contextvars.Token[_LogContext | None]:
    """Replace the current log context (the hot-path form of :func:`log_context`)."""
    return _log_context.set((service_name, correlation_id, request_id, action_name))


def set_log_action(action_name: str | None) -> contextvars.Token[_LogContext | None]:
    """Set the action name in the current log context, keeping the job's other details."""
    outer = _log_context.get()
    if outer is None:
        return _log_context.set((None, None, None, action_name))
    return _log_context.set((outer[0], outer[1], outer[2], action_name))


reset_log_context: Callable[[contextvars.Token[_LogContext | None]], None] = _log_context.reset
"""Undo the :func:`set_log_context` or :func:`set_log_action` that returned ``token``.

(The context variable's own method: it runs twice per job, and costs no Python call.)"""


def capture_log_context() -> _LogContext | None:
    """The current log context, to hand to :func:`restore_log_context` elsewhere."""
    return _log_context.get()


def restore_log_context(
    context: _LogContext | None,
) -> contextvars.Token[_LogContext | None]:
    """Make a captured log context current (undo with :func:`reset_log_context`)."""
    return _log_context.set(context)


@contextmanager
def log_context(
    *,
    service_name: str | None = None,
    correlation_id: str | None = None,
    request_id: int | None = None,
    action_name: str | None = None,
) -> Iterator[None]:
    """Put request details on every record logged inside the block (in this context only).

    Values not given are inherited from an enclosing block.
    """
    outer = _log_context.get()
    if outer is not None:
        service_name = service_name if service_name is not None else outer[0]
        correlation_id = correlation_id if correlation_id is not None else outer[1]
        request_id = request_id if request_id is not None else outer[2]
        action_name = action_name if action_name is not None else outer[3]
    token = set_log_context(service_name, correlation_id, request_id, action_name)
    try:
        yield
    finally:
        _log_context.reset(token)


# What PySOA's push-and-pop class methods below pushed, innermost last: each entry is the
# context dict given (``None`` for an action name) and the log context to restore on the pop.
# A tuple, so that a copied context (a thread, a task) cannot pop its parent's entries.
_Pushed = tuple[dict[str, Any] | None, _LogContext | None]
_pushed: contextvars.ContextVar[tuple[_Pushed, ...]] = contextvars.ContextVar(
    "servicewire_pushed_log_context", default=()
)
_default_service_name: str | None = None


def _push(context: dict[str, Any] | None, replacement: _LogContext) -> None:
    _pushed.set((*_pushed.get(), (context, _log_context.get())))
    _log_context.set(replacement)


def _pop(is_request: bool) -> None:
    stack = _pushed.get()
    for index in range(len(stack) - 1, -1, -1):
        if (stack[index][0] is not None) == is_request:
            _pushed.set(stack[:index] + stack[index + 1 :])
            _log_context.set(stack[index][1])
            return


class LogContextFilter(logging.Filter):
    """Adds the current job's details to each record (``--`` outside of a job).

    The class methods are PySOA's push-and-pop interface to the same context, for code that
    sets it by hand; servers set it themselves, and :func:`log_context` is the block form.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = _log_context.get()
        if context is None:
            record.service_name = _default_service_name or _MISSING
            record.correlation_id = record.request_id = record.action_name = _MISSING
        else:
            service_name, correlation_id, request_id, action_name = context
            record.service_name = service_name or _default_service_name or _MISSING
            record.correlation_id = correlation_id or _MISSING
            record.request_id = _MISSING if request_id is None else request_id
            record.action_name = action_name or _MISSING
        return True

    @classmethod
    def set_logging_request_context(cls, **context: Any) -> None:
        """Push a request context (its ``correlation_id`` and ``request_id`` are logged)."""
        outer = _log_context.get()
        _push(
            context,
            (
                outer[0] if outer else None,
                context.get("correlation_id"),
                context.get("request_id"),
                outer[3] if outer else None,
            ),
        )

    @classmethod
    def clear_logging_request_context(cls) -> None:
        """Pop the innermost request context pushed; nothing happens if there is none."""
        _pop(is_request=True)

    @classmethod
    def get_logging_request_context(cls) -> dict[str, Any] | None:
        """The innermost request context pushed, as it was given, or ``None``."""
        pushed: dict[str, Any] | None
        for pushed, _ in reversed(_pushed.get()):
            if pushed is not None:
                return pushed
        return None

    @classmethod
    def set_logging_action_name(cls, action_name: str) -> None:
        """Push the name of the action being run."""
        outer = _log_context.get() or (None, None, None, None)
        _push(None, (outer[0], outer[1], outer[2], action_name))

    @classmethod
    def clear_logging_action_name(cls) -> None:
        """Pop the innermost action name pushed; nothing happens if there is none."""
        _pop(is_request=False)

    @classmethod
    def get_logging_action_name(cls) -> str | None:
        """The name of the action being run, or ``None``."""
        context = _log_context.get()
        return context[3] if context else None

    @classmethod
    def set_service_name(cls, service_name: str) -> None:
        """The service name logged where the current context names none (process-wide)."""
        global _default_service_name  # noqa: PLW0603 - one name per process, as in PySOA
        _default_service_name = service_name


PySOALogContextFilter = LogContextFilter
"""The name PySOA logging configurations use for :class:`LogContextFilter`."""


DEFAULT_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"servicewire_context": {"()": "servicewire.logging.LogContextFilter"}},
    "formatters": {
        "console": {
            "format": "%(asctime)s %(levelname)7s %(correlation_id)s %(request_id)s: %(message)s"
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["servicewire_context"],
            "formatter": "console",
            "level": "INFO",
        },
    },
    "root": {"handlers": ["console"], "level": "INFO"},
}
"""The logging configuration a server process applies when its settings give none."""


def configure_logging(settings: Settings | Mapping[str, Any]) -> None:
    """Apply a server's ``logging`` setting with :func:`logging.config.dictConfig`.

    ``settings`` is a :class:`~servicewire.ServerSettings` or a settings dict. Its
    ``logging`` value replaces :data:`DEFAULT_LOGGING` entirely when given (it is not
    merged). The server process runtime calls this once, before the server is built.
    """
    if isinstance(settings, Mapping):
        config = settings.get("logging")
    else:
        config = getattr(settings, "logging", None)
    # dictConfig converts and pops keys of what it is given; keep the settings intact.
    logging.config.dictConfig(copy.deepcopy(dict(config) if config else DEFAULT_LOGGING))
