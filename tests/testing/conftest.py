"""Every test of the toolkit starts with no stub active, an empty record of real calls and
the default contracts, and must leave them so; ``client`` calls the users and teams
services in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servicewire import Client
from servicewire.testing import contracts
from servicewire.testing.interception import active_stubs
from tests.testing.services import RAN, make_client


@pytest.fixture(autouse=True)
def clean_slate() -> Iterator[None]:
    RAN.clear()
    contracts.reset()
    yield
    contracts.reset()
    assert active_stubs() == [], "a test left stubs active"


@pytest.fixture
def client() -> Iterator[Client]:
    client = make_client()
    yield client
    client.close()
