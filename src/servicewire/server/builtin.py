"""The built-in actions every service has unless it defines its own: ``status`` and
``introspect``."""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from typing_extensions import NotRequired, TypedDict

from servicewire._version import __version__
from servicewire.errors import ERROR_CODE_INVALID, ActionError
from servicewire.server.action import Action, action_documentation
from servicewire.server.validation import validator_for
from servicewire.types import Body, Error

if TYPE_CHECKING:
    from servicewire.server.host import ServerHost
    from servicewire.server.request import EnrichedActionRequest
    from servicewire.server.settings import ServerSettings

__all__ = [
    "BaseStatusAction",
    "CheckMethodStatus",
    "IntrospectionAction",
    "StatusActionFactory",
    "make_default_status_action_class",
]


class CheckMethodStatus(NamedTuple):
    """One finding of a status check: an error (``is_error``) or a warning."""

    is_error: bool
    code: str
    description: str


CheckMethodReturn = Iterable[tuple[bool, str, str]] | None


class _StatusRequest(TypedDict):
    verbose: NotRequired[bool]


class _Healthcheck(TypedDict):
    errors: list[tuple[str, str]]
    warnings: list[tuple[str, str]]
    diagnostics: dict[str, Any]


class _StatusResponse(TypedDict):
    python: str
    servicewire: str
    version: str
    build: NotRequired[str]
    healthcheck: NotRequired[_Healthcheck]


class BaseStatusAction(Action):
    """Reports the service's version, and runs its health checks.

    Health checks are the methods whose names start with ``check_``. Each takes the request
    and returns ``None`` or an iterable of ``(is_error, code, description)`` tuples; it may
    also add to ``self.diagnostics``. With ``verbose: false`` in the request the checks are
    skipped and ``healthcheck`` is left out of the response.

    ``_check_client_settings`` (disabled by its leading underscore) calls ``status`` on every
    service in ``client_routing``; enable it with
    ``check_client_settings = BaseStatusAction._check_client_settings``.
    """

    description = (
        "Returns version information for the service, Python and servicewire (and the build, "
        "if the service has one). Unless `verbose` is false, also runs the service's health "
        "checks and returns their findings in `healthcheck`."
    )
    request_schema = _StatusRequest
    response_schema = _StatusResponse

    def __init__(self, settings: ServerSettings | None = None) -> None:
        super().__init__(settings)
        self.diagnostics: dict[str, Any] = {}

    @property
    def _version(self) -> str:
        return "unknown"

    @property
    def _build(self) -> str | None:
        return None

    def run(self, request: EnrichedActionRequest) -> Body:
        status: Body = {
            "python": platform.python_version(),
            "servicewire": __version__,
            "version": self._version,
        }
        if self._build:
            status["build"] = self._build
        if request.body.get("verbose", True) is True:
            errors: list[tuple[str, str]] = []
            warnings: list[tuple[str, str]] = []
            self.diagnostics = {}
            for name in sorted(dir(self)):
                if not name.startswith("check_"):
                    continue
                for is_error, code, description in getattr(self, name)(request) or ():
                    (errors if is_error else warnings).append((code, description))
            status["healthcheck"] = {
                "errors": errors,
                "warnings": warnings,
                "diagnostics": self.diagnostics,
            }
        return status

    def _check_client_settings(self, request: EnrichedActionRequest) -> CheckMethodReturn:
        """Call ``status`` (not verbose) on every service this service is set up to call."""
        client = request.client
        if client is None or not client.settings:
            return None
        services = sorted(client.settings)
        self.diagnostics["services"] = {}
        try:
            responses = client.call_jobs_parallel(
                [
                    {
                        "service_name": name,
                        "actions": [{"action": "status", "body": {"verbose": False}}],
                    }
                    for name in services
                ],
                timeout=2,
                catch_transport_errors=True,
                raise_action_errors=False,
                raise_job_errors=False,
            )
        except Exception as error:
            return [CheckMethodStatus(True, "CHECK_SERVICES_UNKNOWN_ERROR", str(error))]
        problems = []
        for name, response in zip(services, responses, strict=True):
            prefix = name.upper()
            if isinstance(response, Exception):
                problems.append(CheckMethodStatus(True, f"{prefix}_TRANSPORT_ERROR", str(response)))
            elif response.errors:
                problems.append(
                    CheckMethodStatus(True, f"{prefix}_CALL_ERROR", str(response.errors))
                )
            elif response.actions[0].errors:
                problems.append(
                    CheckMethodStatus(
                        True, f"{prefix}_STATUS_ERROR", str(response.actions[0].errors)
                    )
                )
            else:
                self.diagnostics["services"][name] = response.actions[0].body
        return problems


def StatusActionFactory(  # noqa: N802 - the reference's name
    version: str,
    build: str | None = None,
    base_class: type[BaseStatusAction] = BaseStatusAction,
) -> type[BaseStatusAction]:
    """Make a status action class reporting ``version`` (and ``build``) of a service."""

    class StatusAction(base_class):  # type: ignore[valid-type, misc]
        @property
        def _version(self) -> str:
            return version

        @property
        def _build(self) -> str | None:
            return build

    return StatusAction


def make_default_status_action_class(server_class: type) -> type[BaseStatusAction]:
    """The status action of a service that defines none: the version and build come from
    ``__version__`` and ``__build__`` of the top-level package the server class is in."""
    package = sys.modules.get(server_class.__module__.partition(".")[0])
    version = str(getattr(package, "__version__", "unknown"))
    build = str(getattr(package, "__build__", "") or "") or None
    return StatusActionFactory(version, build)


class _IntrospectionRequest(TypedDict):
    action_name: NotRequired[str]


class IntrospectionAction(Action):
    """Describes the service and its actions: documentation and request and response JSON
    Schemas.

    With ``action_name``, only that action is described (and the service documentation is
    left out). Switched actions are listed once per switch, as ``name[switch:N]``, and once
    as ``name[DEFAULT]``.
    """

    description = (
        "Returns the documentation of the service and of each of its actions, with their "
        "request and response schemas (JSON Schema). With `action_name`, returns only that "
        "action. A switched action appears once per switch as `name[switch:N]` and once as "
        "`name[DEFAULT]`."
    )
    request_schema = _IntrospectionRequest

    needs_server: ClassVar[bool] = True

    def __init__(self, server: ServerHost) -> None:
        super().__init__(server.settings)
        self.server = server

    def run(self, request: EnrichedActionRequest) -> Body:
        action_name = request.body.get("action_name")
        actions = self.server.introspectable_actions(action_name)
        if action_name is not None:
            selected = {
                name: action
                for name, action in actions.items()
                if name == action_name or name.startswith(f"{action_name}[")
            }
            if not selected:
                raise ActionError(
                    [
                        Error(
                            code=ERROR_CODE_INVALID,
                            message=f"Action {action_name!r} is not defined",
                            field="action_name",
                        )
                    ]
                )
            described = {name: describe_action(action) for name, action in selected.items()}
            return {"action_names": sorted(described), "actions": described}
        described = {name: describe_action(action) for name, action in actions.items()}
        return {
            "documentation": action_documentation(type(self.server)),
            "action_names": sorted(described),
            "actions": described,
        }


def _schema_of(schema: Any) -> dict[str, Any] | None:
    return None if schema is None else validator_for(schema).json_schema()


def describe_action(action: Any) -> dict[str, Any]:
    """The introspection entry of one action (class or callable)."""
    return {
        "documentation": action_documentation(action),
        "request_schema": _schema_of(getattr(action, "request_schema", None)),
        "response_schema": _schema_of(getattr(action, "response_schema", None)),
    }
