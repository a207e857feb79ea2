"""A PySOA 1.4.9 client calling a servicewire server over Redis.

One PySOA process runs every check (``pysoa_side/client_checks.py``) against a servicewire
server, then again against PySOA's own server for the same service: the two must answer
alike.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.conftest import run_pysoa_client_checks, running_pysoa_server
from tests.interop.services import InteropServer
from tests.support.services import RedisServer
from tests.transport.redis.support import serving

CHUNKING = {"chunk_messages_larger_than_bytes": 102400, "maximum_message_size_in_bytes": 1024000}


@pytest.fixture(scope="module")
def results(redis_server: RedisServer) -> dict[str, dict[str, Any]]:
    """What the PySOA client observed, from each server."""
    redis_server.flush()
    transport = {"backend_layer_kwargs": {"hosts": [redis_server.url]}, **CHUNKING}
    with serving(
        InteropServer, transport, middleware=[{"path": "tests.interop.services:DenyMiddleware"}]
    ):
        servicewire = run_pysoa_client_checks(redis_server)
    with running_pysoa_server(redis_server):
        pysoa = run_pysoa_client_checks(redis_server)
    return {"servicewire": servicewire, "pysoa": pysoa}


@pytest.fixture(scope="module")
def observed(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return results["servicewire"]


def test_no_check_failed_unexpectedly(results: dict[str, dict[str, Any]]) -> None:
    for server, checks in results.items():
        for name, value in checks.items():
            assert not (isinstance(value, dict) and "unexpected" in value), (server, name, value)


@pytest.mark.parametrize(
    "check",
    [
        "success",
        "protocol_versions",
        "json_serializer",
        "action_error",
        "unknown_action",
        "job_error",
        "switches",
        "ext_types_to_server",
        "ext_types_from_server",
        "chunked_response",
        "parallel_calls",
    ],
)
def test_servicewire_answers_as_pysoa_does(results: dict[str, dict[str, Any]], check: str) -> None:
    assert results["servicewire"][check] == results["pysoa"][check]


def test_success(observed: dict[str, Any]) -> None:
    assert observed["success"] == {"square": 9}
    assert observed["parallel_calls"] == [{"i": i} for i in range(10)]


def test_protocol_versions_one_two_and_three(observed: dict[str, Any]) -> None:
    assert observed["protocol_versions"] == {str(v): {"v": v} for v in (1, 2, 3)}


def test_json_serializer(observed: dict[str, Any]) -> None:
    assert observed["json_serializer"] == {"text": "héllo", "list": [1, 2.5, None]}


def test_action_error(observed: dict[str, Any]) -> None:
    assert observed["action_error"] == [
        {
            "code": "NOPE",
            "field": "reason",
            "message": "Failed on purpose",
            "is_caller_error": True,
            "has_traceback": False,
        }
    ]


def test_unhandled_exception_is_a_server_error_with_traceback(
    results: dict[str, dict[str, Any]],
) -> None:
    for server in ("servicewire", "pysoa"):
        [error] = results[server]["server_error"]
        assert error["code"] == "SERVER_ERROR"
        assert error["message"] == "Internal server error: boom"
        assert error["is_caller_error"] is False
        assert error["has_traceback"] is True


def test_unknown_action(observed: dict[str, Any]) -> None:
    assert observed["unknown_action"] == [
        {
            "code": "UNKNOWN",
            "field": "action",
            "message": 'The action "nope" was not found on this server.',
            "is_caller_error": True,
            "has_traceback": False,
        }
    ]


def test_schema_errors_have_pysoas_codes_and_fields(results: dict[str, dict[str, Any]]) -> None:
    ours, theirs = results["servicewire"]["schema_errors"], results["pysoa"]["schema_errors"]
    for case in ("missing", "wrong_type", "extra_key"):
        assert [e["code"] for e in ours[case]] == [e["code"] for e in theirs[case]], case
        assert all(e["is_caller_error"] for e in ours[case])
    for case in ("missing", "wrong_type"):
        assert [e["field"] for e in ours[case]] == [e["field"] for e in theirs[case]] == ["number"]
    # PySOA reports an unknown key without a field; servicewire names the key.
    assert [e["field"] for e in theirs["extra_key"]] == [None]
    assert [e["field"] for e in ours["extra_key"]] == ["extra"]


def test_job_error(observed: dict[str, Any]) -> None:
    assert observed["job_error"] == [
        {"code": "NOT_AUTHORIZED", "message": "Job refused on purpose", "is_caller_error": False}
    ]


def test_switches(observed: dict[str, Any]) -> None:
    assert observed["switches"] == {
        "on": {"five": True, "switches": [5, 7]},
        "off": {"five": False, "switches": []},
    }


@pytest.mark.parametrize("direction", ["ext_types_to_server", "ext_types_from_server"])
def test_msgpack_extension_types(observed: dict[str, Any], direction: str) -> None:
    assert observed[direction] == {
        "naive": [True, "datetime"],
        "aware": [True, "datetime"],
        "date": [True, "date"],
        "time": [True, "time"],
        "decimal": [True, "Decimal"],
        "amount": [True, "Amount"],
    }


def test_chunked_response(observed: dict[str, Any]) -> None:
    assert observed["chunked_response"] == {"length": 300000, "starts": "<start>"}
