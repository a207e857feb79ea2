"""``servicewire introspect SERVICE [ACTION]`` and ``servicewire status SERVICE``: what a
service offers, and how it is, from its built-in ``introspect`` and ``status`` actions."""

from __future__ import annotations

from typing import Any

import click

from servicewire.cli.calling import call_action, describe_error, exit_status_of, response_errors
from servicewire.cli.client_settings import CommandClientSettings, client_settings_options
from servicewire.cli.completion import complete_actions, complete_services
from servicewire.cli.errors import ExitStatus
from servicewire.cli.output import echo_json
from servicewire.types import JobResponse

__all__ = ["introspect", "status", "summarize_schema"]

_timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="how long to wait for the response (default: the transport's)",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="print the response as JSON")


def _failed(command: str, service: str, response: JobResponse, as_json: bool) -> int:
    status = exit_status_of(response)
    errors = response_errors(response)
    if any(error.field == "action_name" for _, error in errors):
        # introspect's own way of saying the action asked about does not exist.
        status = ExitStatus.UNKNOWN_SERVICE
    if as_json:
        echo_json({"errors": [{"action": name, **error.to_dict()} for name, error in errors]})
    else:
        for name, error in errors:
            click.echo(f"servicewire {command}: {describe_error(service, name, error)}", err=True)
    return int(status)


@click.command()
@click.argument("service", shell_complete=complete_services)
@click.argument("action", required=False, shell_complete=complete_actions)
@_json_option
@_timeout_option
@client_settings_options
def introspect(
    client_settings: CommandClientSettings,
    service: str,
    action: str | None,
    as_json: bool,
    timeout: float | None,
) -> int:
    """Describe SERVICE's actions (or only ACTION): their documentation and their request
    and response schemas (the JSON Schemas themselves with --json)."""
    body = {} if action is None else {"action_name": action}
    response = call_action(client_settings, service, "introspect", body, timeout=timeout)
    if exit_status_of(response) is not ExitStatus.OK:
        return _failed("introspect", service, response, as_json)
    description = response.actions[0].body
    if as_json:
        echo_json(description)
        return int(ExitStatus.OK)
    if description.get("documentation"):
        click.echo(f"{service}: {_first_paragraph(description['documentation'])}")
        click.echo()
    for name in description.get("action_names", []):
        entry = description["actions"][name]
        click.secho(name, bold=True)
        if entry.get("documentation"):
            click.echo(f"    {_first_paragraph(entry['documentation'])}")
        click.echo(f"    request:  {summarize_schema(entry.get('request_schema'))}")
        click.echo(f"    response: {summarize_schema(entry.get('response_schema'))}")
    return int(ExitStatus.OK)


@click.command()
@click.argument("service", shell_complete=complete_services)
@_json_option
@_timeout_option
@client_settings_options
def status(
    client_settings: CommandClientSettings, service: str, as_json: bool, timeout: float | None
) -> int:
    """Show SERVICE's version and build, and run its health checks.

    The exit status is 1 when a health check reports an error, so the command serves as a
    container's health probe.
    """
    response = call_action(client_settings, service, "status", {"verbose": True}, timeout=timeout)
    if exit_status_of(response) is not ExitStatus.OK:
        return _failed("status", service, response, as_json)
    report = response.actions[0].body
    health = report.get("healthcheck") or {}
    errors = health.get("errors") or []
    outcome = ExitStatus.SERVICE_ERRORS if errors else ExitStatus.OK
    if as_json:
        echo_json(report)
        return int(outcome)
    build = f" (build {report['build']})" if report.get("build") else ""
    click.echo(
        f"{service}: version {report.get('version')}{build}, Python {report.get('python')}, "
        f"servicewire {report.get('servicewire')}"
    )
    for code, description in errors:
        click.secho(f"error    {code}: {description}", fg="red")
    for code, description in health.get("warnings") or []:
        click.secho(f"warning  {code}: {description}", fg="yellow")
    if not errors:
        click.secho("healthy", fg="green")
    return int(outcome)


def _first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


def summarize_schema(schema: dict[str, Any] | None) -> str:
    """A JSON Schema in one line: an object's fields with their types (``*``: required)."""
    if not schema:
        return "any"
    definitions = schema.get("$defs", {})
    return _type_of(schema, definitions, top=True)


def _type_of(schema: dict[str, Any], definitions: dict[str, Any], top: bool = False) -> str:
    reference = schema.get("$ref")
    if isinstance(reference, str):
        name = reference.rsplit("/", 1)[-1]
        target = definitions.get(name, {})
        return _type_of(target, definitions, top) if top else name
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return " | ".join(_type_of(option, definitions) for option in schema[combinator])
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        if not top:
            return str(schema.get("title", "object"))
        required = set(schema.get("required", []))
        fields = [
            f"{name}{'*' if name in required else ''}: {_type_of(value, definitions)}"
            for name, value in schema["properties"].items()
        ]
        return "{" + ", ".join(fields) + "}"
    if kind == "array":
        items = schema.get("items")
        return f"array of {_type_of(items, definitions)}" if items else "array"
    if "enum" in schema:
        return " | ".join(repr(value) for value in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    return str(kind or "any")
