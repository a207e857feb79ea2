"""What actions get with their request: ``request.client`` for calling other services (built
by ``Server.make_client``) and ``request.call_local_action`` for calling their own."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from servicewire import (
    Action,
    ActionError,
    Client,
    EnrichedActionRequest,
    Error,
    Server,
    ServerMiddleware,
)
from servicewire.server.middleware import ProcessAction
from tests.support.local import collecting_logs, local_routing, serving

# --- calling another service ----------------------------------------------------------------

teardowns: list[str] = []


class WhoCalls(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        logging.getLogger("tests.callee").info("called")
        return {"context": request.context, "switches": sorted(request.switches)}


class Callee(Server):
    service_name = "callee"
    action_class_map = {"who_calls": WhoCalls}

    def teardown(self) -> None:
        teardowns.append(self.service_name)
        super().teardown()


class CallOther(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        assert request.client is not None
        response = request.client.call_action("callee", "who_calls", {})
        return {
            "callee": response.body,
            "client": id(request.client),
            "connection": id(request.client.handlers["callee"]),
        }


class Caller(Server):
    service_name = "caller"
    action_class_map = {"call_other": CallOther}


CALLER_SETTINGS = {"client_routing": {"callee": local_routing(Callee)}}


def test_the_callee_sees_the_callers_correlation_id_and_the_calling_service() -> None:
    with serving(Caller, CALLER_SETTINGS) as client:
        response = client.call_action("caller", "call_other", {}, correlation_id="corr-1")
    callee_context = response.body["callee"]["context"]
    assert callee_context["correlation_id"] == "corr-1"
    assert callee_context["calling_service"] == "caller"


def test_the_callee_sees_the_call_site_in_the_caller_as_its_caller() -> None:
    with serving(Caller, CALLER_SETTINGS) as client:
        response = client.call_action(
            "caller", "call_other", {}, context={"caller": "nightly report"}
        )
    callee_caller = response.body["callee"]["context"]["caller"]
    assert callee_caller.startswith(f"{__file__}:")
    assert callee_caller.endswith(" in CallOther.run")


def test_the_callee_sees_the_callers_switches() -> None:
    with serving(Caller, CALLER_SETTINGS) as client:
        response = client.call_action("caller", "call_other", {}, switches=[3, 5])
    assert response.body["callee"]["switches"] == [3, 5]


def test_the_callees_log_records_carry_the_callers_correlation_id() -> None:
    with collecting_logs() as logs, serving(Caller, CALLER_SETTINGS) as client:
        client.call_action("caller", "call_other", {}, correlation_id="corr-logs")
    [record] = [record for record in logs.records if record.name == "tests.callee"]
    assert record.correlation_id == "corr-logs"  # type: ignore[attr-defined]
    assert record.service_name == "callee"  # type: ignore[attr-defined]


def test_the_actions_of_one_job_share_one_client_and_jobs_share_its_connections() -> None:
    with serving(Caller, CALLER_SETTINGS) as client:
        job = client.call_actions(
            "caller", [{"action": "call_other"}, {"action": "call_other"}], correlation_id="a"
        )
        other_job = client.call_action("caller", "call_other", {}, correlation_id="b")
    first, second = (action.body for action in job.actions)
    assert first["client"] == second["client"]
    assert first["connection"] == second["connection"] == other_job.body["connection"]
    assert other_job.body["callee"]["context"]["correlation_id"] == "b"


def test_the_callers_teardown_closes_the_connections_its_jobs_used() -> None:
    teardowns.clear()
    with serving(Caller, CALLER_SETTINGS) as client:
        client.call_action("caller", "call_other", {})
        client.call_action("caller", "call_other", {})
        assert teardowns == []
    assert teardowns == ["callee"]


class CountingServer(Caller):
    clients_made = 0

    def make_client(self, context: Any, extra_context: Any = None, **kwargs: Any) -> Client:
        type(self).clients_made += 1
        return super().make_client(context, extra_context, **kwargs)


def test_no_client_is_made_for_a_job_that_does_not_use_it() -> None:
    class Quiet(Action):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            return {}

    class QuietServer(CountingServer):
        action_class_map = {"quiet": Quiet, "call_other": CallOther}

    with serving(QuietServer, CALLER_SETTINGS) as client:
        client.call_action("caller", "quiet", {})
        assert QuietServer.clients_made == 0
        client.call_action("caller", "call_other", {})
        assert QuietServer.clients_made == 1


def test_make_client_copies_the_context_and_adds_extra_context_and_the_calling_service() -> None:
    server = Caller(CALLER_SETTINGS)
    context = {"correlation_id": "c", "switches": [1], "caller": "upstream.py:1 in f"}
    client = server.make_client(context, {"caller": "cron"})
    assert client.context == {
        "correlation_id": "c",
        "switches": [1],
        "caller": "cron",
        "calling_service": "caller",
    }
    assert context == {"correlation_id": "c", "switches": [1], "caller": "upstream.py:1 in f"}
    assert "caller" not in server.make_client(context).context
    assert set(client.settings) == {"callee"}


def test_make_client_with_keyword_arguments_makes_a_client_of_its_own() -> None:
    server = Caller(CALLER_SETTINGS)
    expansion_config = {"type_routes": {}, "type_expansions": {}}
    client = server.make_client({"correlation_id": "c"}, expansion_config=expansion_config)
    shared = server.make_client({"correlation_id": "d"})
    assert client.expansion_settings is not None
    assert client.handlers is not shared.handlers
    assert client.context["correlation_id"] == "c"
    assert shared.context["correlation_id"] == "d"


# --- calling an action of the same service ---------------------------------------------------


class Lookup(BaseModel):
    key: str


class Find(Action):
    request_schema = Lookup

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        if request.body["key"] == "missing":
            raise ActionError([Error(code="NOT_FOUND", message="No such key", field="key")])
        return {"value": request.body["key"].upper(), "context": request.context}


class FindVia(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        options = request.body.get("options", {})
        response = request.call_local_action(
            request.body.get("action", "find"), {"key": request.body["key"]}, **options
        )
        return {
            "body": response.body,
            "errors": [(error.code, error.is_caller_error) for error in response.errors],
            "my_context": request.context,
        }


actions_seen_by_middleware: list[str] = []


class Watching(ServerMiddleware):
    def action(self, process_action: ProcessAction) -> ProcessAction:
        def watched(request: EnrichedActionRequest) -> Any:
            actions_seen_by_middleware.append(request.action)
            return process_action(request)

        return watched


class Finder(Server):
    service_name = "finder"
    action_class_map = {"find": Find, "find_via": FindVia}


FINDER_SETTINGS = {"middleware": [{"path": f"{__name__}:Watching"}]}


def call_find_via(body: dict[str, Any], **call: Any) -> Any:
    with serving(Finder, FINDER_SETTINGS) as client:
        return client.call_action("finder", "find_via", body, raise_action_errors=False, **call)


def test_call_local_action_returns_the_other_actions_response() -> None:
    response = call_find_via({"key": "abc"}, correlation_id="corr-local")
    assert response.body["body"]["value"] == "ABC"
    assert response.body["body"]["context"]["correlation_id"] == "corr-local"


def test_call_local_action_raises_the_other_actions_errors_as_not_the_callers_fault() -> None:
    response = call_find_via({"key": "missing"})
    [error] = response.errors
    assert (error.code, error.field, error.is_caller_error) == ("NOT_FOUND", "key", False)


def test_call_local_action_can_mark_the_errors_as_the_callers_fault() -> None:
    response = call_find_via({"key": "missing", "options": {"is_caller_error": True}})
    [error] = response.errors
    assert (error.code, error.is_caller_error) == ("NOT_FOUND", True)


def test_call_local_action_can_return_the_errors_instead_of_raising_them() -> None:
    response = call_find_via({"key": "missing", "options": {"raise_action_errors": False}})
    assert response.errors == []
    assert response.body["errors"] == [("NOT_FOUND", False)]


def test_call_local_action_validates_the_body_against_the_other_actions_schema() -> None:
    response = call_find_via({"key": 3, "options": {"raise_action_errors": False}})
    assert response.body["errors"] == [("INVALID", False)]


def test_call_local_action_context_overrides_only_the_copy() -> None:
    response = call_find_via(
        {"key": "k", "options": {"context": {"correlation_id": "override", "extra": 1}}},
        correlation_id="original",
    )
    called_context = response.body["body"]["context"]
    assert (called_context["correlation_id"], called_context["extra"]) == ("override", 1)
    assert response.body["my_context"]["correlation_id"] == "original"
    assert "extra" not in response.body["my_context"]


def test_call_local_action_of_an_unknown_action_is_an_unknown_error() -> None:
    response = call_find_via({"key": "k", "action": "nope"})
    [error] = response.errors
    assert (error.code, error.field, error.is_caller_error) == ("UNKNOWN", "action", False)


def test_call_local_action_runs_no_middleware() -> None:
    actions_seen_by_middleware.clear()
    call_find_via({"key": "k"})
    assert actions_seen_by_middleware == ["find_via"]
