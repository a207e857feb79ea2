"""The serializer interface and its MIME-type registry."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from servicewire.errors import InvalidField

__all__ = ["Serializer", "require_dict"]


def require_dict(message_dict: object) -> None:
    """Raise ``InvalidField`` unless ``message_dict`` is a dict: only maps are messages.

    msgpack and JSON would happily encode a list or a number, and the peer would then fail to
    read it as a message; refusing on the sending side names the mistake where it was made.
    """
    if not isinstance(message_dict, dict):
        raise InvalidField(f"A message must be a dict, not {type(message_dict).__name__}")


class Serializer(abc.ABC):
    """Turns message dicts into bytes and back.

    A subclass that sets ``mime_type`` registers itself, so that
    :meth:`resolve_serializer` can find it by the MIME type named in a message's framing.
    Implementations raise :class:`~servicewire.errors.InvalidField` when a value cannot be
    serialized and :class:`~servicewire.errors.InvalidMessage` when bytes cannot be decoded.
    """

    mime_type: ClassVar[str]
    _registry: ClassVar[dict[str, type[Serializer]]] = {}
    _instances: ClassVar[dict[str, Serializer]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mime_type = cls.__dict__.get("mime_type")
        if mime_type:
            Serializer._registry[mime_type] = cls
            Serializer._instances.pop(mime_type, None)

    @classmethod
    def resolve_serializer(cls, mime_type: str) -> Serializer:
        """Return a (shared) serializer for ``mime_type``; ``ValueError`` if none is known."""
        try:
            return Serializer._instances[mime_type]
        except KeyError:
            pass
        try:
            serializer_class = Serializer._registry[mime_type]
        except KeyError:
            known = ", ".join(sorted(Serializer._registry))
            raise ValueError(
                f"No serializer for MIME type {mime_type!r} (known: {known})"
            ) from None
        instance = Serializer._instances[mime_type] = serializer_class()
        return instance

    @abc.abstractmethod
    def dict_to_blob(self, message_dict: dict[str, Any]) -> bytes:
        """Serialize ``message_dict``; raise ``InvalidField`` naming the value that failed."""

    @abc.abstractmethod
    def blob_to_dict(self, blob: bytes) -> dict[str, Any]:
        """Deserialize ``blob`` into a dict; raise ``InvalidMessage`` if it is not one."""
