"""A thread's link to one Redis host: pushes held back to share a write with the next
command, and the socket's timeouts kept by the kernel while the link drives it."""

from __future__ import annotations

import os
import signal
import socket
import time
from typing import Any

import pytest
import redis

from servicewire.errors import ConnectionError as TransportConnectionError
from servicewire.errors import MessageReceiveError
from servicewire.transport.redis import link as link_module
from servicewire.transport.redis.backend import RedisBackend
from servicewire.transport.redis.link import QueueLink, is_marker, marker_of
from servicewire.transport.redis.settings import RedisTransportSettings
from tests.support.services import running_redis
from tests.transport.redis.support import commands_run, layer


def link_to(url: str, **settings: Any) -> QueueLink:
    """A link to ``url``, with more transport ``settings``."""
    validated = RedisTransportSettings.model_validate({**layer(url), **settings})
    return QueueLink(RedisBackend(validated), 0)


def connected_link_to(url: str) -> QueueLink:
    """A link that has made one push, so that it holds a connection."""
    link = link_to(url)
    link.push("queue", [b"x"], 60)
    link.settle()
    return link


def held_socket(link: QueueLink) -> socket.socket:
    assert link.held is not None
    return link.held.socket


def test_a_held_push_goes_out_with_the_wait_for_its_reply(
    redis_url: str, redis_client: redis.Redis
) -> None:
    link = link_to(redis_url)
    link.push("held", [b"request"], 60, hold=True)
    assert redis_client.llen("held") == 0
    assert link.pop("held", 1.0) == b"request"
    assert link.refused == []
    assert link.pending == []
    link.close()


def test_a_held_push_goes_out_before_the_next_push(
    redis_url: str, redis_client: redis.Redis
) -> None:
    link = link_to(redis_url)
    link.push("queue", [b"first"], 60, hold=True)
    link.push("queue", [b"second"], 60)
    link.settle()
    assert redis_client.lrange("queue", 0, -1) == [b"first", b"second"]
    link.close()


def test_settling_writes_a_held_push(redis_url: str, redis_client: redis.Redis) -> None:
    link = link_to(redis_url)
    link.push("queue", [b"only"], 60, hold=True)
    link.settle()
    assert redis_client.lrange("queue", 0, -1) == [b"only"]
    link.close()


def test_a_large_push_is_never_held(redis_url: str, redis_client: redis.Redis) -> None:
    link = link_to(redis_url)
    link.push("queue", [b"x" * 100_000], 60, hold=True)
    assert link.unsent is None
    assert redis_client.llen("queue") == 1
    link.close()


def test_a_held_push_to_a_full_queue_is_refused_with_the_pop(
    redis_url: str, redis_client: redis.Redis
) -> None:
    link = link_to(redis_url, queue_capacity=1)
    redis_client.rpush("full", b"already")
    link.push("full", [b"more"], 60, wake_key="mine", hold=True)
    # The refusal's marker on the sender's own queue wakes the wait at once.
    assert link.pop("mine", 5.0) == b"servicewire:queue-full"
    assert [push.queue_was_full for push in link.refused] == [True]
    link.close()


def test_the_socket_is_blocking_while_held_and_gets_its_timeout_back(redis_url: str) -> None:
    link = connected_link_to(redis_url)
    sock = held_socket(link)
    assert sock.gettimeout() is None
    connection = link.connection
    link.close()
    assert sock.gettimeout() == 10.0
    assert connection is not None
    # Back in the pool, the connection serves redis-py's own commands as before.
    client = redis.Redis(connection_pool=link.backend.pools[0])
    assert client.ping()


def test_the_receive_bound_is_set_only_when_a_wait_needs_another(redis_url: str) -> None:
    link = connected_link_to(redis_url)
    timeouts = link.held
    assert timeouts is not None
    assert timeouts.receive_bound == 10.0
    link.pop("empty", 0.01)  # needs about 2 s: much shorter than 10 s
    assert timeouts.receive_bound == pytest.approx(2.01, abs=0.01)
    link.pop("empty", 0.5)  # needs 2.5 s: longer than the bound
    assert timeouts.receive_bound == pytest.approx(2.5, abs=0.01)
    link.pop("empty", 0.01)  # a little shorter: kept
    assert timeouts.receive_bound == pytest.approx(2.5, abs=0.01)
    link.close()


def test_redis_falling_silent_is_a_lost_connection_within_the_bound() -> None:
    with running_redis() as server:
        link = connected_link_to(server.url)
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(TransportConnectionError, match=r"did not answer a 0\.100 s"):
                link.pop("queue-empty", 0.1)
            waited = time.monotonic() - started
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        assert waited < 10
        assert link.connection is None
        # The next use takes a fresh connection and works.
        link.push("queue", [b"y"], 60)
        assert link.pop("queue", 1.0) == b"x"
        link.close()


def test_a_connection_reconnected_by_redis_py_gets_its_bounds_again(redis_url: str) -> None:
    link = connected_link_to(redis_url)
    first = held_socket(link)
    connection = link.connection
    assert connection is not None
    connection.disconnect()
    link.last_answer = 0.0  # idle long enough to be checked before its next use
    link.push("queue", [b"y"], 60)
    link.settle()
    assert held_socket(link) is not first
    assert held_socket(link).gettimeout() is None
    link.close()


def test_a_held_push_on_a_dead_connection_is_reported_as_maybe_undelivered() -> None:
    with running_redis() as server:
        link = connected_link_to(server.url)
        link.push("held", [b"request"], 60, hold=True)
        server.stop()
        with pytest.raises(TransportConnectionError, match="1 push"):
            link.pop("held", 1.0)
        assert link.connection is None
        assert link.unsent is None


# --- pushes without acknowledgement ---------------------------------------------------------


def awaited_push(link: QueueLink, request_id: int, key: str = "requests") -> None:
    """A client's push of a request whose reply is waited for at once."""
    link.push(
        key,
        [b"request %d" % request_id],
        60,
        wake_key="mine",
        request_id=request_id,
        hold=True,
        acknowledge=False,
    )


def test_an_awaited_push_goes_unacknowledged_once_redis_accepted_one(
    redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.config_resetstat()
    link = link_to(redis_url)
    awaited_push(link, 1)
    # The first push on a connection is acknowledged: nothing is known of it yet.
    assert len(link.pending) == 1
    assert link.pop("requests", 1.0) == b"request 1"
    assert link.trusted
    for request_id in (2, 3):
        awaited_push(link, request_id)
        assert link.pending == []
        assert link.unacknowledged is not None
        assert link.unacknowledged.request_id == request_id
        assert link.pop("requests", 1.0) == b"request %d" % request_id
        link.replied(request_id)
        assert link.unacknowledged is None
    # CLIENT REPLY ON asked once for the connection, then SKIP before each of the two.
    assert commands_run(redis_client, "client|reply") == 3
    assert link.refused == []
    link.close()


def test_a_push_that_may_go_unacknowledged_is_acknowledged_while_others_are_pending(
    redis_url: str,
) -> None:
    link = link_to(redis_url)
    awaited_push(link, 1)
    link.settle()
    link.push("other", [b"unsettled"], 60)
    awaited_push(link, 2)
    assert [push.request_id for push in link.pending] == [None, 2]
    assert link.unacknowledged is None
    link.settle()
    link.close()


def test_a_full_queue_refuses_an_unacknowledged_push_with_its_own_marker(
    redis_url: str, redis_client: redis.Redis
) -> None:
    link = link_to(redis_url, queue_capacity=1)
    awaited_push(link, 1, key="full")
    link.settle()
    assert link.trusted
    awaited_push(link, 2, key="full")
    assert link.unacknowledged is not None
    marker = link.pop("mine", 5.0)
    assert marker == marker_of(2) == b"servicewire:queue-full:2"
    assert is_marker(marker)
    assert link.refused == []
    link.take_marker(marker)
    assert [(push.request_id, push.queue_was_full) for push in link.refused] == [(2, True)]
    assert link.unacknowledged is None
    # Retries after a refusal are acknowledged again.
    assert not link.trusted
    assert redis_client.lrange("full", 0, -1) == [b"request 1"]
    link.close()


def test_the_marker_of_another_push_refuses_nothing(redis_url: str) -> None:
    link = link_to(redis_url)
    awaited_push(link, 1)
    link.settle()
    awaited_push(link, 2)
    link.take_marker(marker_of(1))
    link.take_marker(marker_of(None))
    assert link.refused == []
    assert link.unacknowledged is not None
    assert link.pop("requests", 1.0) == b"request 1"
    assert link.pop("requests", 1.0) == b"request 2"
    link.close()


def test_after_a_distrust_the_next_push_is_acknowledged(redis_url: str) -> None:
    link = link_to(redis_url)
    awaited_push(link, 1)
    link.settle()
    link.distrust()
    awaited_push(link, 2)
    assert [push.request_id for push in link.pending] == [2]
    assert link.pop("requests", 1.0) == b"request 1"
    assert link.trusted
    link.close()


def test_a_new_connection_starts_untrusted(redis_url: str) -> None:
    link = link_to(redis_url)
    awaited_push(link, 1)
    link.settle()
    assert link.trusted
    link.close()
    assert not link.trusted
    assert link.replies_skippable is None
    awaited_push(link, 2)
    assert [push.request_id for push in link.pending] == [2]
    link.settle()
    link.close()


def test_redis_refusing_client_reply_leaves_every_push_acknowledged() -> None:
    with running_redis() as server:
        admin = redis.Redis.from_url(server.url)
        admin.acl_setuser(
            "limited",
            enabled=True,
            nopass=True,
            keys=["*"],
            channels=["*"],
            commands=["+@all", "-client"],
        )
        limited_url = server.url.replace("redis://", "redis://limited@")
        link = link_to(limited_url)
        for request_id in (1, 2, 3):
            awaited_push(link, request_id)
            assert [push.request_id for push in link.pending] == [request_id]
            assert link.pop("requests", 1.0) == b"request %d" % request_id
            assert link.refused == []
        assert link.replies_skippable is False
        link.close()
        admin.close()


def test_an_unacknowledged_push_on_a_dead_connection_is_reported_as_maybe_undelivered() -> None:
    with running_redis() as server:
        link = link_to(server.url)
        awaited_push(link, 1)
        link.settle()
        awaited_push(link, 2)
        assert link.unacknowledged is not None
        server.stop()
        with pytest.raises(TransportConnectionError, match="1 push"):
            link.pop("requests", 1.0)
        assert link.unacknowledged is None
        assert not link.trusted


def test_a_connection_dying_before_the_probe_is_lost_and_the_next_push_reconnects(
    redis_url: str, redis_client: redis.Redis
) -> None:
    link = link_to(redis_url)
    awaited_push(link, 1)
    assert link.pop("requests", 1.0) == b"request 1"
    assert link.trusted
    assert link.replies_skippable is None
    # Killed while in use (no idle check runs): the probe of CLIENT REPLY meets the dead socket.
    redis_client.client_kill_filter(_type="normal", skipme=True)
    with pytest.raises(TransportConnectionError, match="push to requests"):
        awaited_push(link, 2)
    assert link.connection is None
    assert not link.trusted
    awaited_push(link, 3)
    assert [push.request_id for push in link.pending] == [3]
    assert link.pop("requests", 1.0) == b"request 3"
    link.close()


# --- a server's responses without acknowledgement ------------------------------------------


def answering_push(link: QueueLink, request_id: int, key: str = "replies") -> None:
    """A server's push of a response written with its next wait (no wake key of its own)."""
    link.push(
        key, [b"response %d" % request_id], 60, request_id=request_id, hold=True, acknowledge=False
    )


def trusted_link_to(url: str, **settings: Any) -> QueueLink:
    """A link whose first response Redis accepted, acknowledged."""
    link = link_to(url, **settings)
    answering_push(link, 1, key="first")
    assert link.pending != []
    assert link.pop("requests", 0.05) is None
    assert link.trusted
    return link


def answering_into_a_full_queue(url: str, redis_client: redis.Redis) -> QueueLink:
    """A trusted link that has just sent response 2, unacknowledged, to a full queue."""
    redis_client.rpush("full", b"waiting")
    link = trusted_link_to(url, queue_capacity=1)
    answering_push(link, 2, key="full")
    return link


def test_a_response_goes_unacknowledged_and_the_next_pop_shows_it_queued(
    redis_url: str, redis_client: redis.Redis
) -> None:
    link = trusted_link_to(redis_url)
    redis_client.config_resetstat()
    answering_push(link, 2)
    assert link.pending == []
    assert link.unacknowledged is not None
    assert link.unacknowledged.wake_key == link.notice_key
    redis_client.rpush("requests", b"next")
    assert link.pop("requests", 1.0) == b"next"
    # The pop watched the notice key first and found nothing there: the push was queued.
    assert link.unacknowledged is None
    assert redis_client.lrange("replies", 0, -1) == [b"response 2"]
    # The probe of CLIENT REPLY, then one SKIP.
    assert commands_run(redis_client, "client|reply") == 2
    link.close()


def test_a_full_queue_refuses_a_response_by_a_notice_that_ends_the_next_pop(
    redis_url: str, redis_client: redis.Redis
) -> None:
    link = answering_into_a_full_queue(redis_url, redis_client)
    notice_key = link.notice_key
    assert notice_key is not None
    assert notice_key.startswith("pysoa:servicewire.notices.")
    # Nothing would come on the request queue within the wait: the notice ends it.
    assert link.pop_up_to("requests", 30.0, 1) == []
    assert [(push.request_id, push.queue_was_full) for push in link.refused] == [(2, True)]
    assert link.unacknowledged is None
    assert not link.trusted
    assert redis_client.exists(notice_key) == 0
    assert redis_client.lrange("full", 0, -1) == [b"waiting"]
    link.close()


def test_a_response_held_for_a_wait_that_never_comes_is_acknowledged_when_written(
    redis_url: str, redis_client: redis.Redis
) -> None:
    link = answering_into_a_full_queue(redis_url, redis_client)
    assert link.unacknowledged is not None
    # Written by a settle (as a server's close does): no pop would see a notice.
    link.settle()
    assert [(push.request_id, push.queue_was_full) for push in link.refused] == [(2, True)]
    assert link.unacknowledged is None
    assert redis_client.keys("pysoa:servicewire.notices.*") == []
    link.close()


def test_trust_runs_out_so_pushes_are_acknowledged_that_often(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(link_module, "_TRUST_LASTS", 0.0)
    link = link_to(redis_url)
    for request_id in (1, 2, 3):
        answering_push(link, request_id)
        assert [push.request_id for push in link.pending] == [request_id]
        assert link.pop("requests", 0.05) is None
    assert link.replies_skippable is None
    link.close()


def test_a_refusal_unseen_is_reported_with_the_next_acknowledged_push() -> None:
    with running_redis() as server:
        admin = redis.Redis.from_url(server.url)
        link = trusted_link_to(server.url)
        # Out of memory, Redis refuses pushes but not waits.
        admin.config_set("maxmemory", 1)
        try:
            answering_push(link, 2)
            assert link.unacknowledged is not None
            assert link.pop("requests", 0.05) is None
            assert link.refused == []
            # When trust has run out, the next push is acknowledged and says why.
            link.trusted_until = 0.0
            answering_push(link, 3)
            assert link.pop("requests", 0.05) is None
            [refused] = link.refused
            error = str(link.refusal(refused))
        finally:
            admin.config_set("maxmemory", 0)
        assert "OOM" in error
        assert "1 push(es) sent before it without acknowledgement" in error
        assert admin.llen("replies") == 0
        link.close()
        admin.close()


def test_a_wait_refused_after_an_unacknowledged_push_says_it_may_be_undelivered(
    redis_url: str, redis_client: redis.Redis
) -> None:
    link = trusted_link_to(redis_url)
    answering_push(link, 2)
    redis_client.set("requests", "not a list")
    with pytest.raises(MessageReceiveError, match=r"WRONGTYPE.*1 push"):
        link.pop("requests", 1.0)
    assert link.connection is None
    link.close()
