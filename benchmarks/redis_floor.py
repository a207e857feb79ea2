"""The floors of the Redis benchmarks: the same push / blocking-pop exchange as a servicewire
call, with the same bytes, and no framework.

A floor client pushes a request a servicewire client really sent (captured by the benchmark,
see ``bench_redis.capture_payloads``) onto a request queue and waits on its own reply queue;
a floor server pops it and pushes the frames a servicewire server really answered (all chunks
of a chunked response in one push). Nothing is serialized or parsed: each request only
starts with one line naming its case and its reply queue, ``b"<case> <reply key>\\n"``, the
least routing any server needs. Two floors:

- ``redis-py``: the stock high-level API (``Redis.rpush`` and ``Redis.blpop``, the
  connection pool and hiredis), one round trip per command;
- ``raw``: RESP over a plain socket, commands packed by ``hiredis.pack_command`` and replies
  read by ``hiredis.Reader``; a push and the pop that follows it go in one write.

Server: ``python redis_floor.py <redis-py|raw> <redis port> <payload dir> [--processes N]``
(each process writes the heartbeat file ``BENCH_HEARTBEAT``, ``{{pid}}`` replaced, once it
serves). The clients are :func:`floor_call`, run by ``redis_callers.py``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import hiredis
import redis

SERVERS = ("redis-py", "raw")


def request_queue(server: str) -> bytes:
    """The request queue of one floor's server (each its own: a queue shared by both would
    give each server half of the other's calls)."""
    return b"pysoa:service.bench_floor." + server.encode()


POP_TIMEOUT = 5
_READ_SIZE = 1 << 20


def load_payloads(directory: Path) -> dict[bytes, tuple[bytes, list[bytes]]]:
    """Each case's captured request, and the frames of its response (``<case>.request``,
    ``<case>.response.<n>``)."""
    payloads = {}
    for request in sorted(directory.glob("*.request")):
        case = request.name.removesuffix(".request")
        frames = sorted(directory.glob(f"{case}.response.*"), key=lambda path: int(path.suffix[1:]))
        payloads[case.encode()] = (request.read_bytes(), [path.read_bytes() for path in frames])
    return payloads


class RawConnection:
    """RESP over a plain socket: write packed commands, read replies with ``hiredis``."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port))
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()
        self.buffer = bytearray(_READ_SIZE)

    def send(self, data: bytes) -> None:
        self.socket.sendall(data)

    def read(self) -> object:
        reply = self.reader.gets()
        while reply is False:
            size = self.socket.recv_into(self.buffer)
            if not size:
                raise ConnectionError("Redis closed the connection")
            self.reader.feed(self.buffer, 0, size)
            reply = self.reader.gets()
        return reply


def floor_call(
    floor: str, port: int, directory: Path, case: str, server: str | None = None
) -> Callable[[], object]:
    """One client call of a floor: push the case's request, pop every frame of its reply.

    ``server`` names the floor server that answers (by default ``raw`` for every client
    path but ``redis-py``'s own).
    """
    request, frames = load_payloads(directory)[case.encode()]
    reply_key = b"pysoa:service.bench_floor." + uuid.uuid4().hex.encode() + b"!1"
    message = b"%s %s\n%s" % (case.encode(), reply_key, request)
    count = len(frames)
    queue = request_queue(server or ("redis-py" if floor == "redis-py" else "raw"))
    if floor == "redis-py":
        client = redis.Redis(port=port)

        def stock_call() -> object:
            client.rpush(queue, message)
            return [client.blpop([reply_key], POP_TIMEOUT) for _ in range(count)]

        return stock_call
    if floor == "redis-py-connection":
        # One connection of redis-py's pool, held: no pool checkout, health check or fork
        # check per command, still two round trips.
        held = redis.Redis(port=port).connection_pool.get_connection()

        def held_call() -> object:
            held.send_command("RPUSH", queue, message)
            held.read_response()
            replies = []
            for _ in range(count):
                held.send_command("BLPOP", reply_key, POP_TIMEOUT)
                replies.append(held.read_response())
            return replies

        return held_call
    if floor == "redis-py-pipelined":
        # The held connection, with the push and the pops in one write (as servicewire's
        # links do): one round trip.
        held = redis.Redis(port=port).connection_pool.get_connection()
        commands = [
            hiredis.pack_command((b"RPUSH", queue, message)),
            *count * [hiredis.pack_command((b"BLPOP", reply_key, POP_TIMEOUT))],
        ]

        def pipelined_call() -> object:
            held.send_packed_command(commands, check_health=False)
            held.read_response()
            return [held.read_response() for _ in range(count)]

        return pipelined_call
    connection = RawConnection(port)
    # The push and every pop of the reply in one write (Redis runs them in order).
    exchange = hiredis.pack_command((b"RPUSH", queue, message)) + count * bytes(
        hiredis.pack_command((b"BLPOP", reply_key, POP_TIMEOUT))
    )

    def raw_call() -> object:
        connection.send(exchange)
        connection.read()
        return [connection.read() for _ in range(count)]

    return raw_call


def _route(data: bytes) -> tuple[bytes, bytes]:
    """The case and reply key of a floor request."""
    case, _, reply_key = data[: data.index(b"\n")].partition(b" ")
    return case, reply_key


def serve_stock(port: int, responses: dict[bytes, list[bytes]], ready: Callable[[], None]) -> None:
    client = redis.Redis(port=port)
    client.ping()
    ready()
    while True:
        popped = client.blpop([request_queue("redis-py")], POP_TIMEOUT)
        if popped is None:
            continue
        case, reply_key = _route(popped[1])
        client.rpush(reply_key, *responses[case])


def serve_raw(port: int, responses: dict[bytes, list[bytes]], ready: Callable[[], None]) -> None:
    connection = RawConnection(port)
    pop = hiredis.pack_command((b"BLPOP", request_queue("raw"), POP_TIMEOUT))
    connection.send(pop)
    ready()
    while True:
        popped = connection.read()
        if popped is None:
            connection.send(pop)
            continue
        assert isinstance(popped, list)
        case, reply_key = _route(popped[1])
        # The reply and the next pop in one write; the push's acknowledgement comes first.
        connection.send(hiredis.pack_command((b"RPUSH", reply_key, *responses[case])) + bytes(pop))
        connection.read()


def _write_heartbeat() -> None:
    heartbeat = os.environ.get("BENCH_HEARTBEAT")
    if heartbeat:
        Path(heartbeat.replace("{{pid}}", str(os.getpid()))).touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("floor", choices=SERVERS)
    parser.add_argument("port", type=int)
    parser.add_argument("payloads", type=Path)
    parser.add_argument("--processes", type=int, default=1)
    arguments = parser.parse_args()
    responses = {case: frames for case, (_, frames) in load_payloads(arguments.payloads).items()}
    serve = serve_stock if arguments.floor == "redis-py" else serve_raw
    children = []
    for _ in range(arguments.processes):
        child = os.fork()
        if child == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                serve(arguments.port, responses, _write_heartbeat)
            finally:
                os._exit(1)
        children.append(child)

    def stop(*_: object) -> None:
        for child in children:
            os.kill(child, signal.SIGTERM)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    for child in children:
        os.waitpid(child, 0)


if __name__ == "__main__":
    main()
