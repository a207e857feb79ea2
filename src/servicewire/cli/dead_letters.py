"""``servicewire dead-letters list|show|retry|purge``: the messages a transport gave up on.

The dead letters are those of the transport that the client settings give ``--service``
(or, without it, the one transport they use); transports plug in through
:mod:`servicewire.cli.dead_letter_stores`.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click

from servicewire.cli.calling import reaching
from servicewire.cli.client_settings import CommandClientSettings, client_settings_options
from servicewire.cli.completion import complete_services
from servicewire.cli.dead_letter_stores import DeadLetterRecord, DeadLetterStore, store_for
from servicewire.cli.errors import CommandError, ExitStatus
from servicewire.cli.output import echo_json

__all__ = ["dead_letters"]

_service_option = click.option(
    "--service", metavar="SERVICE", shell_complete=complete_services, help="this service's only"
)
_json_option = click.option("--json", "as_json", is_flag=True, help="print JSON")


@contextmanager
def _store(
    client_settings: CommandClientSettings, service: str | None
) -> Iterator[DeadLetterStore]:
    if service is not None:
        transports = [client_settings.transport_for(service)]
    else:
        transports = client_settings.transports()
    if len(transports) > 1:
        raise CommandError(
            f"{client_settings.origin} uses several transports: choose one with --service",
            ExitStatus.USAGE,
        )
    path, kwargs = transports[0]
    with reaching("the dead letters", client_settings):
        store = store_for(path, kwargs)
        if store is None:
            raise CommandError(
                f"the transport {path} keeps no dead letters this command can read",
                ExitStatus.INVALID_SETTINGS,
            )
        try:
            yield store
        finally:
            store.close()


def _time(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.datetime.fromtimestamp(epoch).isoformat(sep=" ", timespec="seconds")


def _first_line(text: str, width: int = 60) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


@click.group("dead-letters")
def dead_letters() -> None:
    """List, show, retry and purge the messages a transport gave up on."""


@dead_letters.command("list")
@_service_option
@click.option("--limit", type=click.IntRange(min=0), default=100, help="at most this many (0: all)")
@_json_option
@client_settings_options
def list_dead_letters(
    client_settings: CommandClientSettings, service: str | None, limit: int, as_json: bool
) -> int:
    """List dead letters, oldest first."""
    with _store(client_settings, service) as store:
        letters = store.list(service, limit or None)
    if as_json:
        echo_json([letter.to_dict() for letter in letters])
        return int(ExitStatus.OK)
    if not letters:
        click.echo("No dead letters.")
        return int(ExitStatus.OK)
    click.echo(
        f"{'id':>6}  {'service':<20} {'consumer':<12} {'request':>10} {'tries':>5}  "
        f"{'dead since':<19}  last error"
    )
    for letter in letters:
        click.echo(
            f"{letter.id:>6}  {letter.service:<20} {letter.consumer or '-':<12} "
            f"{letter.request_id:>10} {letter.attempts:>5}  {_time(letter.dead_at)}  "
            f"{_first_line(letter.last_error)}"
        )
    return int(ExitStatus.OK)


@dead_letters.command("show")
@click.argument("letter_id", metavar="ID")
@_service_option
@_json_option
@client_settings_options
def show_dead_letter(
    client_settings: CommandClientSettings, letter_id: str, service: str | None, as_json: bool
) -> int:
    """Show one dead letter in full: its message and its whole last error."""
    with _store(client_settings, service) as store:
        letter = store.get(letter_id)
    if letter is None:
        raise CommandError(f"no dead letter {letter_id!r}", ExitStatus.UNKNOWN_SERVICE)
    if as_json:
        echo_json(letter.to_dict())
        return int(ExitStatus.OK)
    _print_letter(letter)
    return int(ExitStatus.OK)


def _print_letter(letter: DeadLetterRecord) -> None:
    owner = f", consumer {letter.consumer!r}" if letter.consumer else " (work queue)"
    click.echo(f"dead letter {letter.id} of service {letter.service!r}{owner}")
    click.echo(f"request id:  {letter.request_id}")
    click.echo(f"attempts:    {letter.attempts}")
    click.echo(f"enqueued at: {_time(letter.enqueued_at)}   dead since: {_time(letter.dead_at)}")
    if letter.message is None:
        click.echo(f"message:     cannot be decoded ({letter.message_error}); {letter.size} bytes")
    else:
        click.echo(f"meta:        {letter.message['meta']!r}")
        click.echo(f"body:        {letter.message['body']!r}")
    click.echo("last error:")
    click.echo(letter.last_error)


def _chosen(
    store: DeadLetterStore,
    letter_ids: tuple[str, ...],
    every: bool,
    service: str | None,
    older_than: float | None,
    command: str,
) -> list[str]:
    if every == bool(letter_ids):
        raise CommandError(f"{command}: give dead letter ids, or --all", ExitStatus.USAGE)
    if letter_ids:
        return list(letter_ids)
    letters = store.list(service, None)
    if older_than is not None:
        cutoff = time.time() - older_than
        letters = [letter for letter in letters if letter.dead_at <= cutoff]
    return [letter.id for letter in letters]


_ids_argument = click.argument("letter_ids", metavar="[ID]...", nargs=-1)
_all_option = click.option("--all", "every", is_flag=True, help="all of them (or --service's)")


@dead_letters.command("retry")
@_ids_argument
@_all_option
@_service_option
@client_settings_options
def retry_dead_letters(
    client_settings: CommandClientSettings,
    letter_ids: tuple[str, ...],
    every: bool,
    service: str | None,
) -> int:
    """Deliver dead letters again (the given ids, or --all), each with a fresh expiry."""
    with _store(client_settings, service) as store:
        chosen = _chosen(store, letter_ids, every, service, None, "retry")
        count = store.requeue(chosen)
    click.echo(f"Re-queued {count} dead letter(s).")
    return int(ExitStatus.OK)


@dead_letters.command("purge")
@_ids_argument
@_all_option
@_service_option
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="with --all, only those dead this long",
)
@client_settings_options
def purge_dead_letters(
    client_settings: CommandClientSettings,
    letter_ids: tuple[str, ...],
    every: bool,
    service: str | None,
    older_than: float | None,
) -> int:
    """Delete dead letters for good (the given ids, or --all)."""
    with _store(client_settings, service) as store:
        chosen = _chosen(store, letter_ids, every, service, older_than, "purge")
        count = store.discard(chosen)
    click.echo(f"Discarded {count} dead letter(s).")
    return int(ExitStatus.OK)
