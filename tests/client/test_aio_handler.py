"""The asyncio service handler: one reader per service, replies matched to waiting calls by
request id, errors routed to the calls they concern, nothing left behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

import pytest

from servicewire import (
    ClientMiddleware,
    ConnectionError,
    InvalidMessageError,
    JobRequest,
    JobResponse,
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
)
from servicewire.client.aio_handler import AsyncServiceHandler
from servicewire.client.handler import CLIENT_PROTOCOL_VERSION
from servicewire.client.middleware import GetResponse, SendRequest
from servicewire.client.settings import ClientSettings
from servicewire.transport.base import AsyncClientTransport, ClientTransport, ReceivedMessage

T = TypeVar("T")

Script = ReceivedMessage | BaseException | None
"""A reply, an error to raise, or ``None``: time out (a whole quiet receive)."""


class ScriptedAsyncTransport(AsyncClientTransport):
    """Each receive waits until the test scripts what it returns."""

    def __init__(self, service_name: str, metrics: Any, **kwargs: Any) -> None:
        super().__init__(service_name, metrics)
        self.sent: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        self.script: asyncio.Queue[Script] = asyncio.Queue()
        self.receives = 0
        self.closed = False

    async def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
    ) -> None:
        self.sent.append((request_id, meta, body))

    async def receive_response_message(
        self, receive_timeout_in_seconds: int | float | None = None
    ) -> ReceivedMessage:
        self.receives += 1
        item = await self.script.get()
        if item is None:
            raise MessageReceiveTimeout("a whole receive got nothing")
        if isinstance(item, BaseException):
            raise item
        return item

    async def aclose(self) -> None:
        self.closed = True


class ScriptedSyncTransport(ClientTransport):
    """Only here to name :class:`ScriptedAsyncTransport` as its asyncio twin."""

    async_transport_class = "tests.client.test_aio_handler:ScriptedAsyncTransport"

    def send_request_message(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def receive_response_message(self, *args: Any, **kwargs: Any) -> ReceivedMessage:
        raise NotImplementedError


def make_handler(**settings: Any) -> tuple[AsyncServiceHandler, ScriptedAsyncTransport]:
    handler = AsyncServiceHandler(
        "svc", ClientSettings.from_dict({"transport": {"path": ScriptedSyncTransport}, **settings})
    )
    assert isinstance(handler.transport, ScriptedAsyncTransport)
    return handler, handler.transport


def reply(request_id: int, marker: str) -> ReceivedMessage:
    return ReceivedMessage(request_id, {}, JobResponse(context={"m": marker}).to_dict())


def run_with_handler(
    test: Callable[[AsyncServiceHandler, ScriptedAsyncTransport], Awaitable[T]], **settings: Any
) -> T:
    async def main() -> T:
        handler, transport = make_handler(**settings)
        try:
            return await test(handler, transport)
        finally:
            await handler.aclose()

    return asyncio.run(main())


async def settle() -> None:
    """Let every ready task run until it waits."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_job_is_sent_with_the_protocol_version() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        request_id, _ = await handler.send_job(JobRequest(control={"a": 1}), 5, has_deadline=True)
        ((sent_id, meta, body),) = transport.sent
        assert sent_id == request_id
        assert meta == {"client_version": list(CLIENT_PROTOCOL_VERSION)}
        assert body == {"control": {"a": 1}, "context": {}, "actions": []}
        handler.give_up([request_id])

    run_with_handler(test)


def test_replies_in_any_order_reach_their_own_callers() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        sent = [await handler.send_job(JobRequest(), None, has_deadline=True) for _ in range(3)]
        for request_id, marker in zip(reversed([i for i, _ in sent]), "cba", strict=True):
            transport.script.put_nowait(reply(request_id, marker))
        responses = await asyncio.gather(*(future for _, future in sent))
        assert [r.context["m"] for r in responses] == ["a", "b", "c"]
        await settle()
        assert handler.statistics().reader_running is False

    run_with_handler(test)


def test_a_reply_nobody_waits_for_is_dropped_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        request_id, future = await handler.send_job(JobRequest(), None, has_deadline=True)
        transport.script.put_nowait(reply(request_id + 1000, "stale"))
        transport.script.put_nowait(reply(request_id, "mine"))
        assert (await future).context == {"m": "mine"}
        assert str(request_id + 1000) in caplog.text

    with caplog.at_level("WARNING", logger="servicewire.client"):
        run_with_handler(test)


def test_giving_up_leaves_nothing_and_the_late_reply_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        late, _ = await handler.send_job(JobRequest(), None, has_deadline=True)
        handler.give_up([late])
        assert handler.statistics().requests_pending == 0
        other, future = await handler.send_job(JobRequest(), None, has_deadline=True)
        transport.script.put_nowait(reply(late, "late"))
        transport.script.put_nowait(reply(other, "other"))
        assert (await future).context == {"m": "other"}
        assert f"request {late} that nobody is waiting for" in caplog.text

    with caplog.at_level("WARNING", logger="servicewire.client"):
        run_with_handler(test)


def test_an_error_without_a_request_id_fails_every_waiting_call() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        futures = [(await handler.send_job(JobRequest(), None, has_deadline=True))[1] for _ in "ab"]
        transport.script.put_nowait(ConnectionError("connection reset"))
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert all(isinstance(result, ConnectionError) for result in results)
        assert handler.statistics().requests_pending == 0

    run_with_handler(test)


def test_an_error_naming_a_request_fails_only_that_call() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        (first, first_future), (second, second_future) = [
            await handler.send_job(JobRequest(), None, has_deadline=True) for _ in "ab"
        ]
        transport.script.put_nowait(InvalidMessageError("cannot decode", request_id=first))
        transport.script.put_nowait(reply(second, "fine"))
        with pytest.raises(InvalidMessageError):
            await first_future
        assert (await second_future).context == {"m": "fine"}

    run_with_handler(test)


def test_a_wait_without_a_deadline_ends_after_a_whole_quiet_receive() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        bounded_id, bounded = await handler.send_job(JobRequest(), None, has_deadline=True)
        _, unbounded = await handler.send_job(JobRequest(), None, has_deadline=False)
        await settle()  # the reader is now in its first receive, begun after both waits
        transport.script.put_nowait(None)
        with pytest.raises(MessageReceiveTimeout, match="within the timeout"):
            await unbounded
        # A call with a deadline of its own keeps waiting.
        transport.script.put_nowait(reply(bounded_id, "b"))
        assert (await bounded).context == {"m": "b"}

    run_with_handler(test)


def test_a_quiet_receive_begun_before_a_wait_does_not_end_it() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        _, first = await handler.send_job(JobRequest(), None, has_deadline=False)
        await settle()  # the reader's first receive has begun
        second_id, second = await handler.send_job(JobRequest(), None, has_deadline=False)
        transport.script.put_nowait(None)
        with pytest.raises(MessageReceiveTimeout):
            await first
        assert not second.done()
        transport.script.put_nowait(reply(second_id, "in time"))
        assert (await second).context == {"m": "in time"}

    run_with_handler(test)


def test_the_transport_having_nothing_coming_is_a_receive_error() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        request_id, future = await handler.send_job(JobRequest(), None, has_deadline=True)
        transport.script.put_nowait(ReceivedMessage(None, None, None))
        with pytest.raises(MessageReceiveError, match=str(request_id)):
            await future

    run_with_handler(test)


def test_the_reader_stops_when_nobody_waits() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        await handler.send_request(JobRequest())
        await settle()
        assert handler.statistics().reader_running is False
        assert transport.receives == 0

    run_with_handler(test)


def test_get_all_responses_gives_up_what_is_missing_after_its_timeout() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        first = await handler.send_request(JobRequest())
        second = await handler.send_request(JobRequest())
        transport.script.put_nowait(reply(first, "a"))
        responses = handler.get_all_responses(0.05)
        assert (await anext(responses))[0] == first
        with pytest.raises(MessageReceiveTimeout, match=str(second)):
            await anext(responses)
        assert handler.statistics().requests_pending == 0

    run_with_handler(test)


def test_replies_not_yet_collected_stay_when_the_iteration_stops_early() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        ids = [await handler.send_request(JobRequest()) for _ in range(2)]
        for request_id in ids:
            transport.script.put_nowait(reply(request_id, str(request_id)))
        await settle()
        responses = handler.get_all_responses()
        first, _ = await anext(responses)
        await responses.aclose()
        rest = [request_id async for request_id, _ in handler.get_all_responses()]
        assert sorted([first, *rest]) == ids

    run_with_handler(test)


class Swallowing(ClientMiddleware):
    def request(self, send_request: SendRequest) -> SendRequest:
        def swallow(*args: Any) -> None:
            return None

        return swallow


class Doubling(ClientMiddleware):
    def request(self, send_request: SendRequest) -> SendRequest:
        def twice(*args: Any) -> None:
            send_request(*args)
            send_request(*args)

        return twice


def test_a_request_the_middleware_passes_on_twice_is_a_send_error() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        with pytest.raises(MessageSendError, match="twice"):
            await handler.send_job(JobRequest(), None, has_deadline=True)
        assert transport.sent == []
        # The next job goes through the same stack, and fails the same way, cleanly.
        with pytest.raises(MessageSendError, match="twice"):
            await handler.send_job(JobRequest(), None, has_deadline=True)

    run_with_handler(test, middleware=[{"path": Doubling}])


def test_a_request_the_middleware_does_not_pass_on_is_a_send_error() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        with pytest.raises(MessageSendError, match="did not pass request"):
            await handler.send_job(JobRequest(), None, has_deadline=True)
        assert transport.sent == []
        assert handler.statistics().requests_pending == 0

    run_with_handler(test, middleware=[{"path": Swallowing}])


class Tagging(ClientMiddleware):
    """Tags the meta of what it sends; records what it receives, errors included."""

    received: ClassVar[list[object]] = []

    def request(self, send_request: SendRequest) -> SendRequest:
        def tag(
            request_id: int, meta: dict[str, Any], job: JobRequest, expiry: int | float | None
        ) -> None:
            send_request(request_id, {**meta, "tag": "t"}, job, expiry)

        return tag

    def response(self, get_response: GetResponse) -> GetResponse:
        def record(timeout: int | float | None) -> tuple[int | None, JobResponse | None]:
            try:
                request_id, response = get_response(timeout)
            except Exception as error:
                self.received.append(type(error))
                raise
            self.received.append(request_id)
            return request_id, response

        return record


def test_what_the_request_middleware_passes_on_is_what_is_sent() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        request_id, _ = await handler.send_job(JobRequest(), None, has_deadline=True)
        assert transport.sent[0][1]["tag"] == "t"
        handler.give_up([request_id])

    run_with_handler(test, middleware=[{"path": Tagging}])


def test_the_response_middleware_sees_each_reply_and_each_receive_error() -> None:
    async def test(handler: AsyncServiceHandler, transport: ScriptedAsyncTransport) -> None:
        request_id, future = await handler.send_job(JobRequest(), None, has_deadline=True)
        transport.script.put_nowait(reply(request_id, "a"))
        await future
        _, failing = await handler.send_job(JobRequest(), None, has_deadline=True)
        transport.script.put_nowait(ConnectionError("gone"))
        with pytest.raises(ConnectionError):
            await failing
        assert Tagging.received == [request_id, ConnectionError]

    Tagging.received.clear()
    run_with_handler(test, middleware=[{"path": Tagging}])


def test_closing_fails_waiting_calls_and_closes_the_transport() -> None:
    async def main() -> None:
        handler, transport = make_handler()
        _, future = await handler.send_job(JobRequest(), None, has_deadline=True)
        await settle()
        await handler.aclose()
        with pytest.raises(MessageReceiveError, match="closed"):
            await future
        assert transport.closed
        assert handler.statistics() == type(handler.statistics())(0, 0, False)

    asyncio.run(main())


# --- telling the transport whether a reply comes ------------------------------------------


class TellingAsyncTransport(ScriptedAsyncTransport):
    def __init__(self, service_name: str, metrics: Any, **kwargs: Any) -> None:
        super().__init__(service_name, metrics, **kwargs)
        self.told: list[bool] = []

    async def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: int | float | None = None,
        *,
        expects_reply: bool = True,
    ) -> None:
        self.told.append(expects_reply)
        await super().send_request_message(request_id, meta, body, message_expiry_in_seconds)


class TellingSyncTransport(ScriptedSyncTransport):
    async_transport_class = "tests.client.test_aio_handler:TellingAsyncTransport"


def test_the_asyncio_transport_is_told_whether_a_reply_is_expected() -> None:
    async def main() -> list[bool]:
        handler = AsyncServiceHandler(
            "svc", ClientSettings.from_dict({"transport": {"path": TellingSyncTransport}})
        )
        transport = handler.transport
        assert isinstance(transport, TellingAsyncTransport)
        await handler.send_request(JobRequest(), expect_response=False)
        request_id, _ = await handler.send_job(JobRequest(), None, has_deadline=True)
        handler.give_up((request_id,))
        return transport.told

    assert asyncio.run(main()) == [False, True]


def test_an_asyncio_transport_without_the_expects_reply_keyword_still_sends() -> None:
    # ScriptedAsyncTransport's send_request_message is written as before the keyword existed.
    async def main() -> list[int]:
        handler, transport = make_handler()
        await handler.send_request(JobRequest(), expect_response=False)
        await handler.send_request(JobRequest())
        return [sent[0] for sent in transport.sent]

    assert len(asyncio.run(main())) == 2
