"""``servicewire dead-letters`` over Redis: the dead letters of at-least-once servers."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from servicewire.errors import InvalidMessageError
from servicewire.transport.redis import RedisServerTransport
from servicewire.transport.redis.dead_letters import DeadLetters
from tests.transport.redis.support import layer
from tests.transport.redis.test_server import REQUEST_QUEUE, framed, job


def bury_two(redis_url: str) -> None:
    """Two unreadable-for-the-server requests become dead letters of service echo."""
    client = redis.Redis.from_url(redis_url)
    transport = RedisServerTransport("echo", **layer(redis_url, delivery_guarantee="at_least_once"))
    for request_id in (1, 2):
        client.rpush(REQUEST_QUEUE, framed({"request_id": request_id, "meta": {}, "body": job()}))
        with pytest.raises(InvalidMessageError, match="no reply_to"):
            transport.receive_request_message()
    client.rpush(REQUEST_QUEUE, b"\xc1 garbage")
    with pytest.raises(InvalidMessageError, match="Undecodable"):
        transport.receive_request_message()
    transport.close()


def test_dead_letters_of_a_redis_url_are_listed_shown_retried_and_purged(
    run: Any, redis_url: str
) -> None:
    bury_two(redis_url)
    outcome = run("dead-letters", "list", "--transport", redis_url)
    assert outcome.status == 0, outcome.err
    assert "Request 1 has no" in outcome.out
    listed = json.loads(run("dead-letters", "list", "--json", "--transport", redis_url).out)
    assert [letter["request_id"] for letter in listed] == [1, 2, -1]
    first, second, unreadable = (letter["id"] for letter in listed)

    shown = json.loads(run("dead-letters", "show", first, "--json", "--transport", redis_url).out)
    assert shown["message"]["body"]["actions"][0]["action"] == "echo"
    shown = run("dead-letters", "show", unreadable, "--transport", redis_url)
    assert "cannot be decoded" in shown.out

    outcome = run("dead-letters", "retry", first, "--transport", redis_url)
    assert outcome.out == "Re-queued 1 dead letter(s).\n"
    assert redis.Redis.from_url(redis_url).llen(REQUEST_QUEUE) == 1
    outcome = run("dead-letters", "purge", "--all", "--transport", redis_url)
    assert outcome.out == "Discarded 2 dead letter(s).\n"
    assert DeadLetters(redis_url).list() == []
    assert second != first
