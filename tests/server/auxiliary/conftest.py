"""The SQL transport's fixtures (databases of each kind, cleanup), for the queued processor,
and a fresh probe for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.auxiliary import services
from tests.transport.sql.conftest import (  # noqa: F401 - fixtures
    _close_what_the_test_opened,
    _no_default_database_outside_the_test,
    database,
    server_processes,
    sqlite_database,
)


@pytest.fixture(autouse=True)
def probe() -> Iterator[services.Probe]:
    services.probe = services.Probe()
    try:
        yield services.probe
    finally:
        # Nothing may stay held after a test, whatever it asserted.
        services.probe.release.set()
