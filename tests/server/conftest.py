"""Fixtures of the server tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server import concurrency_services
from tests.server.concurrency_services import Deduplicated, Probe


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[Probe]:
    """A fresh probe for the actions of ``concurrency_services``; nothing stays latched after
    the test."""
    fresh = Probe()
    monkeypatch.setattr(concurrency_services, "probe", fresh)
    Deduplicated.runs = 0
    yield fresh
    fresh.allow(100)
