"""Serializers: message dicts to bytes and back, resolved by MIME type."""

from servicewire.serializer.base import Serializer
from servicewire.serializer.json import JSONSerializer
from servicewire.serializer.msgpack import CurrencyAmount, MsgpackSerializer

__all__ = ["CurrencyAmount", "JSONSerializer", "MsgpackSerializer", "Serializer"]
