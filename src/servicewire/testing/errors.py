"""What the testing toolkit raises when a stub is set up wrong, and the check of the errors
a stub is told to answer with.

Both derive from ``AssertionError``: a stub that cannot answer, or answers what the real
service could not, is a failed expectation of the test, and test runners report it as one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from servicewire.types import Error

__all__ = ["StubContractError", "StubError", "stub_errors"]


class StubError(AssertionError):
    """A stub cannot answer a call: its ``side_effect`` ran out, or it gave something that is
    neither a body, errors, an exception nor a callable."""


class StubContractError(StubError):
    """A stub disagrees with the real action it stands in for: the action does not exist, or
    the stub's body fails the action's ``response_schema``, or no real action is known while
    a contract is required."""


def stub_errors(errors: Iterable[Error | Mapping[str, Any]]) -> list[Error]:
    """``errors`` as ``Error`` objects: each given as one, or as a dict with a code and a
    message; anything else is a ``TypeError`` naming it."""
    checked = []
    for error in errors:
        if isinstance(error, Error):
            checked.append(error)
        elif isinstance(error, Mapping) and "code" in error and "message" in error:
            checked.append(Error.from_dict(error))
        else:
            raise TypeError(
                f"stub_action errors must be Error objects or dicts with a code and a message, "
                f"not {error!r}"
            )
    return checked
