"""``servicewire queues [SERVICE...]``: what waits in the transports' queues."""

from __future__ import annotations

from typing import Any

import click

from servicewire.cli.calling import reaching
from servicewire.cli.client_settings import CommandClientSettings, client_settings_options
from servicewire.cli.completion import complete_services
from servicewire.cli.errors import ExitStatus
from servicewire.cli.output import echo_json
from servicewire.cli.queue_inspection import QueueStatistics, inspector_for

__all__ = ["queues"]

_HEADER = ("service", "waiting", "oldest", "in flight", "dead letters")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f} s"
    return str(value)


def _table(rows: list[QueueStatistics]) -> list[str]:
    cells = [
        (row.service, row.waiting, row.oldest_age_in_seconds, row.in_flight, row.dead_letters)
        for row in rows
    ]
    texts = [_HEADER, *[tuple(_cell(value) for value in row) for row in cells]]
    widths = [max(len(row[column]) for row in texts) for column in range(len(_HEADER))]
    lines = []
    for row_number, row in enumerate(texts):
        name, *numbers = row
        line = name.ljust(widths[0]) + "".join(
            "  " + text.rjust(width) for text, width in zip(numbers, widths[1:], strict=True)
        )
        lines.append(line)
        if row_number:
            for consumer, backlog in sorted((rows[row_number - 1].consumers or {}).items()):
                lines.append(f"  consumer {consumer}: {backlog} behind")
    return lines


@click.command()
@click.argument("services", nargs=-1, metavar="[SERVICE]...", shell_complete=complete_services)
@click.option("--json", "as_json", is_flag=True, help="print the statistics as JSON")
@client_settings_options
def queues(client_settings: CommandClientSettings, services: tuple[str, ...], as_json: bool) -> int:
    """Show each service's queue (or only SERVICE's): requests waiting, the oldest one's age,
    requests in flight, dead letters (the SQL transport reports all of them, Redis how many
    requests wait)."""
    transports = (
        [client_settings.transport_for(name) for name in services]
        if services
        else client_settings.transports()
    )
    unique: list[tuple[str, dict[str, Any]]] = []
    for transport in transports:
        if transport not in unique:
            unique.append(transport)
    report = []
    for path, kwargs in unique:
        with reaching("the queues", client_settings):
            inspector = inspector_for(path, kwargs)
            if inspector is None:
                click.echo(f"servicewire queues: {path} keeps no queues to inspect", err=True)
                continue
            try:
                rows = inspector.statistics()
            finally:
                inspector.close()
        if services:
            rows = [row for row in rows if row.service in services]
        report.append((inspector.description, rows))
    if as_json:
        echo_json(
            [
                {"transport": description, "queues": [row.to_dict() for row in rows]}
                for description, rows in report
            ]
        )
        return int(ExitStatus.OK)
    for number, (description, rows) in enumerate(report):
        if number:
            click.echo()
        click.secho(description, bold=True)
        for line in _table(rows) if rows else ["(no queued requests)"]:
            click.echo(line)
    return int(ExitStatus.OK)
