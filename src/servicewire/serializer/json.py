"""The JSON serializer (UTF-8 JSON text, no extension types)."""

from __future__ import annotations

import json
from typing import Any

from servicewire.errors import InvalidField, InvalidMessage
from servicewire.serializer._paths import find_unserializable
from servicewire.serializer.base import Serializer, require_dict

__all__ = ["JSONSerializer"]


def _dumpable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except Exception:
        return False
    return True


class JSONSerializer(Serializer):
    """``application/json``: readable and widely understood; dates and decimals do not travel."""

    mime_type = "application/json"

    def dict_to_blob(self, message_dict: dict[str, Any]) -> bytes:
        require_dict(message_dict)
        try:
            return json.dumps(message_dict, ensure_ascii=False, separators=(",", ":")).encode(
                "utf-8"
            )
        except Exception as error:
            path = find_unserializable(message_dict, _dumpable)
            raise InvalidField(f"Cannot serialize the value at {path}: {error}") from error

    def blob_to_dict(self, blob: bytes) -> dict[str, Any]:
        try:
            message = json.loads(blob)
        except Exception as error:
            raise InvalidMessage(f"Cannot deserialize a JSON message: {error}") from error
        if not isinstance(message, dict):
            raise InvalidMessage(f"A JSON message must be an object, not {type(message).__name__}")
        return message
