"""The gateway's ASGI application: HTTP requests in, jobs to services out.

``create_app(settings, client_config)`` builds a Starlette application that forwards each
request through an :class:`~servicewire.AsyncClient` to the services it exposes. Every
answer is JSON; whatever a caller sends is answered with a 4xx naming the problem, never
with a 500 and never by stopping the application. Routes, in order:

- ``GET /`` and ``/_explorer/*``: the explorer page;
- ``GET /openapi.json``: the OpenAPI document (see :mod:`servicewire.gateway.openapi`);
- ``GET /{service}/status`` and ``GET /{service}/introspect``: the built-in actions;
- ``POST /{service}/{action}``: one action, its body the JSON object sent;
- ``POST /{service}``: a whole job.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from servicewire.client.aio import AsyncClient
from servicewire.errors import (
    ERROR_CODE_INVALID,
    ERROR_CODE_NOT_AUTHORIZED,
    ERROR_CODE_RESPONSE_NOT_SERIALIZABLE,
    ERROR_CODE_SERVER_ERROR,
    ERROR_CODE_UNKNOWN,
    MessageReceiveTimeout,
    MessageTooLarge,
    SerializationError,
    TransportError,
)
from servicewire.gateway.auth import HMAC_SCHEME, Authenticator, Caller
from servicewire.gateway.openapi import BUILTIN_ACTIONS, action_entries, openapi_document
from servicewire.gateway.outcomes import (
    ERROR_CODE_REQUEST_TOO_LARGE,
    ERROR_CODE_TIMEOUT,
    ERROR_CODE_UNAVAILABLE,
    action_outcome,
    error_body,
    job_outcome,
)
from servicewire.gateway.parsing import (
    Refusal,
    correlation_id_header,
    job_parts,
    json_object,
    switches_header,
)
from servicewire.gateway.settings import GatewaySettings
from servicewire.types import JobResponse

__all__ = ["DESCRIPTION_TTL", "Gateway", "create_app"]

logger = logging.getLogger("servicewire.gateway")

EXPLORER = Path(__file__).with_name("explorer")

DEFAULT_SERVICE_SETTINGS: Mapping[str, Any] = {
    "transport": {"path": "servicewire.transport.sql:SqlClientTransport"}
}
"""The client settings of an exposed service the client configuration leaves out: the
embedded SQLite transport, as for ``Client()`` without settings."""

DESCRIPTION_TTL = 60.0
"""How long a service's ``introspect`` answer is reused (seconds)."""
DESCRIPTION_REFRESH_INTERVAL = 5.0
"""How soon an answer may be fetched again early, for an action it did not list: calls of
unknown actions must not make the gateway ask the service on every request."""

_SIGNING_MIDDLEWARE = "servicewire.client.signing:RequestSigningMiddleware"


@dataclass(frozen=True, slots=True)
class _Description:
    """A service's ``introspect`` answer, when it came, and its callable actions' names."""

    fetched_at: float
    body: dict[str, Any]
    actions: frozenset[str]


def _json_default(value: Any) -> Any:
    # The msgpack extension types a service may answer with, in their JSON spelling.
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    raise TypeError(f"a value of type {type(value).__name__} has no JSON form")


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """``payload`` as JSON; a payload that cannot be written is the service's fault (500)."""
    try:
        content = json.dumps(
            payload, default=_json_default, ensure_ascii=True, allow_nan=False
        ).encode()
    except (TypeError, ValueError, RecursionError) as error:
        logger.warning("A response could not be written as JSON: %s", error)
        status = 500
        content = json.dumps(
            error_body(
                ERROR_CODE_RESPONSE_NOT_SERIALIZABLE,
                f"The response has no JSON form: {error}",
                is_caller_error=False,
            )
        ).encode()
    return Response(content, status, headers=headers, media_type="application/json")


Handler = Callable[[Request], Awaitable[Response]]


def _answering(handler: Handler) -> Handler:
    """Turn refusals into JSON errors, and anything unforeseen into a logged 500 (the
    gateway's own fault), so that no request ever ends without an answer."""

    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except Refusal as refusal:
            # One line per refusal: 5xx ones are the services' or the transport's trouble.
            logger.log(
                logging.WARNING if refusal.status >= 500 else logging.INFO,
                "Refused %s %s: %s %s",
                request.method,
                request.url.path,
                refusal.status,
                refusal.message,
            )
            return json_response(
                refusal.status,
                error_body(
                    refusal.code,
                    refusal.message,
                    refusal.field,
                    is_caller_error=refusal.status < 500,
                ),
                refusal.headers,
            )
        except Exception:
            logger.exception("The gateway failed on %s %s", request.method, request.url.path)
            return json_response(
                500,
                error_body(
                    ERROR_CODE_SERVER_ERROR,
                    "The gateway failed; see its log",
                    is_caller_error=False,
                ),
            )

    return answer


class Gateway:
    """The state behind the routes: settings, clients (one per signing key) and the cached
    descriptions of the services."""

    def __init__(
        self,
        settings: GatewaySettings,
        client_config: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.settings = settings
        given = client_config or {}
        self._config = {
            service: dict(given.get(service) or DEFAULT_SERVICE_SETTINGS)
            for service in settings.expose
        }
        self.authenticator = Authenticator(settings)
        # Built now, so that bad client settings stop the gateway before it serves.
        self._clients: dict[str | None, AsyncClient] = {None: AsyncClient(self._config)}
        self._descriptions: dict[str, _Description] = {}

    # --- clients --------------------------------------------------------------------------

    def client_for(self, caller: Caller) -> AsyncClient:
        """The client whose jobs carry ``caller``'s signature (unsigned without a key)."""
        key_id = caller.signing_key_id
        client = self._clients.get(key_id)
        if client is None:
            secret = self.settings.signing_keys[key_id].get_secret_value()  # type: ignore[index]
            signing = {"path": _SIGNING_MIDDLEWARE, "kwargs": {"key_id": key_id, "secret": secret}}
            config = {
                service: {**settings, "middleware": [*settings.get("middleware", ()), signing]}
                for service, settings in self._config.items()
            }
            client = self._clients[key_id] = AsyncClient(config)
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            try:
                await client.aclose()
            except Exception:
                logger.exception("A client of the gateway failed to close")

    async def call(
        self,
        caller: Caller,
        service: str,
        actions: list[dict[str, Any]],
        switches: list[int] | None = None,
        correlation_id: str | None = None,
        continue_on_error: bool = False,
        context: Mapping[str, Any] | None = None,
    ) -> JobResponse:
        """Send one job and wait for its response; transport failures become refusals."""
        try:
            return await self.client_for(caller).call_actions(
                service,
                actions,
                raise_job_errors=False,
                raise_action_errors=False,
                timeout=self.settings.timeout_in_seconds,
                switches=switches,
                correlation_id=correlation_id,
                continue_on_error=continue_on_error,
                context={**(context or {}), "caller": f"servicewire gateway: {caller.name}"},
            )
        except MessageTooLarge as error:
            raise Refusal(
                413,
                ERROR_CODE_REQUEST_TOO_LARGE,
                f"The request is larger than the transport to service {service!r} carries: {error}",
            ) from None
        except SerializationError as error:
            raise Refusal(
                400,
                ERROR_CODE_INVALID,
                f"The request cannot be sent to service {service!r}: {error}",
            ) from None
        except MessageReceiveTimeout:
            raise Refusal(
                504,
                ERROR_CODE_TIMEOUT,
                f"Service {service!r} did not answer within {self.settings.timeout_in_seconds:g} s",
            ) from None
        except TransportError as error:
            raise Refusal(
                502, ERROR_CODE_UNAVAILABLE, f"Service {service!r} could not be reached: {error}"
            ) from None

    # --- what is exposed ------------------------------------------------------------------

    async def description(self, service: str, refresh: bool = False) -> _Description:
        """What ``service``'s ``introspect`` said, reused for :data:`DESCRIPTION_TTL` (with
        ``refresh``, for :data:`DESCRIPTION_REFRESH_INTERVAL`)."""
        cached = self._descriptions.get(service)
        now = time.monotonic()
        if cached is not None:
            age = now - cached.fetched_at
            if age < (DESCRIPTION_REFRESH_INTERVAL if refresh else DESCRIPTION_TTL):
                return cached
        job = await self.call(Caller("gateway", None), service, [{"action": "introspect"}])
        status, body = action_outcome(job)
        if status != 200:
            raise Refusal(
                502,
                ERROR_CODE_UNAVAILABLE,
                f"Service {service!r} did not describe itself: {body['errors'][0]['message']}",
            )
        described = self._descriptions[service] = _Description(
            now, body, frozenset(action_entries(body, None))
        )
        return described

    async def check_exposed(self, service: str, action: str) -> None:
        """Refuse (404) an action the allow-list does not expose."""
        exposed = self.settings.exposes(service, action)
        if exposed is None:
            exposed = action in (await self.description(service)).actions
            if not exposed and action not in BUILTIN_ACTIONS:
                # The service may have been deployed anew with the action since.
                exposed = action in (await self.description(service, refresh=True)).actions
        if exposed:
            return
        if service not in self.settings.expose:
            raise Refusal(
                404,
                ERROR_CODE_UNKNOWN,
                f"Service {service!r} is not exposed by this gateway",
                field="service",
            )
        raise Refusal(
            404,
            ERROR_CODE_UNKNOWN,
            f"Action {action!r} of service {service!r} is not exposed by this gateway",
            field="action",
        )

    async def exposed_description(self, service: str) -> dict[str, Any]:
        """``introspect`` of ``service``, keeping only the exposed actions."""
        described = (await self.description(service)).body
        allowed = set(action_entries(described, self.settings.expose[service]))
        actions = {
            name: entry
            for name, entry in (described.get("actions") or {}).items()
            if name.partition("[")[0] in allowed
        }
        return {**described, "action_names": sorted(actions), "actions": actions}

    async def openapi(self) -> dict[str, Any]:
        services = sorted(self.settings.expose)
        outcomes = await asyncio.gather(
            *(self.description(service) for service in services), return_exceptions=True
        )
        descriptions: dict[str, Any] = {}
        for service, outcome in zip(services, outcomes, strict=True):
            if isinstance(outcome, Refusal):
                descriptions[service] = outcome.message
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                descriptions[service] = outcome.body
        return openapi_document(self.settings, descriptions)

    # --- requests -------------------------------------------------------------------------

    async def read_body(self, request: Request) -> bytes:
        """The request's body, refused (413) past ``max_body_bytes``, however it is sent."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise self._too_large(int(declared))
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise self._too_large(size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, size: int) -> Refusal:
        return Refusal(
            413,
            ERROR_CODE_REQUEST_TOO_LARGE,
            f"The request body ({size} bytes or more) is larger than the "
            f"{self.settings.max_body_bytes} bytes this gateway accepts",
        )

    def authenticate(self, request: Request, body: bytes) -> Caller:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        outcome = self.authenticator.authenticate(
            request.headers.get("authorization"), request.method, path, body
        )
        if isinstance(outcome, str):
            raise Refusal(
                401,
                ERROR_CODE_NOT_AUTHORIZED,
                f"Not authenticated: {outcome}",
                headers={"WWW-Authenticate": f'Bearer realm="servicewire", {HMAC_SCHEME}'},
            )
        return outcome


def _routes(gateway: Gateway) -> list[Route | Mount]:
    settings = gateway.settings

    def replied(status: int, payload: Any, correlation_id: str) -> Response:
        return json_response(status, payload, {"X-Correlation-Id": correlation_id})

    async def explorer(request: Request) -> Response:
        return FileResponse(
            EXPLORER / "index.html",
            headers={
                "Content-Security-Policy": "default-src 'self'; object-src 'none'",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @_answering
    async def openapi(request: Request) -> Response:
        gateway.authenticate(request, b"")
        return json_response(200, await gateway.openapi())

    @_answering
    async def builtin(request: Request) -> Response:
        service, action = request.path_params["service"], request.path_params["action"]
        gateway.authenticate(request, await gateway.read_body(request))
        if action not in BUILTIN_ACTIONS:
            raise Refusal(
                405,
                ERROR_CODE_UNKNOWN,
                f"GET serves only {' and '.join(BUILTIN_ACTIONS)}: call {action!r} with POST",
                field="action",
                headers={"Allow": "POST"},
            )
        if service not in settings.expose:
            await gateway.check_exposed(service, action)
        correlation_id = correlation_id_header(request)
        if action == "introspect":
            return replied(200, await gateway.exposed_description(service), correlation_id)
        job = await gateway.call(
            Caller("gateway", None), service, [{"action": action}], None, correlation_id
        )
        return replied(*action_outcome(job), correlation_id)

    @_answering
    async def call_action(request: Request) -> Response:
        service, action = request.path_params["service"], request.path_params["action"]
        raw = await gateway.read_body(request)
        caller = gateway.authenticate(request, raw)
        await gateway.check_exposed(service, action)
        body = json_object(raw, "the action's request body")
        switches = switches_header(request.headers.get("x-switches"))
        correlation_id = correlation_id_header(request)
        job = await gateway.call(
            caller, service, [{"action": action, "body": body}], switches, correlation_id
        )
        return replied(*action_outcome(job), correlation_id)

    @_answering
    async def call_job(request: Request) -> Response:
        service = request.path_params["service"]
        raw = await gateway.read_body(request)
        caller = gateway.authenticate(request, raw)
        actions, control, context = job_parts(json_object(raw, "a job"))
        for action in actions:
            await gateway.check_exposed(service, action["action"])
        switches = control.get("switches")
        if switches is not None and (
            not isinstance(switches, list) or not all(type(switch) is int for switch in switches)
        ):
            raise Refusal(
                400, ERROR_CODE_INVALID, "switches must be a list of integers", "control.switches"
            )
        header_switches = switches_header(request.headers.get("x-switches"))
        correlation_id = control.get("correlation_id")
        if not isinstance(correlation_id, str) or not correlation_id:
            correlation_id = correlation_id_header(request)
        job = await gateway.call(
            caller,
            service,
            actions,
            [*(switches or ()), *(header_switches or ())] or None,
            correlation_id,
            continue_on_error=control.get("continue_on_error") is True,
            context=context,
        )
        return replied(*job_outcome(job), correlation_id)

    return [
        Route("/", explorer, methods=["GET"]),
        Mount("/_explorer", StaticFiles(directory=EXPLORER), name="explorer"),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/{service}/{action:str}", builtin, methods=["GET"]),
        Route("/{service}/{action:str}", call_action, methods=["POST"]),
        Route("/{service}", call_job, methods=["POST"]),
    ]


async def _http_error(request: Request, error: Exception) -> Response:
    # Starlette's own refusals (no such route, wrong method) in the gateway's JSON form.
    status = error.status_code if isinstance(error, HTTPException) else 500
    message = {404: "No such route", 405: "Method not allowed on this route"}.get(
        status, str(error)
    )
    headers = getattr(error, "headers", None)
    return json_response(
        status,
        error_body(ERROR_CODE_UNKNOWN, f"{message}: {request.method} {request.url.path}"),
        headers,
    )


def create_app(
    settings: GatewaySettings | Mapping[str, Any],
    client_config: Mapping[str, Mapping[str, Any]] | None = None,
) -> Starlette:
    """The gateway as an ASGI application.

    ``settings`` is a :class:`GatewaySettings` or its dict; ``client_config`` the client
    settings by service, as for :class:`~servicewire.AsyncClient` (an exposed service left
    out uses the embedded SQLite transport). Bad settings raise ``InvalidSettings`` here.
    The clients are closed when the application shuts down (its lifespan).
    """
    checked = (
        settings
        if isinstance(settings, GatewaySettings)
        else GatewaySettings.from_mapping(settings)
    )
    gateway = Gateway(checked, client_config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.aclose()

    middleware = []
    if checked.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(checked.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "X-Correlation-Id", "X-Switches"],
                expose_headers=["X-Correlation-Id"],
            )
        )
    app = Starlette(
        routes=_routes(gateway),
        middleware=middleware,
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app
