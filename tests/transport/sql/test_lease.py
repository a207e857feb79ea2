"""Renewing the lease on the message being handled, from a background thread."""

from __future__ import annotations

import logging
import threading

import pytest

from servicewire.transport.sql.lease import LeaseKeeper
from tests.support.processes import wait_until


class Renewals:
    def __init__(self, held: bool = True) -> None:
        self.count = 0
        self.held = held
        self.lock = threading.Lock()

    def __call__(self) -> bool:
        with self.lock:
            self.count += 1
        return self.held


def test_lease_is_renewed_until_released() -> None:
    keeper = LeaseKeeper(0.01, "test server")
    first, second = Renewals(), Renewals()

    keeper.hold("first", first)
    wait_until(lambda: first.count >= 3, "three renewals")
    keeper.release("first")
    keeper.hold("second", second)
    wait_until(lambda: second.count >= 1, "the next lease's renewal")
    after_release = first.count
    wait_until(lambda: second.count >= 3, "more renewals")

    assert first.count == after_release
    keeper.close()


def test_lost_lease_is_logged_and_no_longer_renewed(caplog: pytest.LogCaptureFixture) -> None:
    keeper = LeaseKeeper(0.01, "test server")
    lost, next_lease = Renewals(held=False), Renewals()

    with caplog.at_level(logging.WARNING, "servicewire.transport.sql"):
        keeper.hold("lost", lost)
        wait_until(lambda: "lost the lease" in caplog.text, "the warning")
        keeper.hold("next", next_lease)
        wait_until(lambda: next_lease.count >= 2, "the next lease's renewals")

    assert lost.count == 1
    keeper.close()


def test_nothing_is_renewed_without_a_lease() -> None:
    keeper = LeaseKeeper(0.01, "test server")
    renewals = Renewals()
    keeper.hold("only", renewals)
    keeper.release("only")
    count = renewals.count

    keeper.close()

    assert renewals.count == count
    assert keeper._thread is not None
    assert not keeper._thread.is_alive()


def test_several_leases_are_renewed_together_until_each_is_released() -> None:
    keeper = LeaseKeeper(0.01, "test server")
    leases = {name: Renewals() for name in ("a", "b", "c")}
    for name, renewals in leases.items():
        keeper.hold(name, renewals)
    wait_until(lambda: all(r.count >= 3 for r in leases.values()), "renewals of each")

    keeper.release("b")
    mark = leases["a"].count
    # Two more rounds: a renewal of "b" under way at the release has ended.
    wait_until(lambda: leases["a"].count >= mark + 2, "two more rounds")
    released_at, mark = leases["b"].count, leases["c"].count
    wait_until(lambda: leases["c"].count >= mark + 3, "renewals go on")

    assert leases["b"].count == released_at
    keeper.close()
