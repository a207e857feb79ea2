"""The client settings of the commands that call services.

Every such command takes the same three options, added by :func:`client_settings_options`,
at most one of them at a time:

- ``-s/--settings MODULE``: a Python module defining ``SOA_CLIENT_SETTINGS`` (or
  ``client_settings``);
- ``--settings-file PATH``: a JSON (``.json``), TOML (``.toml``) or YAML (``.yaml``,
  ``.yml``; needs PyYAML) file;
- ``--transport URL``: a shorthand naming one transport for every service:
  ``sqlite:///path/to/file.db``, ``postgresql://user@host/db``, ``redis://host:port/db``,
  ``rediss://host:port/db`` (TLS), ``redis+sentinel://host:port[,host:port]/master/db``.

The settings of a module or file are either a mapping of service names to client settings
(``{"orders": {"transport": {...}}}``), or one service's settings (a mapping whose keys are
among ``transport``, ``middleware`` and ``metrics``) that apply to every service. Without any
of the options, every service is reached as a ``Client`` reaches a service configured with
``{}``: through the embedded SQL transport and its default database.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import os
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from servicewire.cli.errors import CommandError, ExitStatus
from servicewire.client.settings import DEFAULT_CLIENT_TRANSPORT
from servicewire.errors import InvalidSettings

if TYPE_CHECKING:
    from servicewire.client.client import Client

__all__ = [
    "SETTINGS_MODULE_NAMES",
    "CommandClientSettings",
    "client_settings_options",
    "resolve_client_settings",
    "transport_from_url",
]

SETTINGS_MODULE_NAMES = ("SOA_CLIENT_SETTINGS", "client_settings")
"""The names a ``-s/--settings`` module may define its client settings under, in order."""

SQL_CLIENT_TRANSPORT = "servicewire.transport.sql:SqlClientTransport"
REDIS_CLIENT_TRANSPORT = "servicewire.transport.redis:RedisClientTransport"
# The private modules the public transport classes are defined in.
_PUBLIC_TRANSPORT_PATHS = {
    "servicewire.transport.sql.client:SqlClientTransport": SQL_CLIENT_TRANSPORT,
    "servicewire.transport.redis.client:RedisClientTransport": REDIS_CLIENT_TRANSPORT,
}

# The keys of one service's client settings (those of ClientSettings), which tell the
# settings of every service apart from a mapping of service names.
_SERVICE_SETTINGS_KEYS = frozenset({"transport", "middleware", "metrics"})
_DEFAULT_SENTINEL_PORT = 26379
_URL_FORMS = (
    "sqlite:///path, postgresql://user@host/db, redis://host:port/db, rediss://host:port/db, "
    "redis+sentinel://host:port[,host:port]/master/db"
)

Command = TypeVar("Command", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class CommandClientSettings:
    """The client settings a command's options chose.

    ``services`` maps the services configured by name to their settings; ``every_service``
    is the settings of any other service (``None``: other services are unknown). ``origin``
    says where they came from, for messages.
    """

    services: Mapping[str, Mapping[str, Any]]
    every_service: Mapping[str, Any] | None
    origin: str

    @property
    def service_names(self) -> list[str]:
        """The services configured by name (for completion and listings)."""
        return sorted(self.services)

    def for_service(self, service_name: str) -> dict[str, Any]:
        """The client settings of ``service_name``; :class:`CommandError` (unknown service)
        if the settings do not reach it."""
        settings = self.services.get(service_name, self.every_service)
        if settings is None:
            configured = ", ".join(self.service_names) or "none"
            raise CommandError(
                f"unknown service {service_name!r}: {self.origin} configures {configured}",
                ExitStatus.UNKNOWN_SERVICE,
            )
        return dict(settings)

    def transport_for(self, service_name: str) -> tuple[str, dict[str, Any]]:
        """The ``(path, kwargs)`` of the transport that reaches ``service_name``."""
        return _transport_of(self.for_service(service_name))

    def transports(self) -> list[tuple[str, dict[str, Any]]]:
        """Each distinct transport these settings use, as ``(path, kwargs)``."""
        found: list[tuple[str, dict[str, Any]]] = []
        every = [] if self.every_service is None else [self.every_service]
        for settings in [*self.services.values(), *every]:
            transport = _transport_of(settings)
            if transport not in found:
                found.append(transport)
        return found

    def config(self, service_names: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The ``Client`` configuration of ``service_names``."""
        return {name: self.for_service(name) for name in service_names}

    def client(
        self, service_names: Iterable[str], context: Mapping[str, Any] | None = None
    ) -> Client:
        """A :class:`~servicewire.Client` for ``service_names``; :class:`CommandError`
        (invalid settings) if their settings do not validate."""
        from servicewire.client.client import Client

        config = self.config(service_names)
        try:
            return Client(config, context=dict(context) if context else None)
        except InvalidSettings as error:
            raise CommandError(f"{self.origin}: {error}", ExitStatus.INVALID_SETTINGS) from None


def resolve_client_settings(
    settings_module: str | None = None,
    settings_file: str | os.PathLike[str] | None = None,
    transport_url: str | None = None,
) -> CommandClientSettings:
    """The client settings named by the options (at most one given); :class:`CommandError`
    (invalid settings) if they cannot be read."""
    given = [
        name
        for name, value in (
            ("-s/--settings", settings_module),
            ("--settings-file", settings_file),
            ("--transport", transport_url),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise CommandError(f"{' and '.join(given)} cannot be used together", ExitStatus.USAGE)
    try:
        if settings_module is not None:
            origin = f"settings module {settings_module!r}"
            return _from_data(_read_module(settings_module), origin)
        if settings_file is not None:
            origin = f"settings file {os.fspath(settings_file)!r}"
            return _from_data(_read_file(Path(settings_file)), origin)
        if transport_url is not None:
            origin = f"--transport {_censored(transport_url)}"
            return CommandClientSettings(
                {}, {"transport": transport_from_url(transport_url)}, origin
            )
    except InvalidSettings as error:
        raise CommandError(str(error), ExitStatus.INVALID_SETTINGS) from None
    return CommandClientSettings({}, {}, "the default SQL transport")


def client_settings_options(command: Command) -> Command:
    """Add ``-s/--settings``, ``--settings-file`` and ``--transport`` to a click command.

    The command receives them resolved, as one keyword argument ``client_settings`` (a
    :class:`CommandClientSettings`)::

        @click.command()
        @client_settings_options
        def ping(client_settings: CommandClientSettings) -> None: ...
    """

    @functools.wraps(command)
    def run(
        *args: Any,
        settings_module: str | None,
        settings_file: str | None,
        transport_url: str | None,
        **kwargs: Any,
    ) -> Any:
        client_settings = resolve_client_settings(settings_module, settings_file, transport_url)
        return command(*args, client_settings=client_settings, **kwargs)

    options = [
        click.option(
            "-s",
            "--settings",
            "settings_module",
            metavar="MODULE",
            help="a Python module defining SOA_CLIENT_SETTINGS (or client_settings)",
        ),
        click.option(
            "--settings-file",
            "settings_file",
            metavar="PATH",
            type=click.Path(dir_okay=False),
            help="client settings in a JSON, TOML or YAML file",
        ),
        click.option(
            "--transport",
            "transport_url",
            metavar="URL",
            help="one transport for every service: sqlite:///path, postgresql://…, "
            "redis://host:port/db, rediss://…, redis+sentinel://host:port/master/db",
        ),
    ]
    decorated: Callable[..., Any] = run
    for option in reversed(options):
        decorated = option(decorated)
    return cast(Command, decorated)


def settings_from_context(context: click.Context) -> CommandClientSettings:
    """The client settings given so far on a command line being completed (defaults where
    they are missing or unreadable), so completion can list the services they reach."""
    params = context.params
    try:
        return resolve_client_settings(
            params.get("settings_module"), params.get("settings_file"), params.get("transport_url")
        )
    except CommandError:
        return CommandClientSettings({}, {}, "the default SQL transport")


def _transport_of(settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    transport = settings.get("transport") or {"path": DEFAULT_CLIENT_TRANSPORT}
    if not isinstance(transport, Mapping):
        return str(transport), {}
    path = transport.get("path", DEFAULT_CLIENT_TRANSPORT)
    if not isinstance(path, str):
        # A class given in a Python settings module rather than its import path.
        path = f"{path.__module__}:{path.__qualname__}"
    path = _PUBLIC_TRANSPORT_PATHS.get(path, path)
    return path, dict(transport.get("kwargs") or {})


# --- reading settings ------------------------------------------------------------------------


def _read_module(module_name: str) -> Any:
    if os.getcwd() not in sys.path:
        # A project's settings module usually lives in the directory the command runs in.
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise InvalidSettings(f"Cannot import settings module {module_name!r}: {error}") from None
    for name in SETTINGS_MODULE_NAMES:
        if hasattr(module, name):
            return getattr(module, name)
    raise InvalidSettings(
        f"Settings module {module_name!r} defines none of {', '.join(SETTINGS_MODULE_NAMES)}"
    )


def _read_file(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml", ".yaml", ".yml"):
        raise InvalidSettings(
            f"Settings file {str(path)!r}: unknown format {suffix or '(no extension)'!r} "
            "(expected .json, .toml, .yaml or .yml)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise InvalidSettings(f"Cannot read settings file {str(path)!r}: {reason}") from None
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidSettings(
                f"Settings file {str(path)!r} is not valid JSON: {error}"
            ) from None
    if suffix == ".toml":
        toml = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
        try:
            return toml.loads(text)
        except toml.TOMLDecodeError as error:
            raise InvalidSettings(
                f"Settings file {str(path)!r} is not valid TOML: {error}"
            ) from None
    try:
        yaml = importlib.import_module("yaml")
    except ImportError:
        raise InvalidSettings(
            f"Settings file {str(path)!r}: reading YAML needs PyYAML (pip install pyyaml), "
            "or use a JSON or TOML file"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidSettings(f"Settings file {str(path)!r} is not valid YAML: {error}") from None


def _from_data(data: Any, origin: str) -> CommandClientSettings:
    if not isinstance(data, Mapping):
        raise InvalidSettings(
            f"The client settings of {origin} must be a mapping, not {type(data).__name__}"
        )
    if data and _SERVICE_SETTINGS_KEYS.issuperset(data):
        return CommandClientSettings({}, dict(data), origin)
    services: dict[str, Mapping[str, Any]] = {}
    for name, settings in data.items():
        if not isinstance(settings, Mapping):
            raise InvalidSettings(
                f"The client settings of {origin}: {name!r} must map to a service's settings "
                f"(transport, middleware, metrics), not {type(settings).__name__}"
            )
        services[str(name)] = settings
    return CommandClientSettings(services, None, origin)


# --- transport URLs --------------------------------------------------------------------------


def transport_from_url(url: str) -> dict[str, Any]:
    """The ``transport`` setting (a class reference dict) a ``--transport`` URL stands for;
    ``InvalidSettings`` if it is not one of the forms listed in the module docs."""
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator:
        raise _bad_url(url, "not a URL")
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise _bad_url(
                url, "a SQLite URL names a file: sqlite:///relative.db or sqlite:////abs.db"
            )
        return {"path": SQL_CLIENT_TRANSPORT, "kwargs": {"url": url}}
    if scheme == "postgresql" or scheme.startswith("postgresql+"):
        return {"path": SQL_CLIENT_TRANSPORT, "kwargs": {"url": url}}
    if scheme in ("redis", "rediss"):
        _check_redis_url(url)
        return {
            "path": REDIS_CLIENT_TRANSPORT,
            "kwargs": {"backend_layer_kwargs": {"hosts": [url]}},
        }
    if scheme == "redis+sentinel":
        return {"path": REDIS_CLIENT_TRANSPORT, "kwargs": _sentinel_kwargs(url, rest)}
    raise _bad_url(url, f"unknown scheme {scheme!r}")


def _check_redis_url(url: str) -> None:
    parsed = urllib.parse.urlsplit(url)
    try:
        parsed.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise _bad_url(url, "the port is not a number") from None
    if not parsed.hostname:
        raise _bad_url(url, "no host")
    database = parsed.path.strip("/")
    if database and not database.isdigit():
        raise _bad_url(url, f"the database {database!r} is not a number")


def _sentinel_kwargs(url: str, rest: str) -> dict[str, Any]:
    # redis+sentinel://[user:password@]host[:port][,host[:port]...][/master[/db]]: urllib
    # cannot parse several hosts in one authority, so the URL is split by hand.
    authority, _, path = rest.partition("/")
    credentials, _, host_list = authority.rpartition("@")
    hosts: list[tuple[str, int]] = []
    for entry in host_list.split(","):
        host, colon, port = entry.rpartition(":") if ":" in entry else (entry, "", "")
        if not host:
            raise _bad_url(url, "a Sentinel host is missing")
        if colon and not port.isdigit():
            raise _bad_url(url, f"the port of {host!r} is not a number")
        hosts.append((host, int(port) if colon else _DEFAULT_SENTINEL_PORT))
    layer: dict[str, Any] = {"hosts": hosts}
    master, _, database = path.strip("/").partition("/")
    if master:
        layer["sentinel_services"] = [urllib.parse.unquote(master)]
    if database:
        if not database.isdigit():
            raise _bad_url(url, f"the database {database!r} is not a number")
        layer["redis_db"] = int(database)
    if credentials:
        user, has_password, password = credentials.partition(":")
        connection: dict[str, Any] = {}
        if user:
            connection["username"] = urllib.parse.unquote(user)
        if has_password:
            connection["password"] = urllib.parse.unquote(password)
        layer["connection_kwargs"] = connection
    return {"backend_type": "redis.sentinel", "backend_layer_kwargs": layer}


def _censored(url: str) -> str:
    """``url`` with its password (if any) replaced, for messages."""
    scheme, separator, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    credentials, at, hosts = authority.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.partition(":")[0]
    return f"{scheme}{separator}{user}:***@{hosts}{slash}{path}"


def _bad_url(url: str, reason: str) -> InvalidSettings:
    return InvalidSettings(f"--transport {_censored(url)}: {reason} (expected {_URL_FORMS})")
