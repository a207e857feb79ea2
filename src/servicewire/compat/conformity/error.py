"""Conformity's ``conformity.error``: what a field's ``errors(value)`` returns."""

from __future__ import annotations

from dataclasses import dataclass

from servicewire.errors import ERROR_CODE_INVALID, ERROR_CODE_MISSING, ERROR_CODE_UNKNOWN

__all__ = [
    "ERROR_CODE_INVALID",
    "ERROR_CODE_MISSING",
    "ERROR_CODE_UNKNOWN",
    "Error",
    "ValidationError",
]


@dataclass(frozen=True)
class Error:
    """One problem with a value: ``message``, ``code`` (``INVALID``, ``MISSING`` or
    ``UNKNOWN``) and ``pointer``, the dotted path to the offending value (``None`` for the
    value itself)."""

    message: str
    code: str = ERROR_CODE_INVALID
    pointer: str | None = None


class ValidationError(ValueError):
    """Raised by :func:`~servicewire.compat.conformity.validate` with the errors found."""
