"""Lazy activation: actions given by import path are imported on their first call."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from servicewire import (
    ERROR_CODE_NOT_AUTHORIZED,
    ERROR_CODE_SERVER_ERROR,
    ImproperlyConfigured,
    SerializedInvoker,
    Server,
)
from tests.server import lazy_support
from tests.server.concurrency_services import DEADLINE, call, running
from tests.support.waiting import wait_until

LAZY = "tests.server.lazy_actions"


class LazyServer(Server):
    service_name = "concurrency"
    action_class_map: Any = {
        "report": f"{LAZY}:Report",
        "billing_report": f"{LAZY}:BillingReport",
    }


class BrokenServer(Server):
    service_name = "concurrency"
    action_class_map: Any = {
        "broken": "tests.server.lazy_broken:Report",
        "missing": "tests.server.no_such_module:Report",
        "misnamed": f"{LAZY}:NoSuchAction",
        "report": f"{LAZY}:Report",
    }


@pytest.fixture(autouse=True)
def fresh_import() -> Iterator[None]:
    """Each test imports the lazy module afresh."""
    sys.modules.pop(LAZY, None)
    lazy_support.imports = 0
    lazy_support.importing.clear()
    lazy_support.release.set()
    yield
    lazy_support.release.set()
    sys.modules.pop(LAZY, None)


def job(action: str, body: dict[str, Any] | None = None, **context: Any) -> dict[str, Any]:
    return {
        "control": {"continue_on_error": False},
        "context": {"correlation_id": "c", "switches": [], **context},
        "actions": [{"action": action, "body": body or {}}],
    }


def test_an_action_given_by_path_is_imported_on_its_first_call() -> None:
    server = LazyServer({"transport": None})
    assert LAZY not in sys.modules

    first = server.process_job(job("report", {"name": "weekly"}))
    second = server.process_job(job("report"))

    assert first.actions[0].body == {"report": "weekly"}
    assert second.actions[0].body == {"report": "monthly"}
    assert lazy_support.imports == 1


def test_concurrent_first_calls_import_it_once(redis_url: str) -> None:
    lazy_support.release.clear()
    with running(redis_url, LazyServer, workers=8) as service:
        responses = service.send([call("report", {"name": str(n)}) for n in range(8)])
        assert lazy_support.importing.wait(DEADLINE)
        pool = service.server.worker_pool
        assert pool is not None
        wait_until(lambda: pool.statistics().busy == 8, "every call to be running")
        lazy_support.release.set()
        results = responses()

    assert [response.actions[0].body for response in results] == [
        {"report": str(n)} for n in range(8)
    ]
    assert lazy_support.imports == 1


def test_an_activated_action_gets_the_policy_and_invoker_of_its_class() -> None:
    server = LazyServer({"transport": None})
    assert server._calls.invoker("billing_report") is None  # not known before activation

    refused = server.process_job(job("billing_report", calling_service="search"))
    allowed = server.process_job(job("billing_report", calling_service="billing"))

    assert refused.actions[0].errors[0].code == ERROR_CODE_NOT_AUTHORIZED
    assert allowed.actions[0].errors == []
    assert isinstance(server._calls.invoker("billing_report"), SerializedInvoker)


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        ("broken", "RuntimeError: the report engine is not installed"),
        ("missing", "ImportError: Cannot import module 'tests.server.no_such_module'"),
        ("misnamed", f"ImportError: Module {LAZY!r} has no attribute 'NoSuchAction'"),
    ],
)
def test_an_import_failure_answers_server_error_naming_the_path(action: str, problem: str) -> None:
    server = BrokenServer({"transport": None})

    failed = server.process_job(job(action))
    [error] = failed.actions[0].errors

    path = BrokenServer.action_class_map[action]
    assert error.code == ERROR_CODE_SERVER_ERROR
    assert error.message.startswith(
        f'Action "{action}" could not be loaded from "{path}": {problem}'
    )
    assert error.is_caller_error is False
    assert error.traceback
    assert server.process_job(job("report")).actions[0].errors == []


def test_a_failed_import_is_tried_again_on_the_next_call() -> None:
    server = BrokenServer({"transport": None})
    assert server.process_job(job("broken")).actions[0].errors
    assert server.process_job(job("broken")).actions[0].errors[0].code == ERROR_CODE_SERVER_ERROR


def test_introspect_activates_the_action_it_describes_and_only_that_one() -> None:
    server = BrokenServer({"transport": None})

    described = server.process_job(job("introspect", {"action_name": "report"}))

    assert described.actions[0].body["actions"]["report"]["documentation"] == "Builds a report."
    assert lazy_support.imports == 1
    everything = server.process_job(job("introspect"))
    [error] = everything.actions[0].errors
    assert error.code == ERROR_CODE_SERVER_ERROR
    assert "could not be loaded from" in error.message


def test_introspecting_the_whole_service_activates_every_action() -> None:
    server = LazyServer({"transport": None})
    described = server.process_job(job("introspect"))
    assert set(described.actions[0].body["action_names"]) == {
        "billing_report",
        "introspect",
        "report",
        "status",
    }
    assert lazy_support.imports == 1


def test_a_malformed_path_fails_at_start_up() -> None:
    class Malformed(Server):
        service_name = "malformed"
        action_class_map: Any = {"report": "reports.Report"}

    with pytest.raises(ImproperlyConfigured, match='Action "report" is given as'):
        Malformed({"transport": None})


def test_a_local_call_activates_the_action() -> None:
    from servicewire.server.request import EnrichedActionRequest

    server = LazyServer({"transport": None})
    request = EnrichedActionRequest("caller", {}, [], {"correlation_id": "c"})
    request._server = server
    assert request.call_local_action("report", {"name": "local"}).body == {"report": "local"}
