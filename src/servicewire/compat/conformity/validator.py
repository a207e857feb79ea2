"""Conformity's ``conformity.validator.validate``."""

from __future__ import annotations

from typing import Any

from servicewire.compat.conformity.error import ValidationError
from servicewire.compat.conformity.fields.base import Base

__all__ = ["validate"]


def validate(schema: Base, value: Any, noun: str = "value") -> None:
    """Raise :class:`ValidationError` listing each problem of ``value`` against ``schema``."""
    errors = schema.errors(value)
    if errors:
        problems = "\n".join(
            f"- {error.pointer}: {error.message}" if error.pointer else f"- {error.message}"
            for error in errors
        )
        raise ValidationError(f"Invalid {noun}:\n{problems}")
