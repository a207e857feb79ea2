"""Settings of the SQL transports, and where the embedded default database lives.

Both sides of a service must use the same database. When ``url`` is not set they agree on
one without configuration: the URL in the environment variable ``SERVICEWIRE_SQL_URL`` if it
is set, else a SQLite file in the user's state directory, ``$XDG_STATE_HOME/servicewire/
queues.db`` (``~/.local/state/servicewire/queues.db`` when ``XDG_STATE_HOME`` is unset;
``%LOCALAPPDATA%\\servicewire\\queues.db`` on Windows). It is per user and persistent:
requests queued before a reboot are still there after it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from typing_extensions import Self

from servicewire.errors import InvalidSettings
from servicewire.settings import format_validation_error

__all__ = [
    "DATABASE_URL_VARIABLE",
    "SqlClientTransportSettings",
    "SqlServerTransportSettings",
    "SqlTransportSettings",
    "default_database_path",
    "default_database_url",
]

DATABASE_URL_VARIABLE = "SERVICEWIRE_SQL_URL"
"""The environment variable naming the database of transports configured without ``url``."""

PositiveSeconds = Annotated[float, Field(gt=0)]
Bytes = Annotated[int, Field(ge=0)]


def default_database_path() -> Path:
    """The SQLite file used when neither ``url`` nor ``SERVICEWIRE_SQL_URL`` is set."""
    if sys.platform == "win32":  # pragma: no cover - the suite runs on Linux
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        state_home = os.environ.get("XDG_STATE_HOME")
        # The XDG specification says a relative XDG_STATE_HOME is invalid and to be ignored.
        base = (
            Path(state_home)
            if state_home and os.path.isabs(state_home)
            else Path.home() / ".local" / "state"
        )
    return base / "servicewire" / "queues.db"


def default_database_url() -> str:
    """The database URL of transports configured without ``url`` (see the module docs)."""
    return os.environ.get(DATABASE_URL_VARIABLE) or f"sqlite:///{default_database_path()}"


class SqlTransportSettings(BaseModel):
    """What both sides of the SQL transport accept.

    ``url`` is a SQLAlchemy URL (``sqlite:///path/to/file.db``,
    ``postgresql+psycopg://user@host/db``); unset, the default database is used.
    ``table_prefix`` starts the names of the transport's tables, so that several
    independent installations can share one database. ``delivery`` is ``"work_queue"``
    (each request handled by one server) or ``"fan_out"`` (every consumer sees every
    message). ``maximum_poll_interval_in_seconds`` bounds how long an idle receiver waits
    before looking again (default 0.025 s on SQLite, which has no notifications, and 1 s on
    PostgreSQL, where notifications wake it at once). ``busy_timeout_in_seconds`` is how
    long a SQLite writer waits for the lock. ``engine_kwargs`` go to SQLAlchemy's
    ``create_engine`` (pool sizes, ``connect_args``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    url: str | None = None
    table_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,19}$")] = "servicewire_"
    delivery: Literal["work_queue", "fan_out"] = "work_queue"
    message_expiry_in_seconds: PositiveSeconds = 60
    receive_timeout_in_seconds: PositiveSeconds = 5
    maximum_message_size_in_bytes: Annotated[int, Field(gt=0)] = 102400
    log_messages_larger_than_bytes: Bytes = 102400
    maximum_poll_interval_in_seconds: PositiveSeconds | None = None
    busy_timeout_in_seconds: PositiveSeconds = 10
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_kwargs(cls, owner: str, kwargs: dict[str, Any]) -> Self:
        """Validate a transport's keyword arguments; ``InvalidSettings`` names bad keys."""
        try:
            return cls.model_validate(kwargs)
        except ValidationError as error:
            raise InvalidSettings(
                f"Invalid settings of {owner}: {format_validation_error(error)}"
            ) from None

    @property
    def database_url(self) -> str:
        return self.url or default_database_url()


class SqlClientTransportSettings(SqlTransportSettings):
    """The client side. ``queue_capacity`` is how many requests may wait for a service
    before sending fails with ``MessageSendError`` (0 means no limit)."""

    queue_capacity: Annotated[int, Field(ge=0)] = 10000


class SqlServerTransportSettings(SqlTransportSettings):
    """The server side.

    ``delivery_guarantee``: ``"at_least_once"`` (default) keeps a request until the server
    has finished it, so that a server that dies mid-request loses nothing (the request is
    handed to another after ``visibility_timeout_in_seconds``, and actions must be
    idempotent); ``"at_most_once"`` deletes a request as it is received (a crash loses it,
    but it never runs twice). ``max_attempts`` deliveries without completion send a request
    to the dead letters. A running request's visibility timeout is renewed while the server
    works on it, so a long job is not handed out twice.

    ``consumer`` names this server's cursor in fan-out delivery (required there). A fan-out
    message whose job fails on the server's side is retried after
    ``fan_out_retry_delay_in_seconds``. Every ``purge_interval_in_seconds`` an idle server
    deletes expired requests and replies, fan-out messages every consumer has passed, and
    dead letters older than ``dead_letter_retention_in_seconds`` (``None`` keeps them).
    """

    maximum_message_size_in_bytes: Annotated[int, Field(gt=0)] = 256000
    log_messages_larger_than_bytes: Bytes = 256000
    delivery_guarantee: Literal["at_least_once", "at_most_once"] = "at_least_once"
    visibility_timeout_in_seconds: PositiveSeconds = 30
    max_attempts: Annotated[int, Field(ge=1)] = 5
    consumer: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    fan_out_retry_delay_in_seconds: Annotated[float, Field(ge=0)] = 1
    purge_interval_in_seconds: PositiveSeconds = 60
    dead_letter_retention_in_seconds: PositiveSeconds | None = 7 * 24 * 3600

    @model_validator(mode="after")
    def _consumer_matches_delivery(self) -> Self:
        if self.delivery == "fan_out" and self.consumer is None:
            raise ValueError("fan-out delivery needs a consumer name (the key 'consumer')")
        if self.delivery == "work_queue" and self.consumer is not None:
            raise ValueError("'consumer' applies to fan-out delivery only")
        return self
