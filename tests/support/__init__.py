"""Helpers shared by the test suite: real servers started for the tests, and PySOA."""
