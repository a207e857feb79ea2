"""What the testing toolkit raises when a stub is set up wrong.

Both derive from ``AssertionError``: a stub that cannot answer, or answers what the real
service could not, is a failed expectation of the test, and test runners report it as one.
"""

from __future__ import annotations

__all__ = ["StubContractError", "StubError"]


class StubError(AssertionError):
    """A stub cannot answer a call: its ``side_effect`` ran out, or it gave something that is
    neither a body, errors, an exception nor a callable."""


class StubContractError(StubError):
    """A stub disagrees with the real action it stands in for: the action does not exist, or
    the stub's body fails the action's ``response_schema``, or no real action is known while
    a contract is required."""
