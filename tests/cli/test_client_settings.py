"""Resolving the client-settings options shared by the commands that call services."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from servicewire import ClientSettings
from servicewire.cli.client_settings import (
    CommandClientSettings,
    client_settings_options,
    resolve_client_settings,
    transport_from_url,
)
from servicewire.cli.errors import CommandError, ExitStatus
from servicewire.transport.redis import RedisClientTransport
from servicewire.transport.sql import SqlClientTransport

SQL = "servicewire.transport.sql:SqlClientTransport"
REDIS = "servicewire.transport.redis:RedisClientTransport"


def failure(**options: Any) -> CommandError:
    with pytest.raises(CommandError) as caught:
        resolve_client_settings(**options)
    return caught.value


def validated(settings: dict[str, Any]) -> ClientSettings:
    return ClientSettings.from_dict(settings)


def test_without_options_every_service_uses_the_default_sql_transport() -> None:
    settings = resolve_client_settings()
    assert settings.for_service("orders") == {}
    client = settings.client(["orders"])
    assert client.settings["orders"] == ClientSettings.from_dict({})
    assert validated(settings.for_service("orders")).transport.object is SqlClientTransport


@pytest.mark.parametrize(
    "url", ["sqlite:///relative.db", "sqlite:////tmp/absolute.db", "postgresql://me@db/app"]
)
def test_sql_urls_select_the_sql_transport_with_that_database(url: str) -> None:
    transport = transport_from_url(url)
    assert transport == {"path": SQL, "kwargs": {"url": url}}
    assert validated({"transport": transport}).transport.kwargs == {"url": url}


@pytest.mark.parametrize("url", ["redis://cache:6380/2", "rediss://user:pw@cache/0", "redis://h"])
def test_redis_urls_select_the_redis_transport_with_that_host(url: str) -> None:
    transport = transport_from_url(url)
    assert transport == {"path": REDIS, "kwargs": {"backend_layer_kwargs": {"hosts": [url]}}}
    assert validated({"transport": transport}).transport.object is RedisClientTransport


def test_a_sentinel_url_names_its_sentinels_master_database_and_credentials() -> None:
    transport = transport_from_url("redis+sentinel://me:s%40cret@s1:26380,s2/mymaster/3")
    assert transport == {
        "path": REDIS,
        "kwargs": {
            "backend_type": "redis.sentinel",
            "backend_layer_kwargs": {
                "hosts": [("s1", 26380), ("s2", 26379)],
                "sentinel_services": ["mymaster"],
                "redis_db": 3,
                "connection_kwargs": {"username": "me", "password": "s@cret"},
            },
        },
    }
    validated({"transport": transport})


def test_a_sentinel_url_without_a_master_uses_every_master_the_sentinels_know() -> None:
    transport = transport_from_url("redis+sentinel://sentinel")
    assert transport["kwargs"]["backend_layer_kwargs"] == {"hosts": [("sentinel", 26379)]}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("localhost:6379", "not a URL"),
        ("cache", "not a URL"),
        ("mysql://db/app", "unknown scheme 'mysql'"),
        ("sqlite://", "a SQLite URL names a file"),
        ("redis://cache:port/0", "the port is not a number"),
        ("redis://cache/zero", "the database 'zero' is not a number"),
        ("redis://:6379/0", "no host"),
        ("redis+sentinel://s1:x/master", "the port of 's1' is not a number"),
        ("redis+sentinel://s1/master/zero", "the database 'zero' is not a number"),
        ("redis+sentinel://,s2/master", "a Sentinel host is missing"),
    ],
)
def test_a_bad_transport_url_is_invalid_settings_naming_the_problem(url: str, reason: str) -> None:
    error = failure(transport_url=url)
    assert error.status is ExitStatus.INVALID_SETTINGS
    assert reason in error.message
    assert "expected sqlite:///path" in error.message


def test_a_password_in_a_bad_url_is_not_repeated() -> None:
    error = failure(transport_url="redis://me:hunter2@cache/zero")
    assert "hunter2" not in error.message
    assert "redis://me:***@cache/zero" in error.message


def test_the_transport_url_reaches_every_service() -> None:
    settings = resolve_client_settings(transport_url="redis://cache:6379/0")
    assert settings.for_service("a") == settings.for_service("b")
    assert settings.origin == "--transport redis://cache:6379/0"


def test_only_one_source_of_settings_is_accepted() -> None:
    error = failure(settings_module="x", transport_url="redis://cache/0")
    assert error.status is ExitStatus.USAGE
    assert "-s/--settings and --transport cannot be used together" in error.message


# --- modules ---------------------------------------------------------------------------------


@pytest.fixture
def module_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def write_module(folder: Path, name: str, source: str) -> str:
    (folder / f"{name}.py").write_text(source)
    sys.modules.pop(name, None)
    return name


def test_a_module_maps_service_names_to_settings(module_folder: Path) -> None:
    name = write_module(
        module_folder,
        "cli_routes",
        "SOA_CLIENT_SETTINGS = " + repr({"orders": {"transport": {"path": REDIS}}, "users": {}}),
    )
    settings = resolve_client_settings(settings_module=name)
    assert settings.service_names == ["orders", "users"]
    assert settings.for_service("orders") == {"transport": {"path": REDIS}}
    with pytest.raises(CommandError) as caught:
        settings.for_service("billing")
    error = caught.value
    assert error.status is ExitStatus.UNKNOWN_SERVICE
    assert error.message == (
        "unknown service 'billing': settings module 'cli_routes' configures orders, users"
    )


def test_a_module_may_give_one_services_settings_for_every_service(module_folder: Path) -> None:
    name = write_module(
        module_folder, "cli_one", f"client_settings = {{'transport': {{'path': {SQL!r}}}}}"
    )
    settings = resolve_client_settings(settings_module=name)
    assert settings.for_service("anything") == {"transport": {"path": SQL}}


def test_a_module_without_client_settings_is_named(module_folder: Path) -> None:
    name = write_module(module_folder, "cli_empty", "VALUE = 1\n")
    error = failure(settings_module=name)
    assert error.status is ExitStatus.INVALID_SETTINGS
    assert error.message == (
        "Settings module 'cli_empty' defines none of SOA_CLIENT_SETTINGS, client_settings"
    )


def test_a_module_that_cannot_be_imported_is_named() -> None:
    error = failure(settings_module="no_such_cli_settings")
    assert error.status is ExitStatus.INVALID_SETTINGS
    assert "Cannot import settings module 'no_such_cli_settings'" in error.message


def test_settings_that_do_not_validate_fail_when_the_client_is_built(module_folder: Path) -> None:
    name = write_module(
        module_folder, "cli_typo", "SOA_CLIENT_SETTINGS = {'orders': {'transprot': {}}}"
    )
    settings = resolve_client_settings(settings_module=name)
    with pytest.raises(CommandError) as caught:
        settings.client(["orders"])
    error = caught.value
    assert error.status is ExitStatus.INVALID_SETTINGS
    assert "settings module 'cli_typo'" in error.message
    assert "transprot" in error.message


def test_settings_that_are_not_a_mapping_are_refused(module_folder: Path) -> None:
    name = write_module(module_folder, "cli_list", "SOA_CLIENT_SETTINGS = ['orders']")
    assert "must be a mapping, not list" in failure(settings_module=name).message
    name = write_module(module_folder, "cli_value", "SOA_CLIENT_SETTINGS = {'orders': 1}")
    assert "'orders' must map to a service's settings" in failure(settings_module=name).message


# --- files -----------------------------------------------------------------------------------

ROUTES: dict[str, Any] = {
    "orders": {"transport": {"path": SQL, "kwargs": {"url": "sqlite:///orders.db"}}}
}


@pytest.mark.parametrize(
    ("file_name", "text"),
    [
        ("routes.json", json.dumps(ROUTES)),
        (
            "routes.toml",
            f'[orders.transport]\npath = "{SQL}"\nkwargs = {{ url = "sqlite:///orders.db" }}\n',
        ),
        (
            "routes.yaml",
            f"orders:\n  transport:\n    path: {SQL}\n    kwargs:\n      url: sqlite:///orders.db\n",
        ),
    ],
)
def test_a_settings_file_in_json_toml_or_yaml(tmp_path: Path, file_name: str, text: str) -> None:
    path = tmp_path / file_name
    path.write_text(text)
    settings = resolve_client_settings(settings_file=path)
    assert settings.config(["orders"]) == ROUTES
    assert settings.origin == f"settings file {str(path)!r}"


def test_yaml_without_pyyaml_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "routes.yml"
    path.write_text("orders: {}\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    error = failure(settings_file=path)
    assert error.status is ExitStatus.INVALID_SETTINGS
    assert "reading YAML needs PyYAML (pip install pyyaml)" in error.message


@pytest.mark.parametrize(
    ("file_name", "text", "message"),
    [
        ("routes.json", "{'orders': {}}", "is not valid JSON: Expecting property name"),
        ("routes.toml", "[orders\n", "is not valid TOML"),
        ("routes.yaml", "orders: [\n", "is not valid YAML"),
        ("routes.ini", "[orders]\n", "unknown format '.ini' (expected .json, .toml, .yaml"),
        ("routes.json", "[1, 2]", "must be a mapping, not list"),
    ],
)
def test_a_bad_settings_file_is_one_clear_error(
    tmp_path: Path, file_name: str, text: str, message: str
) -> None:
    path = tmp_path / file_name
    path.write_text(text)
    error = failure(settings_file=path)
    assert error.status is ExitStatus.INVALID_SETTINGS
    assert message in error.message
    assert "\n" not in error.message


def test_a_missing_settings_file_is_named(tmp_path: Path) -> None:
    error = failure(settings_file=tmp_path / "nowhere.json")
    path = str(tmp_path / "nowhere.json")
    assert error.message == f"Cannot read settings file {path!r}: No such file or directory"


# --- the options on a command ----------------------------------------------------------------


@click.command()
@client_settings_options
@click.argument("service")
def show_settings(client_settings: CommandClientSettings, service: str) -> None:
    click.echo(json.dumps(client_settings.for_service(service), sort_keys=True))


def test_a_command_receives_the_resolved_settings() -> None:
    runner = CliRunner()
    result = runner.invoke(show_settings, ["--transport", "sqlite:///x.db", "orders"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "transport": {"path": SQL, "kwargs": {"url": "sqlite:///x.db"}}
    }
    assert json.loads(runner.invoke(show_settings, ["orders"]).output) == {}


def test_the_options_are_documented_in_the_commands_help() -> None:
    help_text = CliRunner().invoke(show_settings, ["--help"]).output
    for option in ("-s, --settings MODULE", "--settings-file PATH", "--transport URL"):
        assert option in help_text
