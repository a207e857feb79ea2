"""At-least-once delivery over Redis: processing lists, heartbeats, the reaper, dead letters.

Clients push requests exactly as PySOA's do; only servers with
``delivery_guarantee="at_least_once"`` behave differently, with keys of their own beside the
queues (``<name>`` is the service's name, ``<server>`` a server's id,
``<host>:<pid>:<random>``):

``servicewire:service.<name>:processing:<server>`` (list)
    The requests a server took and has not finished: it takes each with one ``BLMOVE`` from
    the service's queue and removes it once it has answered, or decided not to.
``servicewire:service.<name>:heartbeat:<server>`` (string, with a TTL)
    Set three times per ``heartbeat_timeout_in_seconds`` by a thread of the server, whatever
    its job is doing; it expires when the server dies.
``servicewire:service.<name>:servers`` (set)
    The servers that may hold requests, so that the reaper finds them without scanning keys.
``servicewire:service.<name>:reaper`` (string, with a TTL)
    The id of the one server whose reaper runs; another takes over when it expires.
``servicewire:service.<name>:attempts`` (hash)
    For each request given back, by the SHA-1 of its bytes: how many of its deliveries ended
    with a dead server (``<sha1>``), and since when (``<sha1>:since``).
``servicewire:dead_letter:<id>`` (hash), ``servicewire:service.<name>:dead_letters``
(sorted set of ids), ``servicewire:dead_letter_services`` (set), ``servicewire:dead_letter_ids``
(counter)
    Requests given up on: delivered ``max_attempts`` times, each time to a server that died,
    or unreadable. See :mod:`servicewire.transport.redis.dead_letters`.

None of these names starts with the transport's queue prefix (``pysoa:``), so no
``reply_to`` can name one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

import redis

from servicewire.transport.redis.backend import CONNECTION_ERRORS, RedisBackend
from servicewire.transport.redis.codec import MessageCodec
from servicewire.transport.redis.link import QueueLink

__all__ = [
    "DEAD_LETTER_IDS",
    "DEAD_LETTER_SERVICES",
    "DeliveryKeeper",
    "DeliveryKeys",
    "dead_letter_key",
    "message_digest",
]

logger = logging.getLogger("servicewire.transport.redis")

KEY_PREFIX = "servicewire:"
DEAD_LETTER_SERVICES = KEY_PREFIX + "dead_letter_services"
DEAD_LETTER_IDS = KEY_PREFIX + "dead_letter_ids"
_DEAD_LETTER_PREFIX = KEY_PREFIX + "dead_letter:"

# Records a dead letter; KEYS: the service's dead-letter set, the id counter, the set of
# services; ARGV (from `first`): the item, attempts, last error, since, now, key prefix,
# service.
_BURY = """
local function bury(keys, first)
    local id = redis.call('incr', keys[2])
    redis.call('hset', ARGV[first + 5] .. id,
        'service', ARGV[first + 6], 'payload', ARGV[first], 'attempts', ARGV[first + 1],
        'last_error', ARGV[first + 2], 'enqueued_at', ARGV[first + 3],
        'dead_at', ARGV[first + 4])
    redis.call('zadd', keys[1], id, id)
    redis.call('sadd', keys[3], ARGV[first + 6])
    return id
end
"""

FINISH_SCRIPT = """
redis.call('lrem', KEYS[1], -1, ARGV[1])
if redis.call('exists', KEYS[2]) == 1 then
    local digest = redis.sha1hex(ARGV[1])
    redis.call('hdel', KEYS[2], digest, digest .. ':since')
end
return 0
"""
"""Remove a finished request ``ARGV[1]`` from the processing list ``KEYS[1]`` and forget its
attempts (``KEYS[2]``)."""

BURY_SCRIPT = (
    _BURY
    + """
local digest = redis.sha1hex(ARGV[1])
redis.call('lrem', KEYS[4], -1, ARGV[1])
local failed = tonumber(redis.call('hget', KEYS[5], digest) or '0')
local since = redis.call('hget', KEYS[5], digest .. ':since') or ARGV[4]
redis.call('hdel', KEYS[5], digest, digest .. ':since')
ARGV[2] = tostring(failed + 1)
ARGV[4] = since
return bury(KEYS, 1)
"""
)
"""Move an unusable request out of a processing list (``KEYS[4]``) into the dead letters."""

REAP_SCRIPT = (
    _BURY
    + """
local processing, servers, attempts, queue, heartbeat = KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local counting = ARGV[10] == '1'
if counting and redis.call('exists', heartbeat) == 1 then
    return {0, 0}
end
local requeued, buried = 0, 0
while true do
    local item = redis.call('rpop', processing)
    if not item then
        break
    end
    local give_back = true
    if counting then
        local digest = redis.sha1hex(item)
        local failed = redis.call('hincrby', attempts, digest, 1)
        redis.call('hsetnx', attempts, digest .. ':since', ARGV[5])
        if failed >= tonumber(ARGV[8]) then
            local since = redis.call('hget', attempts, digest .. ':since')
            redis.call('hdel', attempts, digest, digest .. ':since')
            ARGV[1], ARGV[2], ARGV[4] = item, tostring(failed), since
            bury(KEYS, 1)
            buried = buried + 1
            give_back = false
        end
    end
    if give_back then
        redis.call('lpush', queue, item)
        requeued = requeued + 1
    end
end
redis.call('srem', servers, ARGV[9])
if not counting then
    redis.call('del', heartbeat)
end
return {requeued, buried}
"""
)
"""Give the requests of server ``ARGV[9]`` back to the front of the queue, oldest first.

Reaping (``ARGV[10] == '1'``, only if its heartbeat ``KEYS[8]`` expired) counts an attempt
for each and buries those at ``max_attempts`` (``ARGV[8]``); a server closing (``'0'``)
gives back what it took but did not start, uncounted."""

_OWN_REAPER_SCRIPT = """
local owner = redis.call('get', KEYS[1])
if owner == ARGV[1] then
    redis.call('pexpire', KEYS[1], ARGV[2])
    return 1
end
if not owner then
    redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""

_RELEASE_REAPER_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    redis.call('del', KEYS[1])
end
return 0
"""


def message_digest(data: bytes) -> str:
    """The key of a request in the attempts hash (Redis's ``sha1hex`` of its bytes)."""
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def dead_letter_key(dead_letter_id: int) -> str:
    return _DEAD_LETTER_PREFIX + str(dead_letter_id)


class DeliveryKeys:
    """The names of a service's delivery keys (see the module's documentation)."""

    __slots__ = ("attempts", "base", "dead_letters", "reaper", "servers")

    def __init__(self, service_name: str) -> None:
        self.base = f"{KEY_PREFIX}service.{service_name}"
        self.servers = self.base + ":servers"
        self.reaper = self.base + ":reaper"
        self.attempts = self.base + ":attempts"
        self.dead_letters = self.base + ":dead_letters"

    def processing(self, server_id: str) -> str:
        return f"{self.base}:processing:{server_id}"

    def heartbeat(self, server_id: str) -> str:
        return f"{self.base}:heartbeat:{server_id}"

    def bury_keys(self) -> tuple[str, str, str]:
        return self.dead_letters, DEAD_LETTER_IDS, DEAD_LETTER_SERVICES


class DeliveryKeeper:
    """The at-least-once bookkeeping of one server transport in one process: its id, its
    processing list, and a thread that beats its heartbeat on every host and, while this
    server owns the reaper, gives back the requests of dead servers."""

    def __init__(
        self,
        backend: RedisBackend,
        service_name: str,
        request_queue: str,
        codec: MessageCodec,
        heartbeat_timeout: float,
        max_attempts: int,
    ) -> None:
        self.backend = backend
        self.service_name = service_name
        self.request_queue = request_queue
        self.codec = codec
        self.max_attempts = max_attempts
        self.keys = DeliveryKeys(service_name)
        self.server_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.pid = os.getpid()
        self.processing = self.keys.processing(self.server_id)
        self.heartbeat = self.keys.heartbeat(self.server_id)
        self._timeout_ms = max(1, int(heartbeat_timeout * 1000))
        self._interval = heartbeat_timeout / 3
        self._stopped = threading.Event()
        self._failing = False
        self._thread = threading.Thread(
            target=self._beat_until_stopped,
            name=f"servicewire-heartbeat-{service_name}",
            daemon=True,
        )

    # --- the heartbeat thread ---------------------------------------------------------------

    def start(self) -> None:
        """Beat once (so that the server is known before it takes anything), then keep
        beating in a thread."""
        self.beat()
        self._thread.start()

    def _beat_until_stopped(self) -> None:
        while not self._stopped.wait(self._interval):
            self.beat()

    def beat(self) -> None:
        """Renew the heartbeat on every host; reap where this server owns the reaper."""
        for host in range(self.backend.host_count):
            client = self.backend.client(host)
            try:
                pipeline = client.pipeline(transaction=False)
                pipeline.set(self.heartbeat, self.server_id, px=self._timeout_ms)
                pipeline.sadd(self.keys.servers, self.server_id)
                pipeline.eval(
                    _OWN_REAPER_SCRIPT, 1, self.keys.reaper, self.server_id, self._timeout_ms
                )
                owns_reaper = pipeline.execute()[2]
                if owns_reaper:
                    self.reap(client)
            except (redis.RedisError, *CONNECTION_ERRORS) as error:
                if not self._failing:
                    logger.warning(
                        "Cannot renew the heartbeat of server %s (service %r) on %s; it may "
                        "be taken for dead and its requests delivered again: %s",
                        self.server_id,
                        self.service_name,
                        self.backend.hosts[host],
                        error,
                    )
                self._failing = True
                continue
            if self._failing:
                logger.warning("Heartbeat of server %s renewed again", self.server_id)
                self._failing = False

    def reap(self, client: redis.Redis) -> None:
        """Give back the requests of every server of the service whose heartbeat expired."""
        for member in client.smembers(self.keys.servers):
            server = member.decode() if isinstance(member, bytes) else str(member)
            if server == self.server_id or client.exists(self.keys.heartbeat(server)):
                continue
            requeued, buried = self._give_back(
                client, server, f"server {server} stopped while handling it", counting=True
            )
            if requeued or buried:
                logger.warning(
                    "Server %s of service %r stopped heartbeating: %d request(s) delivered "
                    "again, %d became dead letters",
                    server,
                    self.service_name,
                    requeued,
                    buried,
                )
                for _ in range(requeued):
                    self.codec.count("delivery.redelivered")
                for _ in range(buried):
                    self.codec.count("delivery.dead_lettered")

    def _give_back(
        self, client: redis.Redis, server: str, reason: str, *, counting: bool
    ) -> tuple[int, int]:
        keys = self.keys
        result: Any = client.eval(
            REAP_SCRIPT,
            8,
            *keys.bury_keys(),
            keys.processing(server),
            keys.servers,
            keys.attempts,
            self.request_queue,
            keys.heartbeat(server),
            b"", b"", reason, b"", repr(time.time()), _DEAD_LETTER_PREFIX, self.service_name,
            self.max_attempts, server, "1" if counting else "0",
        )  # fmt: skip
        return int(result[0]), int(result[1])

    def close(self) -> None:
        """Stop beating; give back (uncounted) what this server took and did not finish,
        and hand the reaper over."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for host in range(self.backend.host_count):
            client = self.backend.client(host)
            try:
                requeued, _ = self._give_back(client, self.server_id, "", counting=False)
                client.eval(_RELEASE_REAPER_SCRIPT, 1, self.keys.reaper, self.server_id)
            except (redis.RedisError, *CONNECTION_ERRORS) as error:
                logger.warning(
                    "Server %s could not give back its unfinished requests (the reaper of "
                    "another server will): %s",
                    self.server_id,
                    error,
                )
                continue
            if requeued:
                logger.info("Gave back %d request(s) taken but not started", requeued)

    # --- on the serving threads -------------------------------------------------------------

    def finish(self, link: QueueLink, data: bytes) -> None:
        """Remove a request from the processing list (answered, or dropped); the answer is
        read with the link's next pop."""
        command = ("EVAL", FINISH_SCRIPT, 2, self.processing, self.keys.attempts, data)
        link.send_acknowledged_later(self.processing, command)

    def bury(self, link: QueueLink, data: bytes, error: str) -> None:
        """Move an unusable request from the processing list into the dead letters."""
        now = repr(time.time())
        command = (
            "EVAL", BURY_SCRIPT, 5, *self.keys.bury_keys(), self.processing, self.keys.attempts,
            data, b"1", error, now, now, _DEAD_LETTER_PREFIX, self.service_name,
        )  # fmt: skip
        link.send_acknowledged_later(self.processing, command)
        self.codec.count("delivery.dead_lettered")

    def delivery_attempt(self, host: int, data: bytes) -> int | None:
        """Which delivery of this request this is (``None`` if Redis cannot say now)."""
        try:
            failed = self.backend.client(host).hget(self.keys.attempts, message_digest(data))
        except (redis.RedisError, *CONNECTION_ERRORS):
            return None
        return 1 + int(failed or 0)
