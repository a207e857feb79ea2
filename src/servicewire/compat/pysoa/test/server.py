"""PySOA's ``pysoa.test.server``."""

from servicewire.testing.cases import (
    BaseServerTestCase,
    PyTestServerTestCase,
    UnitTestServerTestCase,
)

__all__ = ["BaseServerTestCase", "PyTestServerTestCase", "UnitTestServerTestCase"]
