"""The exception hierarchy, the error codes and the readable messages."""

from __future__ import annotations

import builtins

import pytest

import servicewire
from servicewire import (
    ActionError,
    ActionResponse,
    CallActionError,
    CallJobError,
    ClientError,
    ConnectionError,
    Error,
    ImproperlyConfigured,
    InvalidExpansionKey,
    InvalidField,
    InvalidMessage,
    InvalidMessageError,
    InvalidSettings,
    JobError,
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
    MessageSendTimeout,
    MessageTooLarge,
    ResponseValidationError,
    SerializationError,
    ServerError,
    ServiceWireError,
    TransientTransportError,
    TransportError,
)


@pytest.mark.parametrize(
    ("exception", "base"),
    [
        (ClientError, ServiceWireError),
        (CallActionError, ClientError),
        (CallJobError, ClientError),
        (ImproperlyConfigured, ClientError),
        (InvalidExpansionKey, ClientError),
        (ServerError, ServiceWireError),
        (ActionError, ServerError),
        (JobError, ServerError),
        (ResponseValidationError, ServerError),
        (TransportError, ServiceWireError),
        (TransientTransportError, TransportError),
        (ConnectionError, TransientTransportError),
        (MessageSendError, TransientTransportError),
        (MessageSendTimeout, TransientTransportError),
        (MessageReceiveError, TransientTransportError),
        (MessageReceiveTimeout, TransientTransportError),
        (MessageTooLarge, TransportError),
        (InvalidMessageError, TransportError),
        (SerializationError, ServiceWireError),
        (InvalidField, SerializationError),
        (InvalidMessage, SerializationError),
        (InvalidSettings, ServiceWireError),
    ],
)
def test_hierarchy(exception: type[Exception], base: type[Exception]) -> None:
    assert issubclass(exception, base)


def test_message_too_large_is_not_transient() -> None:
    assert not issubclass(MessageTooLarge, TransientTransportError)
    assert not issubclass(InvalidMessageError, TransientTransportError)


def test_connection_error_is_ours_not_the_builtin() -> None:
    assert ConnectionError is not builtins.ConnectionError
    assert servicewire.ConnectionError is ConnectionError


def test_harakiri_interrupt_escapes_except_exception() -> None:
    assert issubclass(servicewire.HarakiriInterrupt, BaseException)
    assert not issubclass(servicewire.HarakiriInterrupt, Exception)


def test_error_codes_are_the_wire_strings() -> None:
    codes = {
        name: getattr(servicewire, name)
        for name in dir(servicewire)
        if name.startswith("ERROR_CODE_")
    }
    assert codes == {
        "ERROR_CODE_ACCESS_DENIED": "ACCESS_DENIED",
        "ERROR_CODE_ACTION_TIMEOUT": "ACTION_TIMEOUT",
        "ERROR_CODE_INVALID": "INVALID",
        "ERROR_CODE_JOB_TIMEOUT": "JOB_TIMEOUT",
        "ERROR_CODE_MISSING": "MISSING",
        "ERROR_CODE_NOT_AUTHORIZED": "NOT_AUTHORIZED",
        "ERROR_CODE_NOT_FOUND": "NOT_FOUND",
        "ERROR_CODE_RESPONSE_NOT_SERIALIZABLE": "RESPONSE_NOT_SERIALIZABLE",
        "ERROR_CODE_RESPONSE_TOO_LARGE": "RESPONSE_TOO_LARGE",
        "ERROR_CODE_SERVER_ERROR": "SERVER_ERROR",
        "ERROR_CODE_UNKNOWN": "UNKNOWN",
    }


def test_action_error_marks_errors_as_the_callers_by_default() -> None:
    error = ActionError([Error("A", "a"), Error("B", "b", is_caller_error=True)])
    assert [e.is_caller_error for e in error.errors] == [True, True]


def test_action_error_can_mark_errors_as_the_servers() -> None:
    error = ActionError([Error("A", "a", is_caller_error=True)], set_is_caller_error_to=False)
    assert error.errors[0].is_caller_error is False


def test_action_error_leaves_errors_alone_with_none() -> None:
    originals = [Error("A", "a", is_caller_error=True), Error("B", "b")]
    error = ActionError(originals, set_is_caller_error_to=None)
    assert error.errors == originals


def test_job_error_marks_errors_as_the_servers_by_default() -> None:
    error = JobError([Error("A", "a", is_caller_error=True)])
    assert error.errors[0].is_caller_error is False
    assert JobError([Error("A", "a")], set_is_caller_error_to=True).errors[0].is_caller_error


def test_the_flag_is_set_on_the_callers_error_objects_as_pysoa_does() -> None:
    original = Error("A", "a")
    raised = ActionError([original])
    assert original.is_caller_error is True
    assert raised.errors[0] is original
    JobError([original])
    assert original.is_caller_error is False


def test_call_action_error_lists_each_actions_errors() -> None:
    error = CallActionError(
        [
            ActionResponse("square", [Error("INVALID", "Not a number", field="number")]),
            ActionResponse("cube", [Error("SERVER_ERROR", "boom"), Error("X", "y")]),
        ]
    )
    text = str(error)
    assert "square: INVALID: Not a number (field number)" in text
    assert "cube: SERVER_ERROR: boom" in text
    assert "cube: X: y" in text
    assert len(error.actions) == 2


def test_call_job_error_lists_its_errors() -> None:
    error = CallJobError([Error("MISSING", "Field required", field="control.continue_on_error")])
    assert (
        str(error)
        == "Error executing job: MISSING: Field required (field control.continue_on_error)"
    )
    assert error.errors[0].code == "MISSING"


def test_call_errors_without_errors_still_print() -> None:
    assert "no errors" in str(CallActionError())
    assert "no errors" in str(CallJobError())


def test_response_validation_error_names_the_action() -> None:
    error = ResponseValidationError("square", [Error("MISSING", "Field required", field="square")])
    assert "'square'" in str(error)
    assert "MISSING" in str(error)
    assert error.action == "square"


def test_message_too_large_carries_the_size() -> None:
    error = MessageTooLarge(300000)
    assert error.message_size_in_bytes == 300000
    assert "300000" in str(error)
    assert str(MessageTooLarge(5, "custom")) == "custom"


def test_invalid_message_error_carries_what_could_be_read() -> None:
    error = InvalidMessageError("bad", request_id=7, meta={"reply_to": "q"})
    assert (error.request_id, error.meta) == (7, {"reply_to": "q"})
    assert InvalidMessageError("bad").request_id is None


def test_invalid_settings_is_a_value_error() -> None:
    assert issubclass(InvalidSettings, ValueError)
