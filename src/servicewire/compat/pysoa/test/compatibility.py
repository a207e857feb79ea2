"""PySOA's ``pysoa.test.compatibility``: the ``mock`` its test code imports from there."""

from unittest import mock

__all__ = ["mock"]
