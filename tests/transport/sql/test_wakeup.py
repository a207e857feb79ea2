"""Waiting for work: polling back-off, and PostgreSQL notifications shared by threads."""

from __future__ import annotations

import threading

import psycopg
import pytest

from servicewire.transport.sql.database import open_database
from servicewire.transport.sql.wakeup import PollingWaiter, PostgresListener, new_listener
from tests.support.processes import wait_until


def test_polling_tokens_never_promise_that_nothing_changed() -> None:
    waiter = PollingWaiter(maximum_interval=0.01)

    assert waiter.token() != waiter.token()


def test_polling_wait_never_outlasts_its_timeout() -> None:
    waiter = PollingWaiter(maximum_interval=60)
    for _ in range(40):
        waiter.wait(waiter.token(), 0)  # the interval grows; the timeout still bounds it


@pytest.fixture
def listener(postgres_url: str) -> PostgresListener:
    database = open_database(postgres_url, "wakeup_")
    made = new_listener(database, ["wakeup_test"], "the test channel")
    assert made is not None
    return made


def _notify(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("NOTIFY wakeup_test")


def test_sqlite_has_no_listener(tmp_path: object) -> None:
    database = open_database(f"sqlite:///{tmp_path}/q.db", "servicewire_")

    assert new_listener(database, ["x"], "x") is None


def test_token_holds_still_until_a_notification(
    listener: PostgresListener, postgres_url: str
) -> None:
    token = listener.token()
    assert listener.token() == token

    _notify(postgres_url)
    listener.wait(token, 30)

    assert listener.token() != token
    listener.close()


def test_wait_with_a_stale_token_returns_at_once(
    listener: PostgresListener, postgres_url: str
) -> None:
    stale = listener.token()
    _notify(postgres_url)
    listener.wait(stale, 30)

    listener.wait(stale, 3600)  # returns: the token moved on

    listener.close()


def test_one_notification_wakes_every_waiting_thread(
    listener: PostgresListener, postgres_url: str
) -> None:
    token = listener.token()
    woken: list[str] = []

    def wait(name: str) -> None:
        listener.wait(token, 30)
        while listener.token() == token:  # a follower may wake before the leader's news
            listener.wait(token, 30)
        woken.append(name)

    threads = [threading.Thread(target=wait, args=(name,)) for name in "abc"]
    for thread in threads:
        thread.start()
    _notify(postgres_url)
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(woken) == ["a", "b", "c"]
    listener.close()


def test_lost_listening_connection_is_replaced_and_receivers_look_again(
    listener: PostgresListener, postgres_url: str
) -> None:
    token = listener.token()
    backend = listener._connection.info.backend_pid
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (backend,))

    listener.wait(token, 30)
    new_token = listener.token()

    assert new_token != token
    assert listener._connection.info.backend_pid != backend

    def notified_again() -> bool:
        _notify(postgres_url)
        listener.wait(new_token, 1)
        return listener.token() != new_token

    wait_until(notified_again, "a notification on the new connection")
    listener.close()
