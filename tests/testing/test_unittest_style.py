"""unittest's methods in a pytest test class: PySOA's PyTestServerTestCase polyfills."""

from __future__ import annotations

# ruff: noqa: PT009, PT027 - unittest's assertions are the subject here
import logging
import warnings
from typing import Any, ClassVar

import pytest

from servicewire.testing.unittest_style import UnitTestStyleMethods

EVENTS: list[str] = []


class Recorded(UnitTestStyleMethods):
    @classmethod
    def setUpClass(cls) -> None:
        EVENTS.append("setUpClass")

    @classmethod
    def tearDownClass(cls) -> None:
        EVENTS.append("tearDownClass")

    def setUp(self) -> None:
        EVENTS.append("setUp")
        self.addCleanup(EVENTS.append, "cleanup 1")
        self.addCleanup(EVENTS.append, "cleanup 2")

    def tearDown(self) -> None:
        EVENTS.append("tearDown")


def test_unittest_set_up_and_tear_down_run_from_pytests_hooks() -> None:
    EVENTS.clear()
    Recorded.setup_class()
    case = Recorded()
    case.setup_method()
    case.teardown_method()
    Recorded.teardown_class()
    assert EVENTS == [
        "setUpClass",
        "setUp",
        "tearDown",
        "cleanup 2",
        "cleanup 1",
        "tearDownClass",
    ]


def test_nothing_runs_when_nothing_is_overridden() -> None:
    case = UnitTestStyleMethods()
    UnitTestStyleMethods.setup_class()
    case.setup_method()
    case.teardown_method()
    UnitTestStyleMethods.teardown_class()


def test_every_cleanup_runs_and_the_first_failure_is_raised() -> None:
    case = UnitTestStyleMethods()
    case.setup_method()
    ran: list[int] = []
    case.addCleanup(ran.append, 1)
    case.addCleanup(lambda: 1 / 0)
    case.addCleanup(ran.append, 3)
    with pytest.raises(ZeroDivisionError):
        case.teardown_method()
    assert ran == [3, 1]


class TestTheAssertions(UnitTestStyleMethods):
    names: ClassVar[list[str]] = []

    def test_comparisons_are_unittests(self) -> None:
        self.assertIn(1, [1])
        self.assertNotIn(2, [1])
        self.assertDictEqual({"a": 1}, {"a": 1})
        self.assertSequenceEqual([1, 2], (1, 2))
        self.assertSetEqual({1}, {1})
        self.assertTupleEqual((1,), (1,))
        self.assertAlmostEqual(0.1 + 0.2, 0.3)
        self.assertNotAlmostEqual(1.0, 1.1)
        self.assertRegex("abc", "b")
        self.assertNotRegex("abc", "z")
        self.assertEqual(1, 1)
        with pytest.raises(AssertionError, match=r"\{'a': 1\} != \{'a': 2\}"):
            self.assertDictEqual({"a": 1}, {"a": 2})
        with pytest.raises(AssertionError, match="2 not found in"):
            self.assertIn(2, [1])

    def test_assert_raises_is_pytest_raises(self) -> None:
        with self.assertRaises(KeyError) as raised:
            {}["x"]
        assert raised.type is KeyError
        info = self.assertRaises(ZeroDivisionError, lambda x: x / 0, 1)
        assert info.type is ZeroDivisionError
        with self.assertRaisesRegex(ValueError, "bad value"):
            raise ValueError("a bad value")
        with pytest.raises(pytest.fail.Exception):
            self.assertRaises(KeyError, lambda: None)

    def test_assert_warns_is_pytest_warns(self) -> None:
        with self.assertWarns(UserWarning):
            warnings.warn("careful", UserWarning, stacklevel=1)
        with self.assertWarnsRegex(UserWarning, "care"):
            warnings.warn("careful", UserWarning, stacklevel=1)

        def warn(text: str) -> None:
            warnings.warn(text, UserWarning, stacklevel=1)

        record: Any = self.assertWarns(UserWarning, warn, "now")
        assert str(record[0].message) == "now"

    def test_assert_logs(self) -> None:
        with self.assertLogs("servicewire.tests", level=logging.INFO) as logs:
            logging.getLogger("servicewire.tests").info("hello")
        assert logs.output == ["INFO:servicewire.tests:hello"]
        with pytest.raises(AssertionError, match="no logs"):
            with self.assertLogs("servicewire.tests", level=logging.ERROR):
                pass
