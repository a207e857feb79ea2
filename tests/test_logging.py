"""Logging: the request context on every record, censoring, request logs, configuration."""

from __future__ import annotations

import copy
import io
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from typing_extensions import TypedDict

from servicewire import Action, EnrichedActionRequest, MessageTooLarge, Server, ServerSettings
from servicewire.logging import (
    CENSORED,
    SENSITIVE_FIELDS,
    LogContextFilter,
    PySOALogContextFilter,
    RecursivelyCensoredDictWrapper,
    SyslogHandler,
    configure_logging,
    log_context,
)
from servicewire.transport.local import LocalClientTransport
from tests.support.local import collecting_logs, local_routing, serving

# --- censoring ------------------------------------------------------------------------------

VISA = "4111111111111111"  # passes the Luhn check
NOT_A_CARD = "4111111111111112"  # same length, fails it


def censored(value: Any, extra: tuple[str, ...] = ()) -> Any:
    return RecursivelyCensoredDictWrapper(value, extra).censored()


def test_the_sensitive_fields_are_the_references_in_every_spelling() -> None:
    for name in ("password", "passwords", "cardNumber", "card-security-codes", "cvv2s",
                 "card_securities", "privateKeys", "auth_token", "token", "pin"):  # fmt: skip
        assert name in SENSITIVE_FIELDS
    for singular_only in ("tokens", "auths", "passes"):
        assert singular_only not in SENSITIVE_FIELDS
    assert len(SENSITIVE_FIELDS) == 242


def test_sensitive_values_are_censored_at_any_depth() -> None:
    value = {
        "user": {"name": "ada", "credentials": {"password": "hunter2", "pin": 1234}},
        "cards": [{"cvv": "123", "label": "work"}, ({"secret": ["a", "b"]},)],
    }
    assert censored(value) == {
        "user": {"name": "ada", "credentials": {"password": CENSORED, "pin": CENSORED}},
        "cards": [{"cvv": CENSORED, "label": "work"}, ({"secret": CENSORED},)],
    }


def test_sensitive_keys_are_matched_whatever_their_case() -> None:
    assert censored({"Password": "x", "CARD_NUMBER": "y", "CardNumber": "z"}) == {
        "Password": CENSORED,
        "CARD_NUMBER": CENSORED,
        "CardNumber": CENSORED,
    }


def test_empty_missing_and_boolean_sensitive_values_are_left_visible() -> None:
    assert censored({"password": None, "token": "", "passphrase": True, "pin": False}) == {
        "password": None,
        "token": "",
        "passphrase": True,
        "pin": False,
    }


def test_extra_fields_to_redact_are_censored_too() -> None:
    value = {"ssn": "123-45-6789", "Nickname": "x", "name": "ada"}
    assert censored(value, ("ssn", "nickname")) == {
        "ssn": CENSORED,
        "Nickname": CENSORED,
        "name": "ada",
    }


@pytest.mark.parametrize(
    "value",
    [VISA, int(VISA), "4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005"],
)
def test_card_numbers_are_censored_whatever_their_key(value: Any) -> None:
    assert censored({"note": value, "items": [value]}) == {"note": CENSORED, "items": [CENSORED]}


@pytest.mark.parametrize(
    "value", [NOT_A_CARD, "411111111111", 4111, True, "41111111111111110000000", "4111x111"]
)
def test_values_that_are_not_card_numbers_are_left_alone(value: Any) -> None:
    assert censored({"note": value}) == {"note": value}


def test_the_wrapped_dict_is_never_modified_and_censoring_waits_for_formatting() -> None:
    value = {"password": "hunter2", "nested": {"token": "t"}}
    original = copy.deepcopy(value)
    wrapper = RecursivelyCensoredDictWrapper(value)
    assert wrapper._censored is None
    assert "hunter2" not in repr(wrapper)
    assert str(wrapper) == repr(wrapper)
    assert value == original


# --- the request context on records ---------------------------------------------------------


def filtered(record_name: str = "x") -> logging.LogRecord:
    record = logging.LogRecord(record_name, logging.INFO, __file__, 1, "message", None, None)
    LogContextFilter().filter(record)
    return record


def test_records_outside_a_job_get_placeholders() -> None:
    record = filtered()
    assert (record.service_name, record.correlation_id, record.request_id, record.action_name) == (  # type: ignore[attr-defined]
        "--",
        "--",
        "--",
        "--",
    )


def test_records_inside_a_log_context_get_its_values_and_inner_blocks_inherit() -> None:
    with log_context(service_name="svc", correlation_id="c1", request_id=5):
        with log_context(action_name="act"):
            record = filtered()
        outer = filtered()
    assert (record.service_name, record.correlation_id, record.request_id, record.action_name) == (  # type: ignore[attr-defined]
        "svc",
        "c1",
        5,
        "act",
    )
    assert outer.action_name == "--"  # type: ignore[attr-defined]


def test_pysoa_filter_name_is_the_same_filter() -> None:
    assert PySOALogContextFilter is LogContextFilter


both_inside = threading.Barrier(2, timeout=10)


class LogsWhileAnotherJobRuns(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        both_inside.wait()  # both jobs are inside their action at once
        logging.getLogger("tests.concurrent").info("inside %s", request.body["job"])
        both_inside.wait()
        return {}


class ConcurrentServer(Server):
    service_name = "concurrent"
    action_class_map = {"log": LogsWhileAnotherJobRuns}


def test_jobs_handled_at_once_by_two_threads_each_log_with_their_own_context() -> None:
    with collecting_logs() as logs, serving(ConcurrentServer) as client:

        def call(job: str) -> None:
            client.call_action("concurrent", "log", {"job": job}, correlation_id=f"corr-{job}")

        threads = [threading.Thread(target=call, args=(job,)) for job in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    records = [record for record in logs.records if record.name == "tests.concurrent"]
    assert sorted(
        (record.getMessage(), record.correlation_id, record.action_name)  # type: ignore[attr-defined]
        for record in records
    ) == [("inside a", "corr-a", "log"), ("inside b", "corr-b", "log")]


# --- request and response logs --------------------------------------------------------------

SECRET = "correct-horse-battery-staple"


class Echo(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        logging.getLogger("tests.echo").debug("echoing %s", request.body.get("visible"))
        if request.body.get("fail") == "unhandled":
            raise RuntimeError("boom")
        if request.body.get("fail") == "big":
            return {"big": True, "echo": request.body}
        return {"echo": request.body}


class StrictBody(TypedDict):
    visible: int


class Strict(Action):
    request_schema = StrictBody

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {}


class EchoServer(Server):
    service_name = "echo"
    action_class_map = {"echo": Echo, "strict": Strict}


class SmallResponsesTransport(LocalClientTransport):
    """Refuses the first response of a job that asked for a big one, as a real transport
    refuses one over its size limit."""

    def send_response_message(
        self, request_id: int, meta: dict[str, Any], body: dict[str, Any]
    ) -> None:
        actions = body.get("actions") or [{}]
        if (actions[0].get("body") or {}).get("big"):
            raise MessageTooLarge(10_000_000)
        super().send_response_message(request_id, meta, body)


def job_lines(logs: Any) -> list[str]:
    return [line for line in logs.lines if " servicewire.server.job " in line]


@pytest.mark.parametrize("failure", [None, "unhandled", "big", "invalid"])
def test_a_password_in_a_nested_body_never_reaches_any_log_output(failure: str | None) -> None:
    body: dict[str, Any] = {
        "visible": "plain-value",
        "user": {"login": {"Password": SECRET}, "cards": [{"number": VISA}]},
        "fail": failure,
    }
    routing = local_routing(EchoServer)
    routing["transport"]["path"] = f"{__name__}:SmallResponsesTransport"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with collecting_logs(logging.DEBUG) as logs:
            from servicewire import Client

            client = Client({"echo": routing})
            action = "strict" if failure == "invalid" else "echo"
            response = client.call_actions(
                "echo",
                [{"action": action, "body": body}],
                raise_action_errors=False,
                raise_job_errors=False,
            )
            client.close()
    finally:
        root.removeHandler(handler)
    output = "\n".join(logs.lines) + stream.getvalue()
    assert SECRET not in output
    assert VISA not in output
    # The request was logged, censored, so the absence above means something.
    assert any("Job request" in line and CENSORED in line for line in job_lines(logs))
    assert "plain-value" in output
    failed = bool(response.errors) or bool(response.actions[0].errors)
    assert failed == (failure is not None)


def test_successful_requests_are_logged_at_debug_by_default() -> None:
    with collecting_logs(logging.DEBUG) as logs, serving(EchoServer) as client:
        client.call_action("echo", "echo", {"visible": 1})
    levels = {
        record.levelname for record in logs.records if record.name == "servicewire.server.job"
    }
    assert levels == {"DEBUG"}


def test_successful_requests_are_not_logged_at_info() -> None:
    with collecting_logs(logging.INFO) as logs, serving(EchoServer) as client:
        client.call_action("echo", "echo", {"visible": 1})
    assert job_lines(logs) == []


def test_a_failed_request_is_logged_with_its_response_at_the_error_level() -> None:
    with collecting_logs(logging.INFO) as logs, serving(EchoServer) as client:
        client.call_action("echo", "echo", {"fail": "unhandled"}, raise_action_errors=False)
    lines = job_lines(logs)
    assert [line.split(" ")[0] for line in lines] == ["INFO", "INFO"]
    assert "Job request" in lines[0]
    assert "Job response" in lines[1]
    assert "SERVER_ERROR" in lines[1]


def test_the_request_log_levels_are_settings() -> None:
    settings = {"request_log_success_level": "INFO", "request_log_error_level": "ERROR"}
    with collecting_logs(logging.INFO) as logs, serving(EchoServer, settings) as client:
        client.call_action("echo", "echo", {})
        client.call_action("echo", "echo", {"fail": "unhandled"}, raise_action_errors=False)
    levels = [
        (record.levelname, record.getMessage().split(":")[0])
        for record in logs.records
        if record.name == "servicewire.server.job"
    ]
    assert levels == [
        ("INFO", "Job request"),
        ("INFO", "Job response"),
        ("INFO", "Job request"),
        ("ERROR", "Job response"),
    ]


# --- configuration --------------------------------------------------------------------------


@pytest.fixture
def restored_root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level, filters = root.handlers[:], root.level, root.filters[:]
    yield root
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.filters[:] = filters
    root.setLevel(level)


def test_without_a_logging_setting_the_default_configuration_applies(
    restored_root_logger: logging.Logger,
) -> None:
    configure_logging(ServerSettings.from_dict({}))
    [handler] = restored_root_logger.handlers
    assert isinstance(handler, logging.StreamHandler)
    assert handler.level == logging.INFO
    assert [type(item) for item in handler.filters] == [LogContextFilter]
    assert restored_root_logger.level == logging.INFO


def test_a_logging_setting_replaces_the_default_and_is_not_modified(
    restored_root_logger: logging.Logger, tmp_path: Any
) -> None:
    logging_setting = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "servicewire.logging.PySOALogContextFilter"}},
        "formatters": {"plain": {"format": "%(correlation_id)s %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "filename": str(tmp_path / "service.log"),
                "filters": ["context"],
                "formatter": "plain",
            },
            "syslog": {
                "class": "servicewire.logging.SyslogHandler",
                "address": ["127.0.0.1", 5514],
                "overflow": "truncate",
            },
        },
        "root": {"handlers": ["file", "syslog"], "level": "DEBUG"},
    }
    settings = {"logging": logging_setting}
    original = copy.deepcopy(settings)
    configure_logging(settings)
    assert settings == original
    file_handler, syslog_handler = restored_root_logger.handlers
    assert isinstance(syslog_handler, SyslogHandler)
    assert syslog_handler.address == ("127.0.0.1", 5514)
    assert syslog_handler.overflow == SyslogHandler.OVERFLOW_BEHAVIOR_TRUNCATE
    with log_context(correlation_id="corr-file"):
        logging.getLogger("tests.configured").info("written")
    file_handler.flush()
    assert (tmp_path / "service.log").read_text() == "corr-file written\n"
    # The same configuration, validated as server settings, applies too.
    configure_logging(ServerSettings.from_dict(settings))
