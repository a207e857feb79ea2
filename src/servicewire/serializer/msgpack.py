"""The msgpack serializer, with the extension types PySOA peers exchange.

Extension types (payloads big-endian):

==== ============================ ==========================================
code type                         payload
==== ============================ ==========================================
1    naive ``datetime``           ``!q`` microseconds since 1970-01-01
10   aware ``datetime`` (as UTC)  ``!q`` microseconds since the UTC epoch
2    currency amount              ``!3sq`` currency code, int64 minor units
3    ``date``                     ``!HBB``
4    ``time`` (naive)             ``!3BL`` hour, minute, second, microsecond
5    ``Decimal``                  ``!H`` length + ASCII ``str(value)``
==== ============================ ==========================================

Currency amounts decode to ``currint.Amount`` when currint is installed, otherwise to
:class:`CurrencyAmount`; both encode. Aware datetimes decode with :data:`UTC`, a time zone
equal to every other spelling of UTC (``datetime.timezone.utc``, ``zoneinfo``'s, ``pytz.UTC``),
so that ``value.tzinfo == pytz.UTC`` holds as it does with PySOA, without depending on pytz.
"""

from __future__ import annotations

import datetime
import decimal
import struct
import threading
from dataclasses import dataclass
from typing import Any

import msgpack

from servicewire.errors import InvalidField, InvalidMessage
from servicewire.serializer._paths import find_unserializable
from servicewire.serializer.base import Serializer, require_dict

try:  # optional: PySOA services exchange currint amounts
    import currint as _currint
except ImportError:  # pragma: no cover - depends on the environment
    _currint = None

__all__ = ["UTC", "CurrencyAmount", "MsgpackSerializer"]

EXT_DATETIME = 1
EXT_CURRENCY_AMOUNT = 2
EXT_DATE = 3
EXT_TIME = 4
EXT_DECIMAL = 5
EXT_DATETIME_UTC = 10

_ZERO = datetime.timedelta(0)


def _is_utc(zone: datetime.tzinfo) -> bool:
    return zone.utcoffset(None) == _ZERO and zone.tzname(None) == "UTC"


class _Utc(datetime.tzinfo):
    """UTC that compares equal to any other UTC ``tzinfo``.

    ``datetime.timezone.utc`` and ``pytz.UTC`` are each equal only to themselves, and PySOA
    users compare decoded values' ``tzinfo`` with ``pytz.UTC``. Neither of those classes
    defines equality with a foreign zone, so Python asks this one, which says yes.
    """

    __slots__ = ()

    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return _ZERO

    def dst(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return _ZERO

    def tzname(self, dt: datetime.datetime | None) -> str:
        return "UTC"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, datetime.tzinfo) and _is_utc(other)

    def __hash__(self) -> int:
        return hash(datetime.timezone.utc)

    def __repr__(self) -> str:
        return "servicewire.serializer.msgpack.UTC"

    def __reduce__(self) -> str:
        return "UTC"


UTC: datetime.tzinfo = _Utc()
"""The time zone of decoded aware datetimes: UTC, equal to every other UTC ``tzinfo``."""

_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)

_INT64 = struct.Struct("!q")
_AMOUNT = struct.Struct("!3sq")
_DATE = struct.Struct("!HBB")
_TIME = struct.Struct("!3BL")
_LENGTH = struct.Struct("!H")


@dataclass(frozen=True, slots=True)
class CurrencyAmount:
    """A currency amount in minor units (``CurrencyAmount("USD", 1234)`` is $12.34)."""

    currency: str
    value: int


def _encode_amount(code: str, minor_units: int) -> msgpack.ExtType:
    return msgpack.ExtType(EXT_CURRENCY_AMOUNT, _AMOUNT.pack(code.encode("ascii"), minor_units))


def _default(value: Any) -> msgpack.ExtType:
    # datetime is a subclass of date, so it must be checked first.
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return msgpack.ExtType(EXT_DATETIME, _INT64.pack((value - _EPOCH) // _MICROSECOND))
        # Any aware datetime is sent as the same instant in UTC.
        return msgpack.ExtType(EXT_DATETIME_UTC, _INT64.pack((value - _EPOCH_UTC) // _MICROSECOND))
    if isinstance(value, datetime.date):
        return msgpack.ExtType(EXT_DATE, _DATE.pack(value.year, value.month, value.day))
    if isinstance(value, datetime.time):
        if value.tzinfo is not None:
            raise TypeError("a time with a time zone has no wire form; send a datetime")
        return msgpack.ExtType(
            EXT_TIME, _TIME.pack(value.hour, value.minute, value.second, value.microsecond)
        )
    if isinstance(value, decimal.Decimal):
        text = str(value).encode("ascii")
        return msgpack.ExtType(EXT_DECIMAL, _LENGTH.pack(len(text)) + text)
    if isinstance(value, CurrencyAmount):
        return _encode_amount(value.currency, value.value)
    if _currint is not None and isinstance(value, _currint.Amount):
        return _encode_amount(value.currency.code, value.value)
    raise TypeError(f"no wire form for a value of type {type(value).__name__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == EXT_DATETIME:
        return _EPOCH + datetime.timedelta(microseconds=_INT64.unpack(data)[0])
    if code == EXT_DATETIME_UTC:
        return _EPOCH_UTC + datetime.timedelta(microseconds=_INT64.unpack(data)[0])
    if code == EXT_DATE:
        return datetime.date(*_DATE.unpack(data))
    if code == EXT_TIME:
        return datetime.time(*_TIME.unpack(data))
    if code == EXT_DECIMAL:
        (length,) = _LENGTH.unpack_from(data)
        text = data[_LENGTH.size :]
        if len(text) != length:
            raise ValueError("decimal length prefix does not match its payload")
        return decimal.Decimal(text.decode("ascii"))
    if code == EXT_CURRENCY_AMOUNT:
        currency_code, minor_units = _AMOUNT.unpack(data)
        currency = currency_code.decode("ascii")
        if _currint is not None:
            return _currint.Amount.from_code_and_minor(currency, minor_units)
        return CurrencyAmount(currency, minor_units)
    return msgpack.ExtType(code, data)


# One packer per thread, kept: msgpack.packb builds a new one, with a buffer of its own, for
# every message. A packer empties its buffer after each message, and after one it failed to
# pack; one whose buffer grew for a large message is let go, so as not to keep that memory.
_packers = threading.local()
_LARGEST_KEPT_BUFFER = 256 * 1024


def _new_packer() -> msgpack.Packer:
    packer = _packers.packer = msgpack.Packer(
        use_bin_type=True, unicode_errors="surrogatepass", default=_default
    )
    return packer


def _packable(value: Any) -> bool:
    try:
        msgpack.packb(value, use_bin_type=True, default=_default)
    except Exception:
        return False
    return True


class MsgpackSerializer(Serializer):
    """``application/msgpack``: compact, typed, and the default on every transport."""

    mime_type = "application/msgpack"

    def dict_to_blob(self, message_dict: dict[str, Any]) -> bytes:
        require_dict(message_dict)
        try:
            packer = _packers.packer
        except AttributeError:
            packer = _new_packer()
        try:
            blob: bytes = packer.pack(message_dict)
        except Exception as error:
            path = find_unserializable(message_dict, _packable)
            raise InvalidField(f"Cannot serialize the value at {path}: {error}") from error
        if len(blob) > _LARGEST_KEPT_BUFFER:
            _new_packer()
        return blob

    def blob_to_dict(self, blob: bytes) -> dict[str, Any]:
        try:
            message = msgpack.unpackb(
                blob,
                raw=False,
                strict_map_key=False,
                unicode_errors="surrogatepass",
                ext_hook=_ext_hook,
            )
        except Exception as error:
            raise InvalidMessage(f"Cannot deserialize a msgpack message: {error}") from error
        if not isinstance(message, dict):
            raise InvalidMessage(f"A msgpack message must be a map, not {type(message).__name__}")
        return message
