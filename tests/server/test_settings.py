"""Server settings: the reference's keys and defaults, validated once."""

from __future__ import annotations

from typing import Any

import pytest

from servicewire import InvalidSettings, ServerMiddleware, ServerSettings
from servicewire.metrics import NoOpMetricsRecorder
from servicewire.server.coroutine import DefaultCoroutineMiddleware
from servicewire.server.settings import DEFAULT_LOGGING
from servicewire.transport.local import LocalClientTransport


class Recording(ServerMiddleware):
    pass


def test_defaults() -> None:
    settings = ServerSettings.from_dict({})
    assert settings.middleware == []
    assert settings.metrics.object is NoOpMetricsRecorder
    assert settings.client_routing == {}
    assert settings.logging is None
    assert (settings.harakiri.timeout, settings.harakiri.shutdown_grace) == (300, 30)
    assert settings.heartbeat_file is None
    assert settings.request_log_success_level == "DEBUG"
    assert settings.request_log_error_level == "INFO"
    assert settings.extra_fields_to_redact == frozenset()
    assert [m.object for m in settings.coroutine_middleware] == [DefaultCoroutineMiddleware]


def test_a_full_settings_dict() -> None:
    settings = ServerSettings.from_dict(
        {
            "middleware": [{"path": "tests.server.test_settings:Recording"}],
            "client_routing": {
                "other": {
                    "transport": {
                        "path": "servicewire.transport.local:LocalClientTransport",
                        "kwargs": {"server_class": "examples.calculator:CalculatorServer"},
                    }
                }
            },
            "harakiri": {"timeout": 0, "shutdown_grace": 5},
            "heartbeat_file": "/tmp/hb-{{pid}}",
            "request_log_success_level": "INFO",
            "request_log_error_level": "ERROR",
            "extra_fields_to_redact": ["ssn", "ssn"],
        }
    )
    assert settings.middleware[0].object is Recording
    assert settings.client_routing["other"].transport.object is LocalClientTransport
    assert settings.harakiri.timeout == 0
    assert settings.extra_fields_to_redact == frozenset({"ssn"})
    assert settings["heartbeat_file"] == "/tmp/hb-{{pid}}"


def test_a_users_logging_replaces_the_default_entirely() -> None:
    custom = {"version": 1, "root": {"level": "WARNING"}}
    settings = ServerSettings.from_dict({"logging": custom})
    assert settings.logging == custom
    assert "handlers" not in settings.logging
    assert "handlers" in DEFAULT_LOGGING


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"transprot": {}}, "transprot: unknown key"),
        ({"harakiri": {"timeout": -1}}, "harakiri.timeout:"),
        ({"harakiri": {"timeout": "300"}}, "harakiri.timeout:"),
        ({"harakiri": {"shutdown_grace": 0}}, "harakiri.shutdown_grace:"),
        ({"harakiri": {"timeout": 1, "grace": 2}}, "harakiri.grace: unknown key"),
        ({"request_log_success_level": "LOUD"}, "request_log_success_level:"),
        ({"middleware": [{"path": "builtins:dict"}]}, "middleware.0: Value error"),
        ({"middleware": [{"path": "nowhere_module:Thing"}]}, "middleware.0: Value error"),
        (
            {"transport": {"path": "servicewire.transport.local:LocalClientTransport"}},
            "kwargs.server_class: required key is missing",
        ),
        ({"client_routing": {"other": {"transprt": {}}}}, "client_routing.other.transprt: unknown"),
        (
            {"client_routing": {"other": {"transport": {"path": "builtins:int"}}}},
            "client_routing.other.transport: Value error",
        ),
        ({"logging": {"version": 2}}, "logging.version:"),
        ({"logging": {"version": 1, "rooot": {}}}, "logging.rooot:"),
        ({"logging": {"version": 1, "root": {"level": "LOUD"}}}, "logging.root.level:"),
        ({"heartbeat_file": 5}, "heartbeat_file:"),
        ({"coroutine_middleware": [{"path": "builtins:object"}]}, "coroutine_middleware.0"),
    ],
)
def test_bad_settings_are_rejected_naming_the_key(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidSettings, match="Invalid server settings") as caught:
        ServerSettings.from_dict(data)
    assert expected in str(caught.value)


def test_a_transport_must_be_a_server_transport() -> None:
    # LocalClientTransport is also a ServerTransport; a plain client transport is not.
    ServerSettings.from_dict(
        {"transport": {"path": "servicewire.transport.local:LocalServerTransport"}}
    )
    with pytest.raises(InvalidSettings, match="transport"):
        ServerSettings.from_dict({"transport": {"path": "servicewire.client:ClientMiddleware"}})
