"""The gateway's settings: what it exposes, who may call it, and its limits.

Everything here is checked once, when the application is built; a bad value is an
``InvalidSettings`` naming the key, as for servers and clients.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictStr,
    ValidationError,
    model_validator,
)

from servicewire.errors import InvalidSettings
from servicewire.settings import format_validation_error

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_TIMEOUT", "GatewaySettings", "parse_exposure"]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_TIMEOUT = 30.0

ServiceName = Annotated[StrictStr, Field(min_length=1, pattern=r"^[^/\s]+$")]
ActionName = Annotated[StrictStr, Field(min_length=1, pattern=r"^[^/\s\[\]]+$")]


class GatewaySettings(BaseModel):
    """How a gateway behaves. Only ``expose`` is required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expose: Annotated[dict[ServiceName, tuple[ActionName, ...] | None], Field(min_length=1)]
    """The allow-list: service name to the actions callable over HTTP, or ``None`` for every
    action the service's ``introspect`` lists. Nothing else is reachable."""
    max_body_bytes: Annotated[int, Field(gt=0)] = DEFAULT_MAX_BODY_BYTES
    """The largest request body accepted; a larger one is answered 413."""
    timeout_in_seconds: Annotated[float, Field(gt=0)] = DEFAULT_TIMEOUT
    """How long a call may wait for its service; then the caller gets 504."""
    cors_origins: tuple[StrictStr, ...] = ()
    """Origins allowed to call from a browser page of theirs (``"*"`` for any); none by
    default, so that only same-origin pages (the explorer) can."""
    bearer_tokens: Annotated[
        dict[Annotated[StrictStr, Field(min_length=16)], StrictStr], Field(repr=False)
    ] = {}
    """Accepted bearer tokens, each naming its caller. A caller named like a key of
    ``signing_keys`` has the jobs it sends signed with that key."""
    signing_keys: dict[StrictStr, Annotated[SecretStr, Field(min_length=16)]] = {}
    """Key id to shared secret, as in the ``request_signing.keys`` of the services behind:
    HTTP requests signed with one of them (HMAC) are accepted, and the jobs they lead to are
    signed with the same key, so that the services' ``AllowSignedRequests`` knows the
    caller."""
    signature_max_age_in_seconds: Annotated[int, Field(gt=0)] = 300
    """How far an HTTP request signature's timestamp may be from the gateway's clock."""
    title: StrictStr = "servicewire gateway"
    """The title of the OpenAPI document and of the explorer page."""

    @model_validator(mode="after")
    def _callers_known(self) -> GatewaySettings:
        overlap = set(self.bearer_tokens) & {
            secret.get_secret_value() for secret in self.signing_keys.values()
        }
        if overlap:
            raise ValueError("a bearer token must not also be a signing secret")
        return self

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> GatewaySettings:
        """Validate a settings dict; ``InvalidSettings`` names every offending key."""
        try:
            return cls.model_validate(settings)
        except ValidationError as error:
            raise InvalidSettings(
                f"Invalid gateway settings: {format_validation_error(error)}"
            ) from None

    @property
    def requires_authentication(self) -> bool:
        """Whether callers must present a bearer token or a request signature."""
        return bool(self.bearer_tokens or self.signing_keys)

    def exposes(self, service: str, action: str) -> bool | None:
        """Whether ``action`` of ``service`` is exposed: ``True``/``False`` when the
        allow-list says, ``None`` when it exposes every action the service has (the caller
        must ask the service)."""
        if service not in self.expose:
            return False
        actions = self.expose[service]
        return None if actions is None else action in actions


def parse_exposure(specs: Iterable[str]) -> dict[str, tuple[str, ...] | None]:
    """The ``expose`` setting from ``SERVICE`` or ``SERVICE:ACTION,ACTION`` strings (the
    command line's ``--expose``). ``SERVICE`` alone exposes every action; repeating a
    service adds to its actions."""
    exposure: dict[str, tuple[str, ...] | None] = {}
    for spec in specs:
        service, colon, listed = spec.partition(":")
        service = service.strip()
        if not service:
            raise ValueError(f"{spec!r} names no service (expected SERVICE[:ACTION,...])")
        if not colon:
            exposure[service] = None
            continue
        actions = tuple(action.strip() for action in listed.split(",") if action.strip())
        if not actions:
            raise ValueError(f"{spec!r} names no action after the colon")
        if service in exposure and exposure[service] is None:
            continue
        known = exposure.get(service) or ()
        exposure[service] = known + tuple(action for action in actions if action not in known)
    return exposure
