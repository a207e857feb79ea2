"""The OpenAPI 3.1 document of a gateway, built from its services' ``introspect``.

Each exposed action is ``POST /{service}/{action}``, with the action's request and response
JSON Schemas as its request body and 200 response; every service also has ``POST
/{service}`` (a whole job), ``GET /{service}/status`` and ``GET /{service}/introspect``.
The errors are responses of their own, described once in ``components``.

Pure: the descriptions come in as dicts (the bodies of ``introspect``), the document goes
out as one. The schemas' own definitions (``$defs``) move to ``components.schemas``, under a
prefix per action, because a ``$ref`` inside an OpenAPI document is resolved against the
whole document.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any

from servicewire._version import __version__
from servicewire.gateway.auth import HMAC_SCHEME
from servicewire.gateway.settings import GatewaySettings

__all__ = ["BUILTIN_ACTIONS", "action_entries", "openapi_document"]

BUILTIN_ACTIONS = ("introspect", "status")
"""Served as ``GET /{service}/<name>`` for every exposed service."""

_ANY_OBJECT: dict[str, Any] = {"type": "object"}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "description": "Machine-readable: INVALID, MISSING, ..."},
        "message": {"type": "string"},
        "field": {"type": ["string", "null"], "description": "The request field at fault."},
        "denied_permissions": {"type": ["array", "null"], "items": {"type": "string"}},
        "is_caller_error": {"type": "boolean"},
    },
}
_ERRORS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["errors"],
    "properties": {"errors": {"type": "array", "items": {"$ref": "#/components/schemas/Error"}}},
}
_JOB_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["actions"],
    "additionalProperties": False,
    "properties": {
        "actions": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["action"],
                "additionalProperties": False,
                "properties": {"action": {"type": "string"}, "body": _ANY_OBJECT},
            },
        },
        "control": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "continue_on_error": {"type": "boolean"},
                "switches": {"type": "array", "items": {"type": "integer"}},
                "correlation_id": {"type": "string"},
            },
        },
        "context": _ANY_OBJECT,
    },
}
_JOB_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/Error"}},
        "context": _ANY_OBJECT,
        "actions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "action": {"type": "string"},
                    "body": _ANY_OBJECT,
                    "errors": {"type": "array", "items": {"$ref": "#/components/schemas/Error"}},
                },
            },
        },
    },
}
_ERROR_RESPONSES = {
    "CallerErrors": "The caller is to blame for every error (a body failing the schema, ...).",
    "ServerErrors": "The service failed.",
    "NotFound": "The service or action is not exposed by this gateway.",
    "NotAuthenticated": "The request carries no accepted bearer token or signature.",
    "TooLarge": "The request body is larger than the gateway accepts.",
    "Unavailable": "The request could not be delivered to the service.",
    "Timeout": "The service did not answer in time.",
}
_COMMON_RESPONSES = {
    "404": "NotFound",
    "413": "TooLarge",
    "502": "Unavailable",
    "504": "Timeout",
}
_HEADERS = [
    {
        "name": "X-Correlation-Id",
        "in": "header",
        "required": False,
        "description": "The job's correlation id (a new one if absent); echoed in the reply.",
        "schema": {"type": "string"},
    },
    {
        "name": "X-Switches",
        "in": "header",
        "required": False,
        "description": "The job's switches, as comma-separated integers.",
        "schema": {"type": "string", "pattern": r"^\s*-?\d+(\s*,\s*-?\d+)*\s*$"},
    },
]


def action_entries(
    description: Mapping[str, Any], allowed: tuple[str, ...] | None
) -> dict[str, dict[str, Any]]:
    """The exposed actions of one service's ``introspect`` body, by name, in order: those
    ``allowed`` (all but the built-in ones when ``None``). A switched action is described by
    its ``[DEFAULT]`` entry; an allowed action the service does not describe gets an entry
    without schemas."""
    described: dict[str, dict[str, Any]] = {}
    for name, entry in (description.get("actions") or {}).items():
        base, bracket, variant = name.partition("[")
        if bracket and variant != "DEFAULT]":
            continue
        described[base] = dict(entry)
    names = (
        sorted(name for name in described if name not in BUILTIN_ACTIONS)
        if allowed is None
        else list(allowed)
    )
    return {
        name: described.get(name, {"documentation": None, "request_schema": None}) for name in names
    }


def openapi_document(
    settings: GatewaySettings,
    descriptions: Mapping[str, Mapping[str, Any] | str],
) -> dict[str, Any]:
    """The gateway's OpenAPI 3.1 document. ``descriptions`` maps each exposed service to its
    ``introspect`` body, or to why it could not be had (the service is listed, its actions
    without schemas)."""
    schemas: dict[str, Any] = {
        "Error": _ERROR_SCHEMA,
        "Errors": _ERRORS_SCHEMA,
        "JobRequest": _JOB_REQUEST_SCHEMA,
        "JobResponse": _JOB_RESPONSE_SCHEMA,
    }
    tags: list[dict[str, Any]] = []
    paths: dict[str, Any] = {}
    for service, allowed in sorted(settings.expose.items()):
        described = descriptions.get(service, "not described")
        if isinstance(described, str):
            tags.append({"name": service, "description": f"(Unavailable: {described})"})
            described = {}
        else:
            documentation = inspect.cleandoc(described.get("documentation") or "")
            tags.append({"name": service, "description": documentation})
        for action, entry in action_entries(described, allowed).items():
            paths[f"/{service}/{action}"] = {
                "post": _action_operation(service, action, entry, schemas)
            }
        paths[f"/{service}"] = {"post": _job_operation(service)}
        for builtin in BUILTIN_ACTIONS:
            path = paths.setdefault(f"/{service}/{builtin}", {})
            path["get"] = _builtin_operation(service, builtin)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": settings.title,
            "version": __version__,
            "description": (
                "Actions of servicewire services, called over HTTP with JSON bodies. A "
                'response is the action\'s body (200) or `{"errors": [...]}`.'
            ),
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                name: {
                    "description": text,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}
                    },
                }
                for name, text in _ERROR_RESPONSES.items()
            },
        },
    }
    if settings.requires_authentication:
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "signature": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": f"{HMAC_SCHEME} key_id=..., timestamp=..., nonce=..., "
                "signature=... (see the gateway guide)",
            },
        }
        document["security"] = [{"bearer": []}, {"signature": []}]
    return document


def _action_operation(
    service: str, action: str, entry: Mapping[str, Any], schemas: dict[str, Any]
) -> dict[str, Any]:
    documentation = inspect.cleandoc(entry.get("documentation") or "")
    prefix = _UNSAFE_NAME.sub("_", f"{service}.{action}.")
    request = _hoisted(entry.get("request_schema") or _ANY_OBJECT, prefix, schemas)
    response = _hoisted(entry.get("response_schema") or _ANY_OBJECT, prefix, schemas)
    return {
        "tags": [service],
        "operationId": _UNSAFE_NAME.sub("_", f"{service}.{action}"),
        "summary": documentation.strip().split("\n", 1)[0] or action,
        "description": documentation,
        "parameters": _HEADERS,
        "requestBody": {"required": False, "content": {"application/json": {"schema": request}}},
        "responses": {
            "200": {
                "description": "The action's response body.",
                "content": {"application/json": {"schema": response}},
            },
            **_error_responses(),
        },
        "x-servicewire": {"service": service, "action": action},
    }


def _job_operation(service: str) -> dict[str, Any]:
    job_response = {"$ref": "#/components/schemas/JobResponse"}
    return {
        "tags": [service],
        "operationId": _UNSAFE_NAME.sub("_", f"{service}.job"),
        "summary": "A whole job: several actions, with control and context",
        "description": "Every action of the job must be exposed. The status is 200 without "
        "errors, 400 when the caller is to blame for all, else 500; the body is the job "
        "response in each case.",
        "parameters": _HEADERS,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}}
            },
        },
        "responses": {
            "200": {
                "description": "The job response.",
                "content": {"application/json": {"schema": job_response}},
            },
            "400": {
                "description": "Errors the caller is to blame for (in the job response).",
                "content": {"application/json": {"schema": job_response}},
            },
            "500": {
                "description": "The service failed (the job response says where).",
                "content": {"application/json": {"schema": job_response}},
            },
            **{code: _ref(name) for code, name in _COMMON_RESPONSES.items()},
        },
        "x-servicewire": {"service": service, "job": True},
    }


def _builtin_operation(service: str, builtin: str) -> dict[str, Any]:
    return {
        "tags": [service],
        "operationId": _UNSAFE_NAME.sub("_", f"{service}.{builtin}.get"),
        "summary": f"The service's built-in {builtin} action",
        "responses": {
            "200": {
                "description": f"The body of {builtin}"
                + (" (describing only the exposed actions)." if builtin == "introspect" else "."),
                "content": {"application/json": {"schema": _ANY_OBJECT}},
            },
            **_error_responses(),
        },
        "x-servicewire": {"service": service, "action": builtin},
    }


def _error_responses() -> dict[str, Any]:
    return {
        "400": _ref("CallerErrors"),
        "500": _ref("ServerErrors"),
        **{code: _ref(name) for code, name in _COMMON_RESPONSES.items()},
    }


def _ref(response: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{response}"}


def _hoisted(schema: Mapping[str, Any], prefix: str, schemas: dict[str, Any]) -> Any:
    """``schema`` with its ``$defs`` moved into ``schemas`` under ``prefix`` and its
    references pointed at them."""

    def rewrite(node: Any) -> Any:
        if isinstance(node, Mapping):
            copied: dict[str, Any] = {}
            for key, value in node.items():
                if key == "$defs" and isinstance(value, Mapping):
                    for name, definition in value.items():
                        schemas[_UNSAFE_NAME.sub("_", prefix + name)] = rewrite(definition)
                elif key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                    name = value[len("#/$defs/") :]
                    copied[key] = f"#/components/schemas/{_UNSAFE_NAME.sub('_', prefix + name)}"
                else:
                    copied[key] = rewrite(value)
            return copied
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    return rewrite(schema)
