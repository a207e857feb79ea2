"""The ``request_signing`` server setting (data only: the policy that reads it is
``servicewire.server.signing.AllowSignedRequests``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictStr

__all__ = ["DEFAULT_MAX_AGE", "DEFAULT_NONCE_CACHE_SIZE", "RequestSigningSettings", "SigningSecret"]

SigningSecret = Annotated[SecretStr, Field(min_length=16)]
"""A shared secret: at least 16 characters (use ``secrets.token_urlsafe(32)``)."""

DEFAULT_MAX_AGE = 300
DEFAULT_NONCE_CACHE_SIZE = 100_000


class RequestSigningSettings(BaseModel):
    """The ``request_signing`` server setting: the keys :class:`AllowSignedRequests` accepts,
    by key id, and its limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: Annotated[dict[StrictStr, SigningSecret], Field(min_length=1)]
    """Accepted secrets by key id (several while a secret is being rotated)."""
    max_age_in_seconds: Annotated[int, Field(gt=0)] = DEFAULT_MAX_AGE
    """How far a signature's timestamp may be from the server's clock, either way."""
    nonce_cache_size: Annotated[int, Field(gt=0)] = DEFAULT_NONCE_CACHE_SIZE
    """How many nonces the replay check remembers at most."""
