"""A thread's own connection to one Redis host, with the hot-path queue operations.

Sending a message and waiting for the next one are what a transport does on every call, so
they cost as few round trips as possible: a push writes its script call and returns without
waiting for Redis's acknowledgement, which is read together with the answer to the next
blocking pop (one write and one wait per call instead of two of each). Acknowledgements are
read, in order, before the pop's answer, so that a refused push is never missed: the
caller finds it in :attr:`QueueLink.refused` and retries it (a full queue) or reports it.

A push written together with the wait that follows it (a client's request whose reply it
waits for, a server's response before its next receive) may even go without an
acknowledgement (``CLIENT REPLY SKIP``), sparing Redis a write and the sender a wake-up per
call. A full queue still answers at once: the push script leaves a marker naming the
request on the sender's wake key (a client's own reply queue; for a server, a notice key of
the connection's own, which the next pop watches before the request queue), and the pop
returns it. Most other refusals (a demoted master, a busy or loading Redis) refuse the wait
as well. What only the push would be refused for (Redis out of memory, a key of the wrong
type) goes unseen, so a push goes unacknowledged only on a trusted connection: one where
Redis accepts ``CLIENT REPLY`` and accepted an acknowledged push less than a second ago
(since the connection was made, and since a client's last call timed out). At least one
push a second is acknowledged, and reports such a refusal itself.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import hiredis
import redis

from servicewire.errors import ConnectionError as TransportConnectionError
from servicewire.errors import MessageReceiveError, MessageSendError
from servicewire.transport.redis.backend import (
    BLOCKING_READ_MARGIN,
    CONNECTION_ERRORS,
    PUSH_SCRIPT,
    QUEUE_FULL_MARKER,
    RedisBackend,
    SyncConnection,
    is_queue_full,
    popped_items,
    queue_full_error,
    retry_pauses,
)
from servicewire.transport.redis.held_socket import HeldSocket
from servicewire.transport.redis.protocol import QUEUE_NAME_PREFIX

__all__ = ["PendingPush", "QueueLink", "is_marker", "marker_of"]

# A link may hold this many unacknowledged pushes; one more makes it read them first.
_MAXIMUM_PENDING = 64
# A connection that answered this recently is alive; an idler one is checked before use.
_CHECK_IDLE_AFTER = 1.0
# A push held back to share a write with the next command is at most this large (a larger
# one gains nothing from sharing and would be copied to be joined).
_MOST_HELD_BYTES = 16 * 1024
# Written before a push to go unacknowledged: Redis drops the answer to the next command.
_SKIP_NEXT_REPLY = hiredis.pack_command(cast(Any, ("CLIENT", "REPLY", "SKIP")))
# Asked once per connection before the first such push: whether Redis (or a proxy, or the
# user's ACL) accepts CLIENT REPLY at all.
_REPLIES_ON = hiredis.pack_command(cast(Any, ("CLIENT", "REPLY", "ON")))
# How long an accepted acknowledged push lets later ones go without acknowledgement: the
# longest a refusal that nothing else reports (Redis out of memory) goes unseen.
_TRUST_LASTS = 1.0

_links: weakref.WeakSet[QueueLink] = weakref.WeakSet()


def _forget_connections_after_fork() -> None:
    # A forked child must never talk on its parent's sockets.
    for link in list(_links):
        link.connection = None
        link.held = None
        link.unsent = None
        link.pending.clear()
        link.refused.clear()
        link.forget_connection_state()


os.register_at_fork(after_in_child=_forget_connections_after_fork)


@dataclass(slots=True)
class PendingPush:
    """A push written to Redis; ``error`` is set if Redis refused it."""

    key: str
    frames: Sequence[bytes]
    expiry: int
    max_wait: float | None
    wake_key: str | None
    request_id: int | None
    error: redis.ResponseError | None = None

    @property
    def queue_was_full(self) -> bool:
        return self.error is not None and is_queue_full(self.error)


class QueueLink:
    """One connection to one host, used by one thread.

    :meth:`push` writes and moves on; :meth:`pop` sends a blocking pop, reads the
    acknowledgements of the pushes written before it, then waits for the pop's answer.
    Refused pushes are collected in :attr:`refused` for the caller, who retries those whose
    queue was full with :meth:`push_now`.
    """

    __slots__ = (
        "__weakref__",
        "backend",
        "connection",
        "held",
        "host",
        "last_answer",
        "notice_key",
        "pending",
        "refused",
        "replies_skippable",
        "trusted_until",
        "unacknowledged",
        "unconfirmed",
        "unsent",
    )

    def __init__(self, backend: RedisBackend, host: int) -> None:
        self.backend = backend
        self.host = host
        self.connection: SyncConnection | None = None
        # The connection's socket, when the link drives it itself (see HeldSocket).
        self.held: HeldSocket | None = None
        self.pending: list[PendingPush] = []
        # A push held back to go out in one write with the command after it (see push).
        self.unsent: bytes | None = None
        self.refused: list[PendingPush] = []
        self.last_answer = 0.0
        # The state of the connection for pushes without acknowledgement (see push).
        self.replies_skippable: bool | None = None
        self.trusted_until = 0.0
        self.unacknowledged: PendingPush | None = None
        # Pushes sent without acknowledgement that no reply has shown delivered.
        self.unconfirmed = 0
        # Where the script leaves the marker of an unacknowledged push that has no wake key
        # of its sender's (a server's response): made with the connection, never shared.
        self.notice_key: str | None = None
        _links.add(self)

    def forget_connection_state(self) -> None:
        """Forget what the link learnt of its connection (a new one starts untrusted)."""
        self.replies_skippable = None
        self.trusted_until = 0.0
        self.unacknowledged = None
        self.unconfirmed = 0
        self.notice_key = None

    @property
    def trusted(self) -> bool:
        """Whether a push may go without acknowledgement now (see the module's
        documentation)."""
        return time.monotonic() < self.trusted_until

    @property
    def where(self) -> str:
        return self.backend.hosts[self.host]

    def _ready_connection(self) -> SyncConnection:
        connection = self.connection
        if connection is None:
            connection = self.connection = self.backend.connection(self.host)
            self.held = HeldSocket.of(connection)
            self.forget_connection_state()
        elif not self.pending and time.monotonic() - self.last_answer > _CHECK_IDLE_AFTER:
            # Readable while nothing is expected: the server closed it (a restart, say).
            held = self.held
            if held is None:
                try:
                    stale = connection.can_read(0)
                except CONNECTION_ERRORS:
                    stale = True
            else:
                stale = not held.is_current() or held.is_stale()
            if stale:
                connection.disconnect()
                cast(Any, connection).connect()
                self.held = HeldSocket.of(connection)
                self.forget_connection_state()
        return connection

    def _read(self, limit: float | None = None) -> Any:
        """The next answer on the link's connection, waiting at most about ``limit``
        seconds (without one, as long as the wait before)."""
        held = self.held
        if held is not None:
            return held.read(limit)
        connection = cast(SyncConnection, self.connection)
        if limit is None:
            return connection.read_response()
        return connection.read_response(timeout=limit)

    def _write(self, connection: SyncConnection, packed: bytes) -> None:
        held = self.held
        if held is None:
            connection.send_packed_command([packed], check_health=False)
        else:
            held.send(packed)

    def _send(self, command: tuple[object, ...], doing: str) -> SyncConnection:
        packed = hiredis.pack_command(cast(Any, command))
        unsent = self.unsent
        if unsent is not None:
            self.unsent = None
            packed = unsent + packed
        try:
            connection = self._ready_connection()
            self._write(connection, packed)
        except CONNECTION_ERRORS as error:
            raise self._lost(error, doing) from None
        return connection

    def flush(self) -> None:
        """Write a push held back by :meth:`push` (``hold=True``), if one is."""
        unsent = self.unsent
        if unsent is None:
            return
        self.unsent = None
        push = self.unacknowledged
        if push is not None and unsent.startswith(_SKIP_NEXT_REPLY):
            # Written without the wait it was held for, nothing would watch for its marker:
            # it goes acknowledged after all.
            self.unacknowledged = None
            self.unconfirmed -= 1
            if push.wake_key == self.notice_key:
                push.wake_key = None
            unsent = hiredis.pack_command(self._push_command(push))
            self.pending.append(push)
        try:
            self._write(self._ready_connection(), unsent)
        except CONNECTION_ERRORS as error:
            raise self._lost(error, "push") from None

    def push(
        self,
        key: str,
        frames: Sequence[bytes],
        expiry: int,
        *,
        wake_key: str | None = None,
        max_wait: float | None = None,
        request_id: int | None = None,
        hold: bool = False,
        acknowledge: bool = True,
    ) -> None:
        """Write an atomic push of ``frames`` onto ``key``; its acknowledgement is read by
        the next :meth:`pop` or :meth:`settle`.

        ``wake_key``, the sender's own reply queue on this host, receives a marker if the
        queue is full (:func:`marker_of` ``request_id``), so that the sender's next pop
        returns at once. With ``hold``, a small push is kept back and written together with
        the next command on this link (the wait for its reply, as a rule): one system call
        and one read by Redis instead of two. Only a caller that sends that next command at
        once may hold a push.

        With ``acknowledge=False`` as well (and a ``request_id``), the push goes without an
        acknowledgement when the connection is trusted (see the module's documentation): it
        is kept as :attr:`unacknowledged`, and a marker of it popped from its wake key
        (:meth:`take_marker`) moves it to :attr:`refused`. Without a ``wake_key`` the
        marker goes to the link's :attr:`notice_key`, which the next pop watches and reads
        itself. A client calls :meth:`replied` when the reply comes, and :meth:`distrust`
        when it waits in vain.
        """
        if len(self.pending) >= _MAXIMUM_PENDING:
            self.settle()
        push = PendingPush(key, frames, expiry, max_wait, wake_key, request_id)
        if hold and self.unsent is None and sum(map(len, frames)) <= _MOST_HELD_BYTES:
            try:
                # Now, while nothing is pending: a connection idle for long is checked.
                self._ready_connection()
                skip = not acknowledge and self._may_skip_acknowledgement(push)
            except CONNECTION_ERRORS as error:
                raise self._lost(error, f"push to {key}") from None
            if skip:
                if wake_key is None:
                    push.wake_key = self.notice_key or self._new_notice_key()
                self.unsent = _SKIP_NEXT_REPLY + hiredis.pack_command(self._push_command(push))
                self.unacknowledged = push
                self.unconfirmed += 1
                return
            self.unsent = hiredis.pack_command(self._push_command(push))
        else:
            self._send(self._push_command(push), f"push to {key}")
        self.pending.append(push)

    def _push_command(self, push: PendingPush) -> Any:
        """The script call that makes ``push``."""
        capacity = self.backend.capacity
        if push.wake_key is None:
            return (
                "EVAL", PUSH_SCRIPT, 1, push.key, push.expiry, capacity, b"", *push.frames,
            )  # fmt: skip
        return (
            "EVAL", PUSH_SCRIPT, 2, push.key, push.wake_key, push.expiry, capacity,
            marker_of(push.request_id), *push.frames,
        )  # fmt: skip

    def _new_notice_key(self) -> str:
        self.notice_key = f"{QUEUE_NAME_PREFIX}servicewire.notices.{os.urandom(12).hex()}"
        return self.notice_key

    def _may_skip_acknowledgement(self, push: PendingPush) -> bool:
        """Whether ``push`` may go unacknowledged now (asking Redis, the first time on this
        connection, whether it accepts ``CLIENT REPLY``)."""
        if self.pending or push.request_id is None or not self.trusted:
            return False
        skippable = self.replies_skippable
        if skippable is None:
            self._write(cast(SyncConnection, self.connection), _REPLIES_ON)
            try:
                skippable = self._read() in (b"OK", "OK")
            except redis.ResponseError:
                # An old Redis, a proxy without the command, or an ACL that forbids it.
                skippable = False
            self.replies_skippable = skippable
        return skippable

    def take_marker(self, marker: bytes) -> None:
        """Note a marker popped from a reply queue: if it is that of the push sent without
        acknowledgement, that push was refused for a full queue (it joins
        :attr:`refused`). A marker of any other push is one whose refusal was read."""
        push = self.unacknowledged
        if push is not None and marker == marker_of(push.request_id):
            self.unacknowledged = None
            self.unconfirmed -= 1
            self.trusted_until = 0.0
            push.error = redis.ResponseError("queue full")
            self.refused.append(push)

    def replied(self, request_id: int) -> None:
        """Note that the reply to ``request_id`` arrived (its push, if it went without
        acknowledgement, was delivered)."""
        push = self.unacknowledged
        if push is not None and push.request_id == request_id:
            self.unacknowledged = None
            self.unconfirmed -= 1

    def distrust(self) -> None:
        """Acknowledge the next push again (a reply did not come in time: a push Redis
        refused without saying so would be the reason, and the next one says why)."""
        self.trusted_until = 0.0
        self.unacknowledged = None

    def settle(self) -> None:
        """Read the acknowledgements of the pushes written so far; refused ones go to
        :attr:`refused`."""
        self.flush()
        connection = self.connection
        pending = self.pending
        if not pending or connection is None:
            return
        refused = self.refused
        already_refused = len(refused)
        try:
            for push in pending:
                try:
                    self._read()
                except redis.ResponseError as error:
                    push.error = error
                    refused.append(push)
        except CONNECTION_ERRORS as error:
            raise self._lost(error, "read acknowledgements") from None
        finally:
            pending.clear()
        if len(refused) == already_refused:
            # Redis accepts pushes: the next ones may go unacknowledged for a while.
            self.trusted_until = time.monotonic() + _TRUST_LASTS
            self.unconfirmed = 0
        else:
            self.trusted_until = 0.0

    def push_now(self, refused: PendingPush) -> None:
        """Push again a message refused because its queue was full, waiting for room with
        PySOA's back-off, at most ``queue_full_retries`` times and ``max_wait`` seconds;
        then ``MessageSendError`` names the queue and its capacity.

        Call it with nothing in flight on this link (after :meth:`pop` or :meth:`settle`).
        """
        backend = self.backend
        limit = backend.queue_full_timeout if refused.max_wait is None else refused.max_wait
        started = time.monotonic()
        for pause in retry_pauses(backend.queue_full_retries, limit):
            time.sleep(pause)
            self.push(refused.key, refused.frames, refused.expiry, request_id=refused.request_id)
            self.settle()
            if not self.refused:
                return
            again = self.refused.pop()
            if not again.queue_was_full:
                raise self.refusal(again)
        raise queue_full_error(
            refused.key, self.where, backend.capacity, time.monotonic() - started
        )

    def refusal(self, push: PendingPush) -> MessageSendError:
        """The error for a push Redis refused for a reason other than a full queue."""
        text = f"Redis at {self.where} refused the push to {push.key}: {push.error}"
        if self.unconfirmed > 0:
            # Refused for a reason an unacknowledged push would not have been told of.
            text += (
                f" ({self.unconfirmed} push(es) sent before it without acknowledgement, "
                "and not shown delivered, may have been refused too)"
            )
        return MessageSendError(text)

    def pop(self, key: str, timeout: float, *, abort_on_refusal: bool = False) -> bytes | None:
        """Pop the next item of ``key``, waiting up to ``timeout`` seconds (``None`` if none
        came): :meth:`pop_up_to` for one item."""
        items = self.pop_up_to(key, timeout, 1, abort_on_refusal=abort_on_refusal)
        return items[0] if items else None

    def pop_up_to(
        self, key: str, timeout: float, count: int, *, abort_on_refusal: bool = False
    ) -> list[bytes]:
        """Pop up to ``count`` items of ``key`` (those there, or the first to come within
        ``timeout`` seconds; none if none came), after reading the acknowledgements of
        earlier pushes. A Redis older than 7.0 gives one item at a time.

        With ``abort_on_refusal``, a push refused for a reason other than a full queue (no
        marker will wake the pop) raises ``MessageSendError`` at once, closing the
        connection. Raises ``ConnectionError`` if the connection is lost (Redis staying
        silent past the timeout counts as lost) and ``MessageReceiveError`` if Redis refuses
        the wait.
        """
        backend = self.backend
        # A push sent without acknowledgement whose marker would not come on ``key``: the
        # pop watches where it would come, first.
        unacknowledged = self.unacknowledged
        notices = None
        if unacknowledged is not None and unacknowledged.wake_key != key:
            notices = unacknowledged.wake_key
        connection = self._send(backend.pop_command(key, timeout, count, notices), f"wait on {key}")
        self.settle()
        if abort_on_refusal:
            for push in self.refused:
                if not push.queue_was_full:
                    self.refused.clear()
                    # The pop's answer is still to come: the next use takes a new connection.
                    self._drop()
                    raise self.refusal(push)
        try:
            answer = backend.read_pop(connection, self._read, key, timeout, count, notices)
        except CONNECTION_ERRORS as error:
            raise self._lost(error, f"wait on {key}") from None
        except redis.ResponseError as error:
            # Refused: a key of another type, or a blocked wait released because a Sentinel
            # master was demoted. The next use reconnects, to whatever is master then.
            undelivered = self._maybe_undelivered()
            self._drop()
            raise MessageReceiveError(
                f"Redis at {self.where} refused to wait on {key}: {error}{undelivered}"
            ) from None
        self.last_answer = time.monotonic()
        if notices is not None:
            # Redis ran the push before the pop: refused for a full queue, its marker would be
            # what the pop found first.
            if answer is not None and answer[0] == notices.encode():
                for marker in popped_items(answer):
                    self.take_marker(marker)
                return []
            self.unacknowledged = None
        return popped_items(answer)

    def move(self, source: str, destination: str, timeout: float) -> bytes | None:
        """Move the first item of ``source`` to the end of ``destination`` and return it,
        waiting up to ``timeout`` seconds for one (``None`` if none came): one ``BLMOVE``
        (Redis 6.2 and later), after reading the acknowledgements of earlier pushes.

        Raises as :meth:`pop_up_to` does.
        """
        command = ("BLMOVE", source, destination, "LEFT", "RIGHT", b"%.3f" % max(timeout, 0.001))
        self._send(command, f"wait on {source}")
        self.settle()
        try:
            item = self._read(timeout + BLOCKING_READ_MARGIN)
        except CONNECTION_ERRORS as error:
            raise self._lost(error, f"wait on {source}") from None
        except redis.ResponseError as error:
            self._drop()
            raise MessageReceiveError(
                f"Redis at {self.where} refused to move an item of {source} to "
                f"{destination}: {error}"
            ) from None
        self.last_answer = time.monotonic()
        return cast(bytes | None, item)

    def send_acknowledged_later(self, key: str, command: tuple[object, ...]) -> None:
        """Write ``command`` (a bookkeeping write on ``key``) without waiting for its answer,
        which is read with the next :meth:`pop` or :meth:`settle`; a refusal lands in
        :attr:`refused` like a refused push."""
        if len(self.pending) >= _MAXIMUM_PENDING:
            self.settle()
        self._send(command, f"write {key}")
        self.pending.append(PendingPush(key, (), 0, None, None, None))

    def _lost(self, error: BaseException, doing: str) -> TransportConnectionError:
        """Drop the connection (the next use takes a fresh one from the pool)."""
        self.unsent = None
        doing += self._maybe_undelivered()
        self.pending.clear()
        self._drop()
        return TransportConnectionError(
            f"Lost the connection to Redis at {self.where} ({doing}): {error}"
        )

    def _maybe_undelivered(self) -> str:
        """What to add to the report of a failure about the pushes whose fate it hides."""
        unknown = len(self.pending) + (self.unacknowledged is not None)
        return f"; {unknown} push(es) may not have been delivered" if unknown else ""

    def _drop(self) -> None:
        """Close the connection; the next use takes a fresh one from the pool."""
        connection, self.connection = self.connection, None
        self.held = None
        self.unsent = None
        self.forget_connection_state()
        if connection is not None:
            connection.disconnect()
            self.backend.release(self.host, connection)

    def close(self) -> None:
        """Give the connection back to its pool (closed if anything is still in flight)."""
        connection, self.connection = self.connection, None
        held, self.held = self.held, None
        self.unsent = None
        self.forget_connection_state()
        if connection is None:
            return
        if self.pending or (held is not None and held.is_stale()):
            # Answers still to come (or come unread) would reach the next holder.
            self.pending.clear()
            connection.disconnect()
        elif held is not None:
            held.restore()
        self.backend.release(self.host, connection)


def marker_of(request_id: int | None) -> bytes:
    """The marker a push of ``request_id`` refused for a full queue leaves on its sender's
    reply queue."""
    if request_id is None:
        return QUEUE_FULL_MARKER
    return b"%s:%d" % (QUEUE_FULL_MARKER, request_id)


def is_marker(data: bytes) -> bool:
    """Whether a popped item is a marker a refused push left (not a message: frames start
    with a version marker, a content type or a serialized map)."""
    return data.startswith(QUEUE_FULL_MARKER)
