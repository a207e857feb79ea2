"""The server: processing jobs, every error path with its code, middleware, and the request
loop against a transport."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest
from typing_extensions import TypedDict

from servicewire import (
    Action,
    ActionError,
    ActionResponse,
    EnrichedActionRequest,
    EnrichedJobRequest,
    Error,
    HarakiriInterrupt,
    ImproperlyConfigured,
    InvalidField,
    InvalidMessageError,
    JobError,
    JobResponse,
    MessageTooLarge,
    Server,
    ServerMiddleware,
)
from servicewire.server.middleware import ProcessAction, ProcessJob
from tests.support.transports import QueueServerTransport


class Echo(Action):
    """Returns its body."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return dict(request.body)


class NumberRequest(TypedDict):
    number: int


class Square(Action):
    request_schema = NumberRequest

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"square": request.body["number"] ** 2}


class Refuse(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise ActionError([Error("REFUSED", "No.", field="everything")])


class Crash(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise ValueError("kaboom")


class BadResponse(Action):
    response_schema = NumberRequest

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"number": "not a number"}


class Abort(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise JobError([Error("ABORTED", "the whole job")])


class Interrupted(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise HarakiriInterrupt()


class Context(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {
            "switches": sorted(request.switches),
            "context": request.context,
            "control": request.control,
        }


class Unserializable(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"value": object()}


def plain_handler(settings: Any) -> Any:
    """A callable action: takes the settings, returns a request handler."""

    def handle(request: EnrichedActionRequest) -> ActionResponse:
        return ActionResponse(request.action, body={"callable": True})

    return handle


class LocalCalls(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        kind = request.body["kind"]
        if kind == "ok":
            response = request.call_local_action("square", {"number": 4})
            return {"square": response.body["square"]}
        if kind == "returned":
            response = request.call_local_action(
                "refuse", {}, raise_action_errors=False, is_caller_error=True
            )
            return {"errors": [e.to_dict() for e in response.errors]}
        if kind == "context":
            response = request.call_local_action("context", {}, context={"extra": 1})
            return response.body
        request.call_local_action(request.body["action"], {})
        return {}


class Service(Server):
    """A service for tests."""

    service_name = "test"
    action_class_map: ClassVar[dict[str, Any]] = {
        "echo": Echo,
        "square": Square,
        "refuse": Refuse,
        "crash": Crash,
        "bad_response": BadResponse,
        "abort": Abort,
        "interrupted": Interrupted,
        "context": Context,
        "unserializable": Unserializable,
        "callable": plain_handler,
        "local": LocalCalls,
    }


def job(
    *actions: dict[str, Any], continue_on_error: bool = False, **context: Any
) -> dict[str, Any]:
    return {
        "control": {"continue_on_error": continue_on_error},
        "context": {"correlation_id": "cid", "switches": [], **context},
        "actions": list(actions),
    }


@pytest.fixture
def server() -> Service:
    return Service({})


def test_a_job_runs_its_actions_in_order(server: Service) -> None:
    response = server.process_job(
        job({"action": "echo", "body": {"a": 1}}, {"action": "square", "body": {"number": 3}})
    )
    assert response == JobResponse(
        context={"correlation_id": "cid"},
        actions=[
            ActionResponse("echo", body={"a": 1}),
            ActionResponse("square", body={"square": 9}),
        ],
    )


def test_callable_actions_work(server: Service) -> None:
    response = server.process_job(job({"action": "callable"}))
    assert response.actions[0].body == {"callable": True}


def test_an_invalid_job_gets_job_errors_and_no_actions(server: Service) -> None:
    response = server.process_job({"control": {}, "context": {}, "actions": []})
    assert response.actions == []
    assert [(e.code, e.field, e.is_caller_error) for e in response.errors] == [
        ("MISSING", "control.continue_on_error", False),
        ("MISSING", "context.correlation_id", False),
        ("MISSING", "context.switches", False),
        ("INVALID", "actions", False),
    ]


def test_a_job_that_is_not_a_dict_gets_a_job_error(server: Service) -> None:
    response = server.process_job([1, 2])  # type: ignore[arg-type]
    assert [(e.code, e.field) for e in response.errors] == [("INVALID", None)]


def test_an_unknown_action_is_the_callers_error(server: Service) -> None:
    response = server.process_job(job({"action": "nope"}))
    assert response.errors == []
    assert response.actions == [
        ActionResponse(
            "nope",
            errors=[
                Error(
                    code="UNKNOWN",
                    message='The action "nope" was not found on this server.',
                    field="action",
                    is_caller_error=True,
                )
            ],
        )
    ]


def test_a_request_schema_failure_is_the_callers_error_with_an_empty_body(server: Service) -> None:
    response = server.process_job(job({"action": "square", "body": {"number": "3", "x": 1}}))
    action = response.actions[0]
    assert action.body == {}
    assert [(e.code, e.field, e.is_caller_error) for e in action.errors] == [
        ("INVALID", "number", True),
        ("UNKNOWN", "x", True),
    ]


def test_an_action_error_is_returned(server: Service) -> None:
    response = server.process_job(job({"action": "refuse"}))
    assert response.actions[0].errors == [
        Error("REFUSED", "No.", field="everything", is_caller_error=True)
    ]


def test_an_unhandled_exception_is_a_server_error_with_traceback(
    server: Service, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="servicewire.server"):
        response = server.process_job(job({"action": "crash"}))
    (error,) = response.actions[0].errors
    assert error.code == "SERVER_ERROR"
    assert error.message == "Internal server error: kaboom"
    assert error.is_caller_error is False
    assert error.traceback is not None
    assert "ValueError: kaboom" in error.traceback
    assert "kaboom" in caplog.text


def test_a_response_schema_failure_is_a_server_error(server: Service) -> None:
    response = server.process_job(job({"action": "bad_response"}))
    (error,) = response.actions[0].errors
    assert error.code == "SERVER_ERROR"
    assert error.is_caller_error is False
    assert "bad_response" in error.message
    assert "number" in error.message


def test_the_job_stops_at_the_first_action_with_errors(server: Service) -> None:
    response = server.process_job(
        job({"action": "echo"}, {"action": "refuse"}, {"action": "echo", "body": {"late": True}})
    )
    assert [a.action for a in response.actions] == ["echo", "refuse"]


def test_continue_on_error_runs_every_action(server: Service) -> None:
    response = server.process_job(
        job({"action": "refuse"}, {"action": "nope"}, {"action": "echo"}, continue_on_error=True)
    )
    assert [(a.action, bool(a.errors)) for a in response.actions] == [
        ("refuse", True),
        ("nope", True),
        ("echo", False),
    ]


def test_a_job_error_from_an_action_fails_the_whole_job(server: Service) -> None:
    response = server.process_job(job({"action": "echo"}, {"action": "abort"}))
    assert response.actions == []
    assert response.errors == [Error("ABORTED", "the whole job", is_caller_error=False)]


def test_a_harakiri_interrupt_in_an_action_times_it_out_and_ends_the_job(server: Service) -> None:
    response = server.process_job(
        job({"action": "interrupted"}, {"action": "echo"}, continue_on_error=True)
    )
    assert [a.action for a in response.actions] == ["interrupted"]
    (error,) = response.actions[0].errors
    assert (error.code, error.is_caller_error) == ("ACTION_TIMEOUT", False)
    assert "interrupted" in error.message


def test_actions_see_switches_context_and_control(server: Service) -> None:
    response = server.process_job(job({"action": "context"}, switches=[3, 1], caller="tests"))
    body = response.actions[0].body
    assert body["switches"] == [1, 3]
    assert body["context"] == {"correlation_id": "cid", "switches": [3, 1], "caller": "tests"}
    assert body["control"] == {"continue_on_error": False}


def test_the_response_context_carries_the_correlation_id(server: Service) -> None:
    assert server.process_job(job({"action": "echo"})).context == {"correlation_id": "cid"}


def test_each_request_gets_a_fresh_action_instance(server: Service) -> None:
    instances = []

    class Remember(Action):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            instances.append(self)
            return {}

    class Remembering(Server):
        service_name = "remember"
        action_class_map = {"remember": Remember}

    remembering = Remembering({})
    remembering.process_job(job({"action": "remember"}))
    remembering.process_job(job({"action": "remember"}))
    assert len(instances) == 2
    assert instances[0] is not instances[1]


def test_a_server_must_name_its_service() -> None:
    class Nameless(Server):
        pass

    with pytest.raises(ImproperlyConfigured, match="service_name"):
        Nameless({})


# --- middleware -------------------------------------------------------------------------


class Tracing(ServerMiddleware):
    log: ClassVar[list[str]] = []

    def __init__(self, name: str = "") -> None:
        self.name = name

    def job(self, process_job: ProcessJob) -> ProcessJob:
        def wrapped(request: EnrichedJobRequest) -> JobResponse:
            self.log.append(f"{self.name} job in")
            response = process_job(request)
            self.log.append(f"{self.name} job out")
            return response

        return wrapped

    def action(self, process_action: ProcessAction) -> ProcessAction:
        def wrapped(request: EnrichedActionRequest) -> ActionResponse:
            self.log.append(f"{self.name} action {request.action}")
            return process_action(request)

        return wrapped


class TracingSettings(TypedDict):
    name: str


class NamedTracing(Tracing):
    from pydantic import BaseModel as _Base

    class settings_schema(_Base):  # noqa: N801 - the hook's name
        name: str


class Failing(ServerMiddleware):
    def __init__(self, mode: str = "job_error") -> None:
        self.mode = mode

    def job(self, process_job: ProcessJob) -> ProcessJob:
        def wrapped(request: EnrichedJobRequest) -> JobResponse:
            if self.mode == "job_error":
                raise JobError([Error("DENIED", "middleware says no")])
            if self.mode == "crash":
                raise RuntimeError("middleware bug")
            return process_job(request)

        return wrapped

    def action(self, process_action: ProcessAction) -> ProcessAction:
        def wrapped(request: EnrichedActionRequest) -> ActionResponse:
            if self.mode == "action_error":
                raise ActionError([Error("NOPE", "middleware refuses")])
            return process_action(request)

        return wrapped


def test_middleware_wraps_jobs_and_actions_in_configured_order() -> None:
    Tracing.log.clear()
    server = Service(
        {
            "middleware": [
                {"path": "tests.server.test_server:NamedTracing", "kwargs": {"name": "outer"}},
                {"path": "tests.server.test_server:NamedTracing", "kwargs": {"name": "inner"}},
            ]
        }
    )
    server.process_job(job({"action": "echo"}, {"action": "square", "body": {"number": 1}}))
    assert Tracing.log == [
        "outer job in",
        "inner job in",
        "outer action echo",
        "inner action echo",
        "outer action square",
        "inner action square",
        "inner job out",
        "outer job out",
    ]


def test_middleware_stacks_are_built_once() -> None:
    built = []

    class Counting(ServerMiddleware):
        def job(self, process_job: ProcessJob) -> ProcessJob:
            built.append("job")
            return process_job

        def action(self, process_action: ProcessAction) -> ProcessAction:
            built.append("action")
            return process_action

    server = Service({"middleware": [{"path": Counting}]})
    for _ in range(3):
        server.process_job(job({"action": "echo"}))
    assert built == ["job", "action"]


def test_middleware_kwargs_are_validated_at_start_up() -> None:
    from servicewire import InvalidSettings

    with pytest.raises(InvalidSettings, match=r"kwargs\.name"):
        Service({"middleware": [{"path": NamedTracing, "kwargs": {"name": 3}}]})


def test_unknown_actions_do_not_reach_action_middleware() -> None:
    Tracing.log.clear()
    server = Service({"middleware": [{"path": Tracing}]})
    server.process_job(job({"action": "nope"}))
    assert not any("action" in line for line in Tracing.log)


def test_a_job_error_raised_by_middleware_becomes_job_errors() -> None:
    server = Service({"middleware": [{"path": Failing, "kwargs": {}}]})
    response = server.process_job(job({"action": "echo"}))
    assert response.errors == [Error("DENIED", "middleware says no", is_caller_error=False)]
    assert response.actions == []


def test_a_crash_in_middleware_is_a_job_level_server_error() -> None:
    server = Service({"middleware": [{"path": Failing, "kwargs": {"mode": "crash"}}]})
    response = server.process_job(job({"action": "echo"}))
    (error,) = response.errors
    assert (error.code, error.message) == ("SERVER_ERROR", "Internal server error: middleware bug")
    assert error.is_caller_error is False


def test_an_action_error_raised_by_action_middleware_answers_the_action() -> None:
    server = Service({"middleware": [{"path": Failing, "kwargs": {"mode": "action_error"}}]})
    response = server.process_job(job({"action": "echo"}))
    assert response.actions[0].errors == [Error("NOPE", "middleware refuses", is_caller_error=True)]


def test_make_middleware_stack_puts_the_first_outermost() -> None:
    calls: list[str] = []

    def layer(name: str) -> Any:
        def wrap(inner: Any) -> Any:
            def call(value: int) -> int:
                calls.append(name)
                return inner(value) + 1

            return call

        return wrap

    stack = Server.make_middleware_stack([layer("a"), layer("b")], lambda value: value)
    assert stack(0) == 2
    assert calls == ["a", "b"]


# --- local actions and clients ----------------------------------------------------------


def test_call_local_action_runs_another_action(server: Service) -> None:
    response = server.process_job(job({"action": "local", "body": {"kind": "ok"}}))
    assert response.actions[0].body == {"square": 16}


def test_call_local_action_returns_errors_marked_as_asked(server: Service) -> None:
    response = server.process_job(job({"action": "local", "body": {"kind": "returned"}}))
    (error,) = response.actions[0].body["errors"]
    assert (error["code"], error["is_caller_error"]) == ("REFUSED", True)


def test_call_local_action_raises_errors_as_the_services_by_default(server: Service) -> None:
    response = server.process_job(
        job({"action": "local", "body": {"kind": "raise", "action": "refuse"}})
    )
    (error,) = response.actions[0].errors
    assert (error.code, error.is_caller_error) == ("REFUSED", False)


def test_call_local_action_to_an_unknown_action_is_an_unknown_error(server: Service) -> None:
    response = server.process_job(
        job({"action": "local", "body": {"kind": "raise", "action": "missing"}})
    )
    (error,) = response.actions[0].errors
    assert (error.code, error.field) == ("UNKNOWN", "action")


def test_call_local_action_overrides_context(server: Service) -> None:
    response = server.process_job(job({"action": "local", "body": {"kind": "context"}}))
    assert response.actions[0].body["context"] == {
        "correlation_id": "cid",
        "switches": [],
        "extra": 1,
    }


def test_make_client_adds_the_calling_service_without_touching_the_context(
    server: Service,
) -> None:
    context = {"correlation_id": "cid", "switches": [1]}
    client = server.make_client(context, extra_context={"caller": "x"})
    assert client.context == {
        "correlation_id": "cid",
        "switches": [1],
        "caller": "x",
        "calling_service": "test",
    }
    assert context == {"correlation_id": "cid", "switches": [1]}


def test_the_status_and_introspect_actions_are_added(server: Service) -> None:
    response = server.process_job(job({"action": "status"}, {"action": "introspect"}))
    assert not any(a.errors for a in response.actions)


def test_a_service_may_replace_the_builtin_actions() -> None:
    class OwnStatus(Server):
        service_name = "own"
        action_class_map = {"status": Echo}

    response = OwnStatus({}).process_job(job({"action": "status", "body": {"mine": 1}}))
    assert response.actions[0].body == {"mine": 1}


# --- the request loop -------------------------------------------------------------------


def transport_server(
    settings: dict[str, Any] | None = None,
) -> tuple[Service, QueueServerTransport]:
    server = Service(
        {"transport": {"path": "tests.support.transports:QueueServerTransport"}, **(settings or {})}
    )
    assert isinstance(server.transport, QueueServerTransport)
    return server, server.transport


def test_handle_next_request_answers_with_the_request_meta() -> None:
    server, transport = transport_server()
    transport.add_request(7, job({"action": "echo", "body": {"x": 1}}), {"reply_to": "q"})
    server.handle_next_request()
    ((request_id, meta, body),) = transport.sent
    assert request_id == 7
    assert meta == {"client_version": [1, 4, 9], "reply_to": "q"}
    assert body["actions"] == [{"action": "echo", "errors": [], "body": {"x": 1}}]
    assert transport.completed == [7]


def test_the_transport_is_built_with_service_name_metrics_and_instance_index() -> None:
    server = Service(
        {"transport": {"path": "tests.support.transports:QueueServerTransport"}},
        forked_process_id=3,
    )
    assert server.transport is not None
    assert server.transport.service_name == "test"
    assert server.transport.instance_index == 3
    assert server.transport.metrics is server.metrics


def test_suppress_response_sends_nothing_but_completes_the_request() -> None:
    server, transport = transport_server()
    request = job({"action": "echo"})
    request["control"]["suppress_response"] = True
    transport.add_request(1, request)
    server.handle_next_request()
    assert transport.sent == []
    assert transport.completed == [1]


def test_an_idle_receive_runs_the_idle_actions() -> None:
    idle = []

    class Idle(Service):
        def perform_idle_actions(self) -> None:
            super().perform_idle_actions()
            idle.append(True)

    server = Idle({"transport": {"path": "tests.support.transports:QueueServerTransport"}})
    server.handle_next_request()
    assert idle == [True]


def test_hooks_run_around_each_request() -> None:
    calls = []

    class Hooked(Service):
        def perform_pre_request_actions(self) -> None:
            calls.append("pre")

        def perform_post_request_actions(self) -> None:
            calls.append("post")

    server = Hooked({"transport": {"path": "tests.support.transports:QueueServerTransport"}})
    assert isinstance(server.transport, QueueServerTransport)
    server.transport.add_request(1, job({"action": "crash"}))
    server.handle_next_request()
    assert calls == ["pre", "post"]


def test_a_response_too_large_is_answered_with_response_too_large() -> None:
    server, transport = transport_server()
    transport.send_failures.append(MessageTooLarge(999999))
    transport.add_request(1, job({"action": "echo"}))
    server.handle_next_request()
    ((_, _, body),) = transport.sent
    assert body["actions"] == []
    (error,) = body["errors"]
    assert (error["code"], error["is_caller_error"]) == ("RESPONSE_TOO_LARGE", False)


def test_an_unserializable_response_is_answered_with_response_not_serializable() -> None:
    server, transport = transport_server()
    transport.send_failures.append(InvalidField("Cannot serialize the value at value"))
    transport.add_request(1, job({"action": "unserializable"}))
    server.handle_next_request()
    ((_, _, body),) = transport.sent
    (error,) = body["errors"]
    assert error["code"] == "RESPONSE_NOT_SERIALIZABLE"
    assert "value" in error["message"]


@pytest.mark.parametrize(
    ("client_version", "present", "absent"),
    [
        (None, set(), {"is_caller_error", "denied_permissions"}),
        ([0, 44, 0], {"denied_permissions"}, {"is_caller_error"}),
        ([0, 69, 9], {"denied_permissions"}, {"is_caller_error"}),
        ([0, 70, 0], {"denied_permissions", "is_caller_error"}, set()),
        ([1, 4, 9], {"denied_permissions", "is_caller_error"}, set()),
    ],
)
def test_error_fields_newer_than_the_client_are_left_out(
    client_version: Any, present: set[str], absent: set[str]
) -> None:
    server, transport = transport_server()
    meta = {} if client_version is None else {"client_version": client_version}
    transport.incoming.append((3, meta, job({"action": "nope"})))  # type: ignore[arg-type]
    server.handle_next_request()
    ((_, _, body),) = transport.sent
    (error,) = body["actions"][0]["errors"]
    assert present <= set(error)
    assert not absent & set(error)


def test_a_bad_message_with_a_reply_route_is_answered_and_serving_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, transport = transport_server()
    transport.incoming.append(
        InvalidMessageError("no actions in there", request_id=9, meta={"reply_to": "q"})
    )
    transport.add_request(10, job({"action": "echo"}))
    with caplog.at_level(logging.WARNING, logger="servicewire.server"):
        server.handle_next_request()
        server.handle_next_request()
    first, second = transport.sent
    assert first.request_id == 9
    assert first.body is not None
    (error,) = first.body["errors"]
    assert error["code"] == "INVALID"
    assert "no actions in there" in error["message"]
    assert second.request_id == 10
    assert "bad message" in caplog.text


def test_a_bad_message_without_a_reply_route_is_only_logged() -> None:
    server, transport = transport_server()
    transport.incoming.append(InvalidMessageError("undecodable"))
    server.handle_next_request()
    assert transport.sent == []


def test_handle_next_request_without_a_transport_is_a_configuration_error() -> None:
    with pytest.raises(ImproperlyConfigured, match="no transport"):
        Service({"transport": None}).handle_next_request()


def test_run_serves_until_shutting_down_and_survives_errors() -> None:
    events: list[str] = []

    class Stopping(Service):
        def setup(self) -> None:
            events.append("setup")

        def teardown(self) -> None:
            events.append("teardown")

        def perform_idle_actions(self) -> None:
            self.shutting_down = True

    server = Stopping({"transport": {"path": "tests.support.transports:QueueServerTransport"}})
    transport = server.transport
    assert isinstance(transport, QueueServerTransport)
    transport.incoming.append(RuntimeError("the transport broke"))
    transport.add_request(1, job({"action": "echo"}))
    server.run()
    assert events == ["setup", "teardown"]
    assert [message.request_id for message in transport.sent] == [1]
    assert transport.closed


def test_initialize_returns_the_class_to_build() -> None:
    assert Service.initialize(Service({}).settings) is Service


# --- request logging ----------------------------------------------------------------------


def test_successful_requests_are_logged_at_debug_by_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, transport = transport_server()
    transport.add_request(1, job({"action": "echo"}))
    with caplog.at_level(logging.INFO, logger="servicewire.server.job"):
        server.handle_next_request()
    assert caplog.records == []
    transport.add_request(2, job({"action": "echo"}))
    with caplog.at_level(logging.DEBUG, logger="servicewire.server.job"):
        server.handle_next_request()
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["Job request", "Job response"]


def test_failed_requests_are_logged_with_their_request_at_the_error_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, transport = transport_server()
    transport.add_request(1, job({"action": "refuse", "body": {"password": "hunter2"}}))
    with caplog.at_level(logging.INFO, logger="servicewire.server.job"):
        server.handle_next_request()
    assert [(r.levelno, r.getMessage().split(":")[0]) for r in caplog.records] == [
        (logging.INFO, "Job request"),
        (logging.INFO, "Job response"),
    ]
    assert "hunter2" not in caplog.text
    assert "REFUSED" in caplog.text


def test_request_log_levels_come_from_settings(caplog: pytest.LogCaptureFixture) -> None:
    server, transport = transport_server(
        {"request_log_success_level": "INFO", "extra_fields_to_redact": ["colour"]}
    )
    transport.add_request(1, job({"action": "echo", "body": {"colour": "red"}}))
    with caplog.at_level(logging.INFO, logger="servicewire.server.job"):
        server.handle_next_request()
    assert len(caplog.records) == 2
    assert "red" not in caplog.text
    assert "**********" in caplog.text
