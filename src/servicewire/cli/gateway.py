"""``servicewire gateway --expose SERVICE[:ACTION,...] ... [--host H] [--port P]``.

Serves the exposed actions over HTTP/JSON (see :mod:`servicewire.gateway` and
docs/gateway.md) with uvicorn, reaching the services through the shared client-settings
options. Secrets (bearer tokens, signing keys) come from ``--auth-file``, never from the
command line, where other users of the machine could read them.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import click

from servicewire.cli.client_settings import (
    CommandClientSettings,
    _read_file,
    client_settings_options,
)
from servicewire.cli.errors import CommandError, ExitStatus
from servicewire.errors import InvalidSettings

__all__ = ["gateway"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
_AUTH_KEYS = frozenset({"bearer_tokens", "signing_keys", "signature_max_age_in_seconds"})


@click.command(help="Serve services' actions over HTTP/JSON, with OpenAPI and an explorer page.")
@click.option(
    "--expose",
    "exposures",
    metavar="SERVICE[:ACTION,...]",
    multiple=True,
    required=True,
    help="a service (all its actions) or some of its actions; repeat for more",
)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="the address to bind")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--timeout",
    "timeout_in_seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="seconds a call may wait for its service (then 504)",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1),
    default=1024 * 1024,
    show_default=True,
    help="the largest request body accepted (then 413)",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    metavar="ORIGIN",
    multiple=True,
    help="an origin whose pages may call the gateway (repeat; '*' for any); none by default",
)
@click.option(
    "--auth-file",
    metavar="PATH",
    type=click.Path(dir_okay=False),
    help="a JSON or TOML file with bearer_tokens and/or signing_keys",
)
@click.option("--title", default="servicewire gateway", help="the explorer page's title")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@client_settings_options
def gateway(
    exposures: tuple[str, ...],
    host: str,
    port: int,
    timeout_in_seconds: float,
    max_body_bytes: int,
    cors_origins: tuple[str, ...],
    auth_file: str | None,
    title: str,
    log_level: str,
    client_settings: CommandClientSettings,
) -> int:
    try:
        import uvicorn

        from servicewire.gateway import GatewaySettings, create_app, parse_exposure
    except ImportError as error:
        raise CommandError(
            f"the gateway needs its extra: pip install 'servicewire[gateway]' ({error})",
            ExitStatus.USAGE,
        ) from None
    try:
        expose = parse_exposure(exposures)
    except ValueError as error:
        raise CommandError(f"--expose: {error}", ExitStatus.USAGE) from None
    settings: dict[str, Any] = {
        "expose": expose,
        "timeout_in_seconds": timeout_in_seconds,
        "max_body_bytes": max_body_bytes,
        "cors_origins": cors_origins,
        "title": title,
    }
    if auth_file is not None:
        settings.update(_auth_settings(auth_file))
    try:
        checked = GatewaySettings.from_mapping(settings)
        app = create_app(checked, client_settings.config(expose))
    except InvalidSettings as error:
        raise CommandError(str(error), ExitStatus.INVALID_SETTINGS) from None
    if not checked.requires_authentication and not _is_loopback(host):
        click.echo(
            f"servicewire gateway: warning: serving on {host} without authentication: anyone "
            "who can reach this address can call the exposed actions (see --auth-file)",
            err=True,
        )
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)
    return int(ExitStatus.OK)


def _auth_settings(path: str) -> dict[str, Any]:
    try:
        data = _read_file(Path(path))
    except InvalidSettings as error:
        raise CommandError(str(error), ExitStatus.INVALID_SETTINGS) from None
    if not isinstance(data, dict) or not data or not _AUTH_KEYS.issuperset(data):
        raise CommandError(
            f"--auth-file {path!r} must hold a map of {', '.join(sorted(_AUTH_KEYS))}",
            ExitStatus.INVALID_SETTINGS,
        )
    return data


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
