"""The SQL transport: queues in SQLite (the embedded default) or PostgreSQL.

Configure it with a SQLAlchemy URL (``sqlite:///path/to/queues.db``,
``postgresql+psycopg://user@host/db``), or with nothing: both sides then use the default
database (``SERVICEWIRE_SQL_URL`` if set, else ``~/.local/state/servicewire/queues.db``; see
:func:`default_database_url`). The tables are created on first use.

Delivery is a work queue by default (each request is handled once, by one of the competing
servers, at least once if a server dies mid-request) or fan-out (every named consumer sees
every message in order). See ``docs/transport-sql.md``.
"""

from servicewire.transport.sql.aio import AsyncSqlClientTransport
from servicewire.transport.sql.client import SqlClientTransport
from servicewire.transport.sql.dead_letters import DeadLetter, DeadLetters
from servicewire.transport.sql.schema import SCHEMA_VERSION, DatabaseSchemaError
from servicewire.transport.sql.server import SqlServerTransport
from servicewire.transport.sql.settings import (
    DATABASE_URL_VARIABLE,
    SqlClientTransportSettings,
    SqlServerTransportSettings,
    SqlTransportSettings,
    default_database_path,
    default_database_url,
)

__all__ = [
    "DATABASE_URL_VARIABLE",
    "SCHEMA_VERSION",
    "AsyncSqlClientTransport",
    "DatabaseSchemaError",
    "DeadLetter",
    "DeadLetters",
    "SqlClientTransport",
    "SqlClientTransportSettings",
    "SqlServerTransport",
    "SqlServerTransportSettings",
    "SqlTransportSettings",
    "default_database_path",
    "default_database_url",
]
