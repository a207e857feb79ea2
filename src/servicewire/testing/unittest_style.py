# ruff: noqa: PT009 - these methods are unittest's assertions, by design
"""``unittest``'s methods for pytest-style test classes.

Test classes written for ``unittest`` (or for PySOA's ``PyTestServerTestCase``) call
``self.assertIn``, ``self.assertRaises``, ``self.addCleanup`` and define ``setUp`` and
``tearDown``. :class:`UnitTestStyleMethods` gives a plain pytest test class all of that: the
comparisons are ``unittest``'s own (same messages), ``assertRaises`` and ``assertWarns`` are
pytest's (``pytest.raises`` and ``pytest.warns``, so their context managers give pytest's
``ExceptionInfo``), and the ``setUp``/``tearDown``/``setUpClass``/``tearDownClass`` a subclass
defines are run from pytest's ``setup_method``/``teardown_method``/``setup_class``/
``teardown_class``.
"""

from __future__ import annotations

import logging
import re
import unittest
from collections.abc import Callable, Container, Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, ClassVar

__all__ = ["UnitTestStyleMethods"]


def _unittest_assertions() -> unittest.TestCase:
    case = unittest.TestCase()
    case.maxDiff = None
    return case


_ASSERTIONS = _unittest_assertions()

ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]
WarningTypes = type[Warning] | tuple[type[Warning], ...]
Regex = str | re.Pattern[str]


def _overrides(cls: type, name: str) -> bool:
    """Whether ``cls`` defines ``name`` itself, rather than inheriting this module's."""
    own = UnitTestStyleMethods.__dict__[name]
    mine = own.__func__ if isinstance(own, classmethod) else own
    theirs = getattr(cls, name)
    return getattr(theirs, "__func__", theirs) is not mine


def _expect(
    checker: Callable[..., Any],
    expected: Any,
    regex: Regex | None,
    function: Callable[..., Any] | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """``checker(expected, match=regex)`` (``pytest.raises`` or ``pytest.warns``) as a context
    manager, or, given ``function``, around ``function(*args, **kwargs)``."""
    options = {"match": regex} if regex is not None else {}
    if function is None:
        return checker(expected, **options, **kwargs)
    with checker(expected, **options) as outcome:
        function(*args, **kwargs)
    return outcome


class UnitTestStyleMethods:
    """``unittest.TestCase``'s methods for a pytest test class (see the module).

    Overrides of ``setup_method``, ``teardown_method``, ``setup_class`` and
    ``teardown_class`` must call ``super()``. Any other ``assert*`` or ``fail*`` method of
    ``unittest.TestCase`` works too.
    """

    _cleanups: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
    longMessage: ClassVar[bool] = True

    # --- set-up and tear-down --------------------------------------------------------------

    @classmethod
    def setUpClass(cls) -> None:
        """Run once before the class's tests (from ``setup_class``), when overridden."""

    @classmethod
    def tearDownClass(cls) -> None:
        """Run once after the class's tests (from ``teardown_class``), when overridden."""

    def setUp(self) -> None:
        """Run before each test (from ``setup_method``), when overridden."""

    def tearDown(self) -> None:
        """Run after each test (from ``teardown_method``), when overridden."""

    @classmethod
    def setup_class(cls) -> None:
        if _overrides(cls, "setUpClass"):
            cls.setUpClass()

    @classmethod
    def teardown_class(cls) -> None:
        if _overrides(cls, "tearDownClass"):
            cls.tearDownClass()

    def setup_method(self, method: Callable[..., Any] | None = None) -> None:
        self._cleanups = []
        if _overrides(type(self), "setUp"):
            self.setUp()

    def teardown_method(self, method: Callable[..., Any] | None = None) -> None:
        try:
            if _overrides(type(self), "tearDown"):
                self.tearDown()
        finally:
            self.doCleanups()

    def addCleanup(  # noqa: N802 - unittest's name
        self, function: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> None:
        """Call ``function(*args, **kwargs)`` after the test (last added, first called)."""
        self._cleanups.append((function, args, kwargs))

    def doCleanups(self) -> bool:  # noqa: N802 - unittest's name
        """Run the cleanups now; every one runs, then the first failure is raised."""
        failures: list[BaseException] = []
        while getattr(self, "_cleanups", None):
            function, args, kwargs = self._cleanups.pop()
            try:
                function(*args, **kwargs)
            except Exception as error:
                failures.append(error)
        if failures:
            raise failures[0]
        return True

    # --- pytest's exception and warning checks ---------------------------------------------

    def assertRaises(  # noqa: N802 - unittest's name
        self,
        exception: ExceptionTypes,
        callable: Callable[..., Any] | None = None,  # noqa: A002 - unittest's name
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """``pytest.raises(exception)``; with ``callable``, call it with the arguments."""
        import pytest

        return _expect(pytest.raises, exception, None, callable, args, kwargs)

    def assertRaisesRegex(  # noqa: N802 - unittest's name
        self,
        exception: ExceptionTypes,
        regex: Regex,
        callable: Callable[..., Any] | None = None,  # noqa: A002 - unittest's name
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """``pytest.raises(exception, match=regex)``; with ``callable``, call it."""
        import pytest

        return _expect(pytest.raises, exception, regex, callable, args, kwargs)

    def assertWarns(  # noqa: N802 - unittest's name
        self,
        exception: WarningTypes,
        callable: Callable[..., Any] | None = None,  # noqa: A002 - unittest's name
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """``pytest.warns(exception)``; with ``callable``, call it with the arguments."""
        import pytest

        return _expect(pytest.warns, exception, None, callable, args, kwargs)

    def assertWarnsRegex(  # noqa: N802 - unittest's name
        self,
        exception: WarningTypes,
        regex: Regex,
        callable: Callable[..., Any] | None = None,  # noqa: A002 - unittest's name
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """``pytest.warns(exception, match=regex)``; with ``callable``, call it."""
        import pytest

        return _expect(pytest.warns, exception, regex, callable, args, kwargs)

    # --- unittest's own comparisons ---------------------------------------------------------

    def assertLogs(  # noqa: N802 - unittest's name
        self, logger: str | logging.Logger | None = None, level: str | int | None = None
    ) -> Any:
        return _ASSERTIONS.assertLogs(logger, level)

    def assertIn(  # noqa: N802 - unittest's name
        self, member: Any, container: Iterable[Any] | Container[Any], msg: Any = None
    ) -> None:
        _ASSERTIONS.assertIn(member, container, msg)

    def assertNotIn(  # noqa: N802 - unittest's name
        self, member: Any, container: Iterable[Any] | Container[Any], msg: Any = None
    ) -> None:
        _ASSERTIONS.assertNotIn(member, container, msg)

    def assertDictEqual(  # noqa: N802 - unittest's name
        self, first: dict[Any, Any], second: dict[Any, Any], msg: Any = None
    ) -> None:
        _ASSERTIONS.assertDictEqual(first, second, msg)

    def assertSequenceEqual(  # noqa: N802 - unittest's name
        self,
        first: Sequence[Any],
        second: Sequence[Any],
        msg: Any = None,
        seq_type: type[Sequence[Any]] | None = None,
    ) -> None:
        _ASSERTIONS.assertSequenceEqual(first, second, msg, seq_type)

    def assertSetEqual(  # noqa: N802 - unittest's name
        self, first: AbstractSet[Any], second: AbstractSet[Any], msg: Any = None
    ) -> None:
        _ASSERTIONS.assertSetEqual(first, second, msg)

    def assertTupleEqual(  # noqa: N802 - unittest's name
        self, first: tuple[Any, ...], second: tuple[Any, ...], msg: Any = None
    ) -> None:
        _ASSERTIONS.assertTupleEqual(first, second, msg)

    def assertAlmostEqual(  # noqa: N802 - unittest's name
        self,
        first: float,
        second: float,
        places: int | None = None,
        msg: Any = None,
        delta: float | None = None,
    ) -> None:
        _ASSERTIONS.assertAlmostEqual(first, second, places, msg, delta)  # type: ignore[arg-type]

    def assertNotAlmostEqual(  # noqa: N802 - unittest's name
        self,
        first: float,
        second: float,
        places: int | None = None,
        msg: Any = None,
        delta: float | None = None,
    ) -> None:
        _ASSERTIONS.assertNotAlmostEqual(first, second, places, msg, delta)  # type: ignore[arg-type]

    def assertRegex(  # noqa: N802 - unittest's name
        self, text: str, regex: Regex, msg: Any = None
    ) -> None:
        _ASSERTIONS.assertRegex(text, regex, msg)

    def assertNotRegex(  # noqa: N802 - unittest's name
        self, text: str, regex: Regex, msg: Any = None
    ) -> None:
        _ASSERTIONS.assertNotRegex(text, regex, msg)

    def __getattr__(self, name: str) -> Any:
        # Every other assertion of unittest.TestCase (assertEqual, assertTrue, fail, ...).
        if name.startswith(("assert", "fail")):
            return getattr(_ASSERTIONS, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
