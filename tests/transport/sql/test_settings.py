"""Settings of the SQL transports, the default database, and the default transport."""

from __future__ import annotations

from pathlib import Path

import pytest

from servicewire import ClientSettings, InvalidSettings, ServerSettings
from servicewire.transport.sql import (
    SqlClientTransport,
    SqlServerTransport,
    default_database_path,
    default_database_url,
)


def test_unknown_and_bad_keys_are_named_at_construction() -> None:
    with pytest.raises(InvalidSettings) as raised:
        SqlServerTransport("svc", visibility_timout=3, max_attempts=0)

    message = str(raised.value)
    assert "visibility_timout: unknown key" in message
    assert "max_attempts" in message
    assert "'svc'" in message


def test_bad_kwargs_fail_when_the_settings_are_validated() -> None:
    with pytest.raises(InvalidSettings, match="delivery"):
        ServerSettings.from_dict(
            {
                "transport": {
                    "path": "servicewire.transport.sql:SqlServerTransport",
                    "kwargs": {"delivery": "broadcast"},
                }
            }
        )


def test_fan_out_delivery_needs_a_consumer_name() -> None:
    with pytest.raises(InvalidSettings, match="consumer"):
        SqlServerTransport("svc", delivery="fan_out")


def test_consumer_name_is_refused_in_work_queue_delivery() -> None:
    with pytest.raises(InvalidSettings, match="fan-out delivery only"):
        SqlServerTransport("svc", consumer="audit")


def test_table_prefix_must_be_a_plain_identifier() -> None:
    with pytest.raises(InvalidSettings, match="table_prefix"):
        SqlClientTransport("svc", table_prefix="x; DROP TABLE y")


def test_sides_have_the_redis_transport_size_limits() -> None:
    assert SqlClientTransport("svc").settings.maximum_message_size_in_bytes == 102400
    assert SqlServerTransport("svc").settings.maximum_message_size_in_bytes == 256000


def test_default_database_is_in_the_users_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERVICEWIRE_SQL_URL")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    assert default_database_path() == tmp_path / "servicewire" / "queues.db"
    assert default_database_url() == f"sqlite:///{tmp_path}/servicewire/queues.db"


def test_default_database_without_xdg_state_home_is_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERVICEWIRE_SQL_URL")
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))

    assert default_database_path() == tmp_path / ".local" / "state" / "servicewire" / "queues.db"


def test_relative_xdg_state_home_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")
    monkeypatch.setenv("HOME", str(tmp_path))

    assert default_database_path() == tmp_path / ".local" / "state" / "servicewire" / "queues.db"


def test_environment_variable_overrides_the_default_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVICEWIRE_SQL_URL", "postgresql+psycopg://db.example/queues")

    assert default_database_url() == "postgresql+psycopg://db.example/queues"
    assert SqlClientTransport("svc").settings.database_url == default_database_url()


def test_client_and_server_settings_default_to_the_sql_transport() -> None:
    assert ClientSettings.from_dict({}).transport.object is SqlClientTransport
    assert ServerSettings.from_dict({}).transport.object is SqlServerTransport


def test_building_transports_connects_to_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "never" / "queues.db"
    monkeypatch.setenv("SERVICEWIRE_SQL_URL", f"sqlite:///{database}")

    SqlClientTransport("svc").close()
    SqlServerTransport("svc").close()

    assert not database.parent.exists()
