"""``servicewire call SERVICE ACTION [BODY]``: call one action and print its response."""

from __future__ import annotations

import sys

import click

from servicewire.cli.calling import (
    call_action,
    describe_error,
    exit_status_of,
    parse_json_object,
    response_errors,
)
from servicewire.cli.client_settings import CommandClientSettings, client_settings_options
from servicewire.cli.completion import complete_actions, complete_services
from servicewire.cli.errors import CommandError, ExitStatus
from servicewire.cli.output import echo_json

__all__ = ["call"]


def _read_body(body: str | None, body_file: str | None) -> str:
    if body is not None and body_file is not None:
        raise CommandError(
            "give the body as an argument or --body-file, not both", ExitStatus.USAGE
        )
    if body_file is not None:
        if body_file == "-":
            return sys.stdin.read()
        try:
            with open(body_file, encoding="utf-8") as file:
                return file.read()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else str(error)
            raise CommandError(
                f"cannot read the body file {body_file!r}: {reason}", ExitStatus.USAGE
            ) from None
    if body == "-":
        return sys.stdin.read()
    return body if body is not None else "{}"


@click.command()
@click.argument("service", shell_complete=complete_services)
@click.argument("action", shell_complete=complete_actions)
@click.argument("body", required=False)
@click.option(
    "--body-file", metavar="PATH", help="read the body (a JSON object) from a file ('-': stdin)"
)
@click.option(
    "--switch",
    "switches",
    type=int,
    multiple=True,
    metavar="N",
    help="a switch to send (repeatable)",
)
@click.option("--context", "context_json", metavar="JSON", help="context to send (a JSON object)")
@click.option("--correlation-id", metavar="ID", help="the correlation id (default: a new one)")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="how long to wait for the response (default: the transport's)",
)
@click.option("--raw", is_flag=True, help="print the whole job response, errors and all")
@click.option("--json", "as_json", is_flag=True, help="print errors as JSON on stdout")
@client_settings_options
def call(
    client_settings: CommandClientSettings,
    service: str,
    action: str,
    body: str | None,
    body_file: str | None,
    switches: tuple[int, ...],
    context_json: str | None,
    correlation_id: str | None,
    timeout: float | None,
    raw: bool,
    as_json: bool,
) -> int:
    """Call ACTION of SERVICE with BODY (a JSON object; '-' reads it from stdin) and print
    the action's response body.

    The exit status is 0 when the action succeeded; the errors of a failed call are printed
    on stderr (or, with --json, as JSON on stdout) and the status says what failed (see
    docs/command-line.md).
    """
    request_body = parse_json_object(_read_body(body, body_file), "the body")
    context = parse_json_object(context_json, "--context") if context_json is not None else None
    response = call_action(
        client_settings,
        service,
        action,
        request_body,
        switches=switches,
        context=context,
        correlation_id=correlation_id,
        timeout=timeout,
    )
    status = exit_status_of(response)
    if raw:
        echo_json(response.to_dict())
        return int(status)
    if status is ExitStatus.OK:
        echo_json(response.actions[0].body)
        return int(status)
    errors = response_errors(response)
    if as_json:
        echo_json({"errors": [{"action": name, **error.to_dict()} for name, error in errors]})
    else:
        for name, error in errors:
            click.echo(f"servicewire call: {describe_error(service, name, error)}", err=True)
    return int(status)
