"""A real PySOA 1.4.9 client, in its own environment, calling over Redis a service written
for PySOA and moved to servicewire by the guide's import rewrite."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.rewriting import rewritten_copy
from tests.interop.conftest import pysoa
from tests.support.services import RedisServer
from tests.transport.redis.support import serving

PYSOA_SIDE = Path(__file__).resolve().parent / "pysoa_side"

pytestmark = pytest.mark.filterwarnings("ignore::servicewire.compat.PySOAMigrationWarning")


@pytest.fixture(scope="module")
def user_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The rewritten ``user_service`` package, imported (and forgotten afterwards)."""
    code = rewritten_copy(tmp_path_factory.mktemp("migrated"))
    sys.path.insert(0, str(code))
    try:
        yield (
            importlib.import_module("user_service.server"),
            importlib.import_module("user_service.settings"),
        )
    finally:
        sys.path.remove(str(code))
        for name in [name for name in sys.modules if name.split(".")[0] == "user_service"]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def observed(redis_server: RedisServer, user_service: Any) -> dict[str, Any]:
    server_module, settings_module = user_service
    redis_server.flush()
    transport = {"backend_layer_kwargs": {"hosts": [redis_server.url]}}
    routing = settings_module.SOA_SERVER_SETTINGS["client_routing"]
    with serving(server_module.UserServer, transport, client_routing=routing):
        completed = subprocess.run(
            [str(pysoa()), "call_user_service.py", str(redis_server.port)],
            cwd=PYSOA_SIDE,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert completed.returncode == 0, completed.stderr
    results: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return results


def test_calls_succeed_with_conformity_validated_bodies(observed: dict[str, Any]) -> None:
    assert observed["get_user"] == {
        "user": {"_type": "user", "id": 1, "name": "Ada", "email": "ada@example.com", "team_id": 10}
    }
    assert observed["get_user_v2"]["user"]["first_name"] == "Grace"
    assert observed["create_user"] == {"id": 3}


def test_errors_reach_the_pysoa_client_with_codes_fields_and_blame(
    observed: dict[str, Any],
) -> None:
    assert observed["not_found"] == [["NOT_FOUND", "user_id", True]]
    assert observed["bad_request"] == [["INVALID", "user_id", True], ["UNKNOWN", "x", True]]
    assert observed["bad_create"] == [
        ["INVALID", "email", True],
        ["INVALID", "name", True],
        ["UNKNOWN", "login", True],
        ["UNKNOWN", "roles.0", True],
    ]


def test_introspection_lists_the_switched_versions(observed: dict[str, Any]) -> None:
    assert observed["introspect"] == [
        "create_user",
        "get_user[DEFAULT]",
        "get_user[switch:5]",
        "introspect",
        "status",
    ]
