"""How stubs reach every call: a transport that stands in front of each client's own.

While a stub is active, the stubs' transport hook is installed (see
:mod:`servicewire.client.intercept`, the one seam the clients offer test doubles), so every
service handler of every client (sync and asyncio, made before or after the stub started)
sends through a stubbing transport wrapped around its own. For each job it sends:

- no stubbed action: the job goes to the real transport, untouched;
- only stubbed actions: the stubs answer, in order, and the reply is handed back as if the
  service had sent it, so client middleware, error checks and expansions apply as usual;
- some of each: the job runs as the service would run it, in order: the stubs answer their
  actions, and each run of consecutive unstubbed actions goes to the real transport as a job
  of its own (same control and context, same request id); the job stops at the first action
  with errors unless it continues on error, and the caller gets one reply with every action.

An exception a stub raises (other than ``ActionError`` and ``JobError``, which become the
reply's errors, as a service's would) is raised where the stub was called: by the send for
stubs before the job's first unstubbed action, by the receive of the reply for the others.

A client may call a service it has no settings for while one of the service's actions is
stubbed; any other action of that service then fails with ``ImproperlyConfigured``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, ClassVar

from servicewire.client.intercept import install_transport_hook, uninstall_transport_hook
from servicewire.client.settings import ClientSettings
from servicewire.errors import ImproperlyConfigured
from servicewire.testing.stubbed_jobs import JobsInFlight, Stub, StubbedJob, action_name
from servicewire.transport.base import (
    AsyncClientTransport,
    ClientTransport,
    ReceivedMessage,
    request_sender,
)

__all__ = [
    "AsyncStubbingClientTransport",
    "AsyncUnconfiguredServiceTransport",
    "StubbingClientTransport",
    "UnconfiguredServiceTransport",
    "activate",
    "active_stubs",
    "deactivate",
]


class _ActiveStubs:
    """The stubs active now, by service and action; the latest started answers."""

    def __init__(self) -> None:
        self._by_action: dict[tuple[str, str], list[Stub]] = {}
        self._count_by_service: dict[str, int] = {}

    def add(self, stub: Stub) -> bool:
        """Add ``stub``; return whether it is the only active stub."""
        self._by_action.setdefault((stub.service_name, stub.action_name), []).append(stub)
        service = stub.service_name
        self._count_by_service[service] = self._count_by_service.get(service, 0) + 1
        return sum(self._count_by_service.values()) == 1

    def remove(self, stub: Stub) -> bool:
        """Remove ``stub``; return whether no stub is active any more."""
        key = (stub.service_name, stub.action_name)
        stack = self._by_action.get(key, [])
        position = next((i for i, item in enumerate(stack) if item is stub), None)
        if position is not None:
            del stack[position]
            if not stack:
                del self._by_action[key]
            remaining = self._count_by_service[stub.service_name] - 1
            if remaining:
                self._count_by_service[stub.service_name] = remaining
            else:
                del self._count_by_service[stub.service_name]
        return not self._count_by_service

    def find(self, service_name: str, action_name: Any) -> Stub | None:
        stack = self._by_action.get((service_name, action_name))
        return stack[-1] if stack else None

    def covers(self, service_name: str) -> bool:
        return service_name in self._count_by_service

    def actions_of(self, service_name: str) -> list[str]:
        return sorted(action for service, action in self._by_action if service == service_name)

    def all(self) -> list[Stub]:
        return [stub for stack in self._by_action.values() for stub in stack]


_active = _ActiveStubs()
_lock = threading.Lock()


def activate(stub: Stub) -> None:
    """Make ``stub`` answer its action from now on (until :func:`deactivate`)."""
    with _lock:
        if _active.add(stub):
            install_transport_hook(_HOOK)


def active_stubs() -> list[Stub]:
    """Every stub active now."""
    with _lock:
        return _active.all()


def deactivate(stub: Stub) -> None:
    """Stop ``stub`` answering; once the last one is out, every handler goes back to its
    own transport (at its next send)."""
    with _lock:
        if _active.remove(stub):
            uninstall_transport_hook(_HOOK)


def _local_server_class(transport: Any) -> type | None:
    """The class of the server a local transport runs, unless it is a stub server itself."""
    from servicewire.testing.stub_server import StubServer

    server = getattr(transport, "server", None)
    if server is None or isinstance(server, StubServer):
        return None
    return type(server)


def plan_job(
    service_name: str,
    job: Any,
    wrapped: Any,
    request_id: int,
    meta: dict[str, Any],
    expiry: int | float | None,
    expects_reply: bool,
) -> StubbedJob | None:
    """A :class:`StubbedJob` for ``job``, or ``None`` if none of its actions is stubbed."""
    if not _active.covers(service_name) or not isinstance(job, Mapping):
        return None
    stubs = [_active.find(service_name, action_name(action)) for action in job["actions"]]
    # Not any(stubs): truth-testing a stub would count as a call of the mock.
    if all(stub is None for stub in stubs):
        return None
    return StubbedJob(
        dict(job), stubs, _local_server_class(wrapped), request_id, meta, expiry, expects_reply
    ).start()


# --- the transports -----------------------------------------------------------------------


class _Stubbing:
    """What both stubbing transports share: the transport they wrap, reached for anything
    they do not do themselves (a local transport's ``server``, say)."""

    wrapped: Any

    def __getattr__(self, name: str) -> Any:
        if name == "wrapped":
            raise AttributeError(name)
        return getattr(self.wrapped, name)

    def idle(self) -> bool:
        """Whether it owes no caller anything (and may be taken away)."""
        raise NotImplementedError


class StubbingClientTransport(_Stubbing, ClientTransport):
    """Answers a service's stubbed actions and hands the rest to ``wrapped`` (sync).

    Replies the stubs make are kept for the thread that sent their jobs, and received before
    anything the service sends.
    """

    def __init__(self, service_name: str, wrapped: ClientTransport) -> None:
        ClientTransport.__init__(self, service_name, wrapped.metrics)
        self.wrapped = wrapped
        self._send_on = request_sender(wrapped)
        self._jobs = JobsInFlight()
        self._replies: dict[int, deque[ReceivedMessage]] = {}

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        *,
        expects_reply: bool = True,
        receive_follows: bool = False,
    ) -> None:
        job = plan_job(
            self.service_name,
            body,
            self.wrapped,
            request_id,
            meta,
            message_expiry_in_seconds,
            expects_reply,
        )
        if job is None:
            self._send_on(
                request_id,
                meta,
                body,
                message_expiry_in_seconds,
                expects_reply=expects_reply,
                receive_follows=receive_follows,
            )
        elif job.part is not None:
            self._send_part(job)
        elif job.expects_reply:
            self._replies.setdefault(threading.get_ident(), deque()).append(job.reply_message())

    def _send_part(self, job: StubbedJob) -> None:
        with self._jobs.sending(job) as part:
            self._send_on(
                job.request_id, job.meta, part, job.expiry, expects_reply=job.expects_reply
            )

    def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        thread = threading.get_ident()
        replies = self._replies.get(thread)
        if replies:
            reply = replies.popleft()
            if not replies:
                del self._replies[thread]
            return reply
        while True:
            outcome = self._jobs.on_reply(
                self.wrapped.receive_response_message(receive_timeout_in_seconds)
            )
            if isinstance(outcome, ReceivedMessage):
                return outcome
            self._send_part(outcome)

    def idle(self) -> bool:
        return not self._jobs and not self._replies

    def close(self) -> None:
        self.wrapped.close()


class AsyncStubbingClientTransport(_Stubbing, AsyncClientTransport):
    """Answers a service's stubbed actions and hands the rest to ``wrapped`` (asyncio).

    Replies the stubs make go to the handler at once, through ``deliver``, so they never wait
    behind a receive from the service.
    """

    def __init__(
        self,
        service_name: str,
        wrapped: AsyncClientTransport,
        deliver: Callable[[ReceivedMessage], None],
    ) -> None:
        AsyncClientTransport.__init__(self, service_name, wrapped.metrics)
        self.wrapped = wrapped
        self._send_on = request_sender(wrapped)
        self._deliver = deliver
        self._jobs = JobsInFlight()

    async def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        *,
        expects_reply: bool = True,
        receive_follows: bool = False,
    ) -> None:
        job = plan_job(
            self.service_name,
            body,
            self.wrapped,
            request_id,
            meta,
            message_expiry_in_seconds,
            expects_reply,
        )
        if job is None:
            await self._send_on(
                request_id, meta, body, message_expiry_in_seconds, expects_reply=expects_reply
            )
        elif job.part is not None:
            await self._send_part(job)
        elif job.expects_reply:
            self._deliver(job.reply_message())

    async def _send_part(self, job: StubbedJob) -> None:
        with self._jobs.sending(job) as part:
            await self._send_on(
                job.request_id, job.meta, part, job.expiry, expects_reply=job.expects_reply
            )

    async def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        while True:
            outcome = self._jobs.on_reply(
                await self.wrapped.receive_response_message(receive_timeout_in_seconds)
            )
            if isinstance(outcome, ReceivedMessage):
                return outcome
            await self._send_part(outcome)

    def idle(self) -> bool:
        return not self._jobs

    async def aclose(self) -> None:
        await self.wrapped.aclose()


# --- services a client has no settings for ------------------------------------------------


def _refuse(service_name: str, body: Any) -> ImproperlyConfigured:
    names = [action_name(action) for action in body.get("actions", ())]
    with _lock:
        stubbed = ", ".join(_active.actions_of(service_name)) or "none now"
    return ImproperlyConfigured(
        f"Service {service_name!r} is not configured on this client: only its stubbed "
        f"actions ({stubbed}) can be called, not {', '.join(map(str, names))}"
    )


class UnconfiguredServiceTransport(ClientTransport):
    """The transport of a service the client has no settings for: it exists only so that
    the service's stubbed actions can be called, and refuses everything else."""

    async_transport_class: ClassVar[str | None] = (
        "servicewire.testing.interception:AsyncUnconfiguredServiceTransport"
    )

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        *,
        expects_reply: bool = True,
        receive_follows: bool = False,
    ) -> None:
        raise _refuse(self.service_name, body)

    def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        return ReceivedMessage(None, None, None)


class AsyncUnconfiguredServiceTransport(AsyncClientTransport):
    """The asyncio twin of :class:`UnconfiguredServiceTransport`."""

    async def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        *,
        expects_reply: bool = True,
        receive_follows: bool = False,
    ) -> None:
        raise _refuse(self.service_name, body)

    async def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        return ReceivedMessage(None, None, None)


@cache
def _unconfigured_service_settings() -> ClientSettings:
    return ClientSettings.from_dict(
        {"transport": {"path": f"{__name__}:UnconfiguredServiceTransport"}}
    )


class _StubsHook:
    """The stubs' :class:`~servicewire.client.intercept.TransportHook`: it wraps each
    handler's transport in a stubbing one, and stands in for services a client has no
    settings for."""

    def wrap(self, service_name: str, transport: ClientTransport) -> ClientTransport:
        return StubbingClientTransport(service_name, transport)

    def wrap_async(
        self,
        service_name: str,
        transport: AsyncClientTransport,
        deliver: Callable[[ReceivedMessage], None],
    ) -> AsyncClientTransport:
        return AsyncStubbingClientTransport(service_name, transport, deliver)

    def can_unwrap(self, transport: Any) -> bool:
        return not isinstance(transport, _Stubbing) or transport.idle()

    def settings_for_unconfigured_service(self, service_name: str) -> ClientSettings | None:
        return _unconfigured_service_settings() if _active.covers(service_name) else None


_HOOK = _StubsHook()
