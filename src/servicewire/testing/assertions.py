"""Assertions about the errors a call fails with.

Each ``raises_*`` context manager expects the block to raise
:class:`~servicewire.CallActionError` and checks its errors; on failure it raises
``AssertionError`` saying what was expected, what is missing, what was not expected (with
``only``) and every error the call came back with. They work in any test runner.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from servicewire.errors import CallActionError
from servicewire.types import ActionResponse, Error

__all__ = [
    "CallActionErrorInfo",
    "ErrorExpectation",
    "raises_call_action_error",
    "raises_error_codes",
    "raises_field_errors",
    "raises_only_error_codes",
    "raises_only_field_errors",
]

ErrorCodes = str | Iterable[str]
FieldErrors = Mapping[str, str | Iterable[str]]
Pattern = str | re.Pattern[str] | None


def _codes(codes: ErrorCodes) -> list[str]:
    return [codes] if isinstance(codes, str) else list(codes)


def _describe_error(error: Error) -> str:
    where = f" (field {error.field})" if error.field else ""
    return f"{error.code}{where}: {error.message}"


def describe_errors(actions: Sequence[ActionResponse]) -> str:
    """One line per error of ``actions``: ``action: CODE (field f): message``."""
    lines = [
        f"  - {action.action}: {_describe_error(error)}"
        for action in actions
        for error in action.errors
    ]
    return "\n".join(lines) or "  (no errors)"


@dataclass(frozen=True)
class ErrorExpectation:
    """Errors a call should fail with: each ``(field, code)`` pair of ``wanted`` must match
    an error (a ``None`` field matches any field); with ``only``, every error must match one
    of them."""

    wanted: tuple[tuple[str | None, str], ...]
    only: bool = False

    @classmethod
    def codes(cls, error_codes: ErrorCodes, only: bool = False) -> ErrorExpectation:
        return cls(tuple((None, code) for code in _codes(error_codes)), only)

    @classmethod
    def fields(cls, field_errors: FieldErrors, only: bool = False) -> ErrorExpectation:
        return cls(
            tuple(
                (field_name, code)
                for field_name, codes in field_errors.items()
                for code in _codes(codes)
            ),
            only,
        )

    def describe(self) -> str:
        if all(field_name is None for field_name, _ in self.wanted):
            text = "error codes " + ", ".join(code for _, code in self.wanted)
        else:
            text = "field errors " + ", ".join(
                f"{field_name}: {code}" for field_name, code in self.wanted
            )
        return text + (" (and no others)" if self.only else "")

    @staticmethod
    def _matches(error: Error, wanted: tuple[str | None, str]) -> bool:
        field_name, code = wanted
        return error.code == code and (field_name is None or error.field == field_name)

    def problems(self, errors: Sequence[Error]) -> list[str]:
        """What does not hold for ``errors``: one line for the missing, one for the
        unexpected; empty if the expectation is met."""
        problems = []
        missing = [w for w in self.wanted if not any(self._matches(e, w) for e in errors)]
        if missing:
            problems.append(
                "Missing: "
                + ", ".join(code if name is None else f"{name}: {code}" for name, code in missing)
            )
        if self.only:
            unexpected = [
                error
                for error in errors
                if not any(self._matches(error, wanted) for wanted in self.wanted)
            ]
            if unexpected:
                problems.append(
                    "Unexpected: "
                    + ", ".join(
                        error.code + (f" (field {error.field})" if error.field else "")
                        for error in unexpected
                    )
                )
        return problems


@dataclass
class CallActionErrorInfo:
    """What the ``raises_*`` context managers give: the error, once the block has raised
    it."""

    value: CallActionError | None = None
    actions: list[ActionResponse] = field(default_factory=list)

    @property
    def errors(self) -> list[Error]:
        """Every error of every failed action, in order."""
        return [error for action in self.actions for error in action.errors]

    @property
    def soa_errors(self) -> list[Error]:
        """The errors of the first failed action (PySOA's name)."""
        return list(self.actions[0].errors) if self.actions else []


Check = Callable[[CallActionError], bool] | None


def _raise_options(options: Mapping[str, Any]) -> tuple[Pattern, Check]:
    """``pytest.raises``' keyword arguments, ``match`` and ``check``; anything else is a
    ``TypeError`` naming it."""
    unknown = sorted(set(options) - {"match", "check"})
    if unknown:
        raise TypeError(
            f"Unexpected keyword argument(s) {', '.join(unknown)}: "
            "the raises_* assertions take pytest.raises' match= and check="
        )
    return options.get("match"), options.get("check")


def check_call_action_error(
    error: CallActionError,
    expectation: ErrorExpectation | None,
    match: Pattern = None,
    check: Check = None,
) -> None:
    """Raise ``AssertionError`` unless ``error`` meets ``expectation``, ``match`` (a regular
    expression searched in its text) and ``check`` (a predicate of it)."""
    __tracebackhide__ = True
    if match is not None and not re.search(match, str(error)):
        raise AssertionError(
            f"The call failed, but its CallActionError does not match {match!r}:\n"
            f"{describe_errors(error.actions)}"
        )
    if check is not None and not check(error):
        raise AssertionError(
            f"The call failed, but {check!r} is false for its CallActionError:\n"
            f"{describe_errors(error.actions)}"
        )
    if expectation is None:
        return
    problems = expectation.problems([e for action in error.actions for e in action.errors])
    if problems:
        raise AssertionError(
            f"Expected the call to fail with {expectation.describe()}.\n"
            + "\n".join(problems)
            + f"\nThe call failed with:\n{describe_errors(error.actions)}"
        )


@contextmanager
def _raises(
    expectation: ErrorExpectation | None, options: Mapping[str, Any]
) -> Iterator[CallActionErrorInfo]:
    __tracebackhide__ = True
    match, check = _raise_options(options)
    info = CallActionErrorInfo()
    try:
        yield info
    except CallActionError as error:
        info.value = error
        info.actions = list(error.actions)
        check_call_action_error(error, expectation, match, check)
        return
    wanted = f" with {expectation.describe()}" if expectation is not None else ""
    raise AssertionError(f"Expected the call to fail{wanted}, but it raised nothing")


def raises_call_action_error(**kwargs: Any) -> AbstractContextManager[CallActionErrorInfo]:
    """Expect the block to raise ``CallActionError``. ``kwargs`` are ``pytest.raises``':
    ``match`` (a regular expression its text must contain a match of) and ``check`` (a
    predicate it must satisfy)."""
    return _raises(None, kwargs)


def raises_error_codes(
    error_codes: ErrorCodes, only: bool = False, **kwargs: Any
) -> AbstractContextManager[CallActionErrorInfo]:
    """Expect ``CallActionError`` with each of ``error_codes`` (one code or several); with
    ``only``, with no other errors. ``kwargs``: as :func:`raises_call_action_error`'s."""
    return _raises(ErrorExpectation.codes(error_codes, only), kwargs)


def raises_field_errors(
    field_errors: FieldErrors, only: bool = False, **kwargs: Any
) -> AbstractContextManager[CallActionErrorInfo]:
    """Expect ``CallActionError`` with, for each field of ``field_errors``, its code (or each
    of its codes); with ``only``, with no other errors. ``kwargs``: as
    :func:`raises_call_action_error`'s."""
    return _raises(ErrorExpectation.fields(field_errors, only), kwargs)


def raises_only_error_codes(
    error_codes: ErrorCodes, **kwargs: Any
) -> AbstractContextManager[CallActionErrorInfo]:
    """:func:`raises_error_codes` with ``only=True``."""
    return raises_error_codes(error_codes, only=True, **kwargs)


def raises_only_field_errors(
    field_errors: FieldErrors, **kwargs: Any
) -> AbstractContextManager[CallActionErrorInfo]:
    """:func:`raises_field_errors` with ``only=True``."""
    return raises_field_errors(field_errors, only=True, **kwargs)
