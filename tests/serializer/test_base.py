"""Resolving serializers by MIME type."""

from __future__ import annotations

from typing import Any

import pytest

from servicewire.serializer import JSONSerializer, MsgpackSerializer, Serializer


def test_resolve_serializer_by_mime_type() -> None:
    assert isinstance(Serializer.resolve_serializer("application/msgpack"), MsgpackSerializer)
    assert isinstance(Serializer.resolve_serializer("application/json"), JSONSerializer)


def test_resolved_serializers_are_shared() -> None:
    first = Serializer.resolve_serializer("application/json")
    assert Serializer.resolve_serializer("application/json") is first


def test_an_unknown_mime_type_raises_value_error_listing_the_known_ones() -> None:
    with pytest.raises(ValueError, match="application/yaml") as caught:
        Serializer.resolve_serializer("application/yaml")
    assert "application/json" in str(caught.value)


def test_a_new_serializer_registers_itself() -> None:
    class Reversed(Serializer):
        mime_type = "application/x-test-reversed"

        def dict_to_blob(self, message_dict: dict[str, Any]) -> bytes:
            return repr(message_dict).encode()[::-1]

        def blob_to_dict(self, blob: bytes) -> dict[str, Any]:
            return {"raw": blob[::-1]}

    serializer = Serializer.resolve_serializer("application/x-test-reversed")
    assert isinstance(serializer, Reversed)
    assert serializer.blob_to_dict(serializer.dict_to_blob({"a": 1})) == {"raw": b"{'a': 1}"}
