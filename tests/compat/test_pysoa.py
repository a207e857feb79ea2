"""``servicewire.compat.pysoa``: PySOA 1.4.9's modules, each name bound to servicewire's."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import servicewire
from servicewire import errors, testing
from servicewire.compat import PySOAMigrationWarning
from servicewire.transport.local import LocalTransportSettings

pytestmark = pytest.mark.filterwarnings("ignore::servicewire.compat.PySOAMigrationWarning")

# Every module PySOA 1.4.9 documents (and the packages and modules its services import),
# with the public names each exports in PySOA.
PYSOA_MODULES: dict[str, set[str]] = {
    "client": set(),
    "client.client": {"Client", "ServiceHandler"},
    "client.errors": {
        "CallActionError",
        "CallJobError",
        "ImproperlyConfigured",
        "InvalidExpansionKey",
        "PySOAClientError",
    },
    "client.expander": {"ExpansionSettings"},
    "client.middleware": {"ClientMiddleware"},
    "client.settings": {"ClientSettings"},
    "common": set(),
    "common.constants": {
        "ERROR_CODE_ACCESS_DENIED",
        "ERROR_CODE_ACTION_TIMEOUT",
        "ERROR_CODE_INVALID",
        "ERROR_CODE_JOB_TIMEOUT",
        "ERROR_CODE_MISSING",
        "ERROR_CODE_NOT_AUTHORIZED",
        "ERROR_CODE_NOT_FOUND",
        "ERROR_CODE_RESPONSE_NOT_SERIALIZABLE",
        "ERROR_CODE_RESPONSE_TOO_LARGE",
        "ERROR_CODE_SERVER_ERROR",
        "ERROR_CODE_UNKNOWN",
    },
    "common.errors": {"Error", "PySOAError"},
    "common.logging": {"PySOALogContextFilter", "RecursivelyCensoredDictWrapper", "SyslogHandler"},
    "common.serializer": {"JSONSerializer", "MsgpackSerializer"},
    "common.serializer.base": {"Serializer"},
    "common.serializer.errors": {"InvalidField", "InvalidMessage", "SerializationError"},
    "common.serializer.json_serializer": {"JSONSerializer"},
    "common.serializer.msgpack_serializer": {"MsgpackSerializer"},
    "common.settings": {"SOASettings"},
    "common.transport": set(),
    "common.transport.base": {"ClientTransport", "ReceivedMessage", "ServerTransport", "Transport"},
    "common.transport.errors": {
        "ConnectionError",
        "InvalidMessageError",
        "MessageReceiveError",
        "MessageReceiveTimeout",
        "MessageSendError",
        "MessageSendTimeout",
        "MessageTooLarge",
        "PySOATransportError",
        "TransientPySOATransportError",
    },
    "common.transport.local": {
        "LocalClientTransport",
        "LocalClientTransportSchema",
        "LocalServerTransport",
        "LocalServerTransportSchema",
    },
    "common.transport.redis_gateway": set(),
    "common.transport.redis_gateway.client": {"RedisClientTransport"},
    "common.transport.redis_gateway.constants": {
        "DEFAULT_MAXIMUM_MESSAGE_BYTES_CLIENT",
        "DEFAULT_MAXIMUM_MESSAGE_BYTES_SERVER",
        "MINIMUM_CHUNKED_MESSAGE_BYTES",
        "ProtocolVersion",
        "REDIS_BACKEND_TYPES",
        "REDIS_BACKEND_TYPE_SENTINEL",
        "REDIS_BACKEND_TYPE_STANDARD",
    },
    "common.transport.redis_gateway.server": {"RedisServerTransport"},
    "common.types": {
        "ActionRequest",
        "ActionResponse",
        "Body",
        "Context",
        "Control",
        "JobRequest",
        "JobResponse",
        "UnicodeKeysDict",
    },
    "server": set(),
    "server.action": {"Action"},
    "server.action.base": {"Action"},
    "server.action.introspection": {"IntrospectionAction"},
    "server.action.status": {
        "BaseStatusAction",
        "CheckMethodReturn",
        "CheckMethodStatus",
        "StatusActionFactory",
        "make_default_status_action_class",
    },
    "server.action.switched": {"SwitchedAction"},
    "server.coroutine": {
        "CoroutineMiddleware",
        "DefaultCoroutineMiddleware",
        "MiddlewareCoroutine",
    },
    "server.django": set(),
    "server.django.cache": {
        "PySOAMemcachedCache",
        "PySOAProcessScopedMemoryCache",
        "PySOARequestScopedMemoryCache",
    },
    "server.errors": {"ActionError", "JobError", "PySOAServerError", "ResponseValidationError"},
    "server.middleware": {"ServerMiddleware"},
    "server.schemas": {
        "ActionRequestSchema",
        "ContextHeaderSchema",
        "ControlHeaderSchema",
        "JobRequestSchema",
    },
    "server.server": {"HarakiriInterrupt", "Server"},
    "server.settings": {"ServerSettings"},
    "server.standalone": {"django_main", "simple_main"},
    "server.types": {
        "ActionInterface",
        "ActionType",
        "EnrichedActionRequest",
        "EnrichedJobRequest",
    },
    "test": set(),
    "test.assertions": {
        "raises_call_action_error",
        "raises_error_codes",
        "raises_field_errors",
        "raises_only_error_codes",
        "raises_only_field_errors",
    },
    "test.compatibility": {"mock"},
    "test.server": {"BaseServerTestCase", "PyTestServerTestCase", "UnitTestServerTestCase"},
    "test.stub_service": {
        "StubClient",
        "StubClientSettings",
        "StubClientTransport",
        "StubClientTransportSchema",
        "StubServer",
        "stub_action",
    },
}


def compat_module(name: str) -> Any:
    return importlib.import_module(f"servicewire.compat.pysoa.{name}")


@pytest.mark.parametrize("name", sorted(PYSOA_MODULES))
def test_each_pysoa_module_exports_pysoas_names(name: str) -> None:
    module = compat_module(name)
    assert set(module.__all__) == PYSOA_MODULES[name]
    for attribute in module.__all__:
        assert getattr(module, attribute) is not None


def test_there_are_no_modules_pysoa_does_not_have() -> None:
    package = importlib.import_module("servicewire.compat.pysoa")
    prefix = "servicewire.compat.pysoa."
    found = {m.name[len(prefix) :] for m in pkgutil.walk_packages(package.__path__, prefix)}
    assert found == set(PYSOA_MODULES)


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("client.client:Client", servicewire.Client),
        ("client.errors:PySOAClientError", servicewire.ClientError),
        ("common.errors:PySOAError", servicewire.ServiceWireError),
        ("common.errors:Error", servicewire.Error),
        ("common.transport.errors:PySOATransportError", servicewire.TransportError),
        ("common.transport.errors:TransientPySOATransportError", errors.TransientTransportError),
        ("common.transport.local:LocalClientTransportSchema", LocalTransportSettings),
        ("server.action.base:Action", servicewire.Action),
        ("server.errors:ActionError", servicewire.ActionError),
        ("server.errors:PySOAServerError", servicewire.ServerError),
        ("server.server:Server", servicewire.Server),
        ("server.settings:ServerSettings", servicewire.ServerSettings),
        ("test.server:PyTestServerTestCase", testing.PyTestServerTestCase),
        ("test.stub_service:stub_action", testing.stub_action),
    ],
)
def test_names_are_servicewires_own_objects(path: str, target: Any) -> None:
    module_name, _, attribute = path.partition(":")
    assert getattr(compat_module(module_name), attribute) is target


def test_pysoa_settings_paths_resolve_to_servicewires_classes() -> None:
    settings = servicewire.ServerSettings(
        {
            "transport": {
                "path": "servicewire.compat.pysoa.common.transport.redis_gateway.server"
                ":RedisServerTransport",
                "kwargs": {"backend_layer_kwargs": {"hosts": [("localhost", 6379)]}},
            }
        }
    )
    from servicewire.transport.redis import RedisServerTransport

    assert settings.transport.object is RedisServerTransport


def test_importing_warns_once_naming_the_importer() -> None:
    program = textwrap.dedent(
        """
        import warnings
        warnings.simplefilter("always")
        with warnings.catch_warnings(record=True) as caught:
            import servicewire.compat.pysoa.client.client
            import servicewire.compat.pysoa.server.action
            from servicewire.compat.pysoa.test import server
        print(len(caught), caught[0].category.__name__, caught[0].filename)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    count, category, filename = completed.stdout.split()
    assert (count, category, filename) == ("1", "PySOAMigrationWarning", "<string>")
    assert issubclass(PySOAMigrationWarning, DeprecationWarning)


def test_unicode_keys_dict_makes_keys_text() -> None:
    types = compat_module("common.types")
    data = types.UnicodeKeysDict()
    data[1] = "a"
    data.setdefault(2, "b")
    assert data == {"1": "a", "2": "b"}


def test_stub_client_settings_default_to_the_stub_transport() -> None:
    stub_service = compat_module("test.stub_service")
    settings = stub_service.StubClientSettings({})
    assert settings.transport.object is testing.StubClientTransport


def test_local_server_transport_schema_takes_no_arguments() -> None:
    local = compat_module("common.transport.local")
    local.LocalServerTransportSchema()
    with pytest.raises(ValueError, match="extra"):
        local.LocalServerTransportSchema(anything=1)


def test_job_request_schema_checks_the_envelope() -> None:
    schemas = compat_module("server.schemas")
    valid = {
        "control": {"continue_on_error": False},
        "context": {"correlation_id": "c", "switches": []},
        "actions": [{"action": "a", "body": {}}],
    }
    assert schemas.JobRequestSchema.errors(valid) == []
    invalid = {**valid, "actions": [{"body": {1: 2}}]}
    found = {(e.code, e.pointer) for e in schemas.JobRequestSchema.errors(invalid)}
    assert found == {("MISSING", "actions.0.action"), ("INVALID", "actions.0.body.1.[key]")}


def test_simple_main_runs_the_servers_main() -> None:
    standalone = compat_module("server.standalone")
    ran = []

    class Service(servicewire.Server):
        service_name = "standalone"

        @classmethod
        def main(cls, forked_process_id: int | None = None, argv: Any = None) -> None:
            ran.append(cls)

    standalone.simple_main(lambda: Service)
    assert ran == [Service]
