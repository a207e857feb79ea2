"""Conformity's network fields: IP addresses and e-mail addresses, as text."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from pydantic_core import CoreSchema

from servicewire.compat.conformity.fields.base import check
from servicewire.compat.conformity.fields.basic import UnicodeString
from servicewire.compat.conformity.fields.meta import Any

__all__ = ["EmailAddress", "IPAddress", "IPv4Address", "IPv6Address"]


def _address_problem(version: int, value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return f"Not a valid IPv{version} address"
    return None if address.version == version else f"Not a valid IPv{version} address"


class IPv4Address(UnicodeString):
    """A ``str`` holding an IPv4 address (``"192.0.2.1"``)."""

    def core_schema(self) -> CoreSchema:
        return check(super().core_schema(), lambda value: _address_problem(4, value))


class IPv6Address(UnicodeString):
    """A ``str`` holding an IPv6 address (``"2001:db8::1"``)."""

    def core_schema(self) -> CoreSchema:
        return check(super().core_schema(), lambda value: _address_problem(6, value))


class IPAddress(Any):
    """A ``str`` holding an IPv4 or an IPv6 address."""

    def __init__(self, description: str | None = None) -> None:
        super().__init__(IPv4Address(), IPv6Address(), description=description)


# One ``@``, a local part without spaces or a second ``@``, a dotted domain: the shape
# Conformity's field checked, not every address RFC 5322 allows.
_EMAIL = re.compile(r"[^@\s]+@([^@\s.]+\.)+[^@\s.]+")


class EmailAddress(UnicodeString):
    """A ``str`` shaped like an e-mail address; ``whitelist`` lists domains accepted without
    a dot (``"localhost"``)."""

    def __init__(
        self, whitelist: Iterable[str] | None = None, description: str | None = None
    ) -> None:
        super().__init__(description=description)
        self.whitelist = frozenset(whitelist or ())

    def _problem(self, value: str) -> str | None:
        if _EMAIL.fullmatch(value):
            return None
        local, _, domain = value.rpartition("@")
        if local and domain in self.whitelist:
            return None
        return "Not a valid email address"

    def core_schema(self) -> CoreSchema:
        return check(super().core_schema(), self._problem)
