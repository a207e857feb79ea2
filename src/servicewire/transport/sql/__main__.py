"""Dead letters from a shell: ``python -m servicewire.transport.sql COMMAND``.

Commands: ``list`` (the dead letters, oldest first), ``show ID`` (one, with its message and
whole last error), ``requeue ID... | --all`` and ``discard ID... | --all`` (``--all`` with
``--service`` / ``--consumer`` acts on those only). ``--url`` and ``--table-prefix`` name
the database as the transports do (default: ``SERVICEWIRE_SQL_URL``, else the default
SQLite file).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence

from servicewire.transport.sql.dead_letters import DeadLetter, DeadLetters

__all__ = ["main"]


def _time(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch).isoformat(sep=" ", timespec="seconds")


def _first_line(text: str, width: int = 60) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def _print_list(dead_letters: Sequence[DeadLetter]) -> None:
    if not dead_letters:
        print("No dead letters.")
        return
    print(f"{'id':>6}  {'service':<20} {'consumer':<12} {'request':>10} {'tries':>5}  "
          f"{'dead since':<19}  last error")  # fmt: skip
    for letter in dead_letters:
        print(
            f"{letter.id:>6}  {letter.service:<20} {letter.consumer or '-':<12} "
            f"{letter.request_id:>10} {letter.attempts:>5}  {_time(letter.dead_at)}  "
            f"{_first_line(letter.last_error)}"
        )


def _print_one(letter: DeadLetter) -> None:
    print(f"dead letter {letter.id} of service {letter.service!r}", end="")
    print(f", consumer {letter.consumer!r}" if letter.consumer else " (work queue)")
    print(f"request id:  {letter.request_id}   reply to: {letter.reply_to or '-'}")
    print(f"attempts:    {letter.attempts}")
    print(f"enqueued at: {_time(letter.enqueued_at)}   dead since: {_time(letter.dead_at)}")
    try:
        meta, body = letter.message()
    except Exception as error:
        print(f"message:     cannot be decoded ({error}); {len(letter.payload)} bytes")
    else:
        print(f"meta:        {meta!r}")
        print(f"body:        {body!r}")
    print("last error:")
    print(letter.last_error)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m servicewire.transport.sql", description="Inspect and act on dead letters."
    )
    parser.add_argument("--url", help="SQLAlchemy URL of the database")
    parser.add_argument("--table-prefix", default="servicewire_")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list dead letters, oldest first")
    listing.add_argument("--service")
    listing.add_argument("--consumer")
    listing.add_argument("--limit", type=int, default=100)
    show = commands.add_parser("show", help="show one dead letter in full")
    show.add_argument("id", type=int)
    for name, description in (("requeue", "deliver again"), ("discard", "delete for good")):
        command = commands.add_parser(name, help=f"{description}: the given ids, or --all")
        command.add_argument("ids", type=int, nargs="*")
        command.add_argument("--all", action="store_true")
        command.add_argument("--service")
        command.add_argument("--consumer")
    arguments = parser.parse_args(argv)

    dead_letters = DeadLetters(arguments.url, arguments.table_prefix)
    if arguments.command == "list":
        _print_list(
            dead_letters.list(arguments.service, arguments.consumer, arguments.limit or None)
        )
        return 0
    if arguments.command == "show":
        letter = dead_letters.get(arguments.id)
        if letter is None:
            print(f"No dead letter {arguments.id}.", file=sys.stderr)
            return 1
        _print_one(letter)
        return 0
    if arguments.all == bool(arguments.ids):
        parser.error(f"{arguments.command}: give dead letter ids, or --all")
    chosen: list[DeadLetter | int] = list(arguments.ids)
    if arguments.all:
        chosen = list(dead_letters.list(arguments.service, arguments.consumer, limit=None))
    if arguments.command == "requeue":
        print(f"Re-queued {dead_letters.requeue(chosen)} dead letter(s).")
    else:
        print(f"Discarded {dead_letters.discard(chosen)} dead letter(s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
