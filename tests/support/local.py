"""Calling a server class in-process, through the local transport, as a client would."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from servicewire import Client, Server


def local_routing(
    server_class: type[Server], server_settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The client settings of one service reached through the local transport."""
    return {
        "transport": {
            "path": "servicewire.transport.local:LocalClientTransport",
            "kwargs": {
                "server_class": server_class,
                "server_settings": dict(server_settings or {}),
            },
        }
    }


@contextmanager
def serving(
    server_class: type[Server],
    server_settings: Mapping[str, Any] | None = None,
    **client_settings: Any,
) -> Iterator[Client]:
    """A client of ``server_class`` (built in-process); the server is torn down at exit."""
    client = Client(
        {
            server_class.service_name: {
                **local_routing(server_class, server_settings),
                **client_settings,
            }
        }
    )
    try:
        yield client
    finally:
        client.close()


def local_server(client: Client, service_name: str) -> Any:
    """The server object behind a local-transport client (built on the client's first call)."""
    return client._get_handler(service_name).transport.server


class RecordCollector(logging.Handler):
    """Keeps every record it is given, formatted with ``formatter`` (context fields and all)."""

    def __init__(self, formatter: logging.Formatter | None = None) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        if formatter is not None:
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@contextmanager
def collecting_logs(level: int = logging.DEBUG) -> Iterator[RecordCollector]:
    """Every record logged anywhere while inside, with the request context on it."""
    from servicewire.logging import LogContextFilter

    collector = RecordCollector(
        logging.Formatter(
            "%(levelname)s %(name)s %(service_name)s %(correlation_id)s %(request_id)s "
            "%(action_name)s %(message)s"
        )
    )
    collector.addFilter(LogContextFilter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(collector)
    root.setLevel(level)
    try:
        yield collector
    finally:
        root.removeHandler(collector)
        root.setLevel(previous_level)
