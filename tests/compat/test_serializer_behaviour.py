"""Serializers behave as PySOA's do where PySOA users rely on it."""

from __future__ import annotations

import datetime
import pickle
import zoneinfo
from typing import Any

import pytest
import pytz

from servicewire.errors import InvalidField
from servicewire.serializer import JSONSerializer, MsgpackSerializer, Serializer
from servicewire.serializer.msgpack import UTC


@pytest.fixture(params=[JSONSerializer, MsgpackSerializer], ids=["json", "msgpack"])
def serializer(request: pytest.FixtureRequest) -> Serializer:
    serializer_class: type[Serializer] = request.param
    return serializer_class()


@pytest.mark.parametrize("not_a_dict", ["text", ["x"], ("x",), {"x"}, 0, False, None, b"raw"])
def test_only_a_dict_is_a_message(serializer: Serializer, not_a_dict: Any) -> None:
    with pytest.raises(InvalidField, match=f"must be a dict, not {type(not_a_dict).__name__}"):
        serializer.dict_to_blob(not_a_dict)


def round_trip(value: datetime.datetime) -> datetime.datetime:
    serializer = MsgpackSerializer()
    decoded: datetime.datetime = serializer.blob_to_dict(serializer.dict_to_blob({"v": value}))["v"]
    return decoded


@pytest.mark.parametrize(
    "zone",
    [datetime.timezone.utc, pytz.UTC, zoneinfo.ZoneInfo("UTC")],
    ids=["timezone.utc", "pytz.UTC", "zoneinfo"],
)
def test_a_utc_datetime_decodes_with_a_zone_equal_to_every_utc(zone: datetime.tzinfo) -> None:
    value = datetime.datetime(2017, 4, 28, 14, 30, 21, 231718, tzinfo=zone)
    decoded = round_trip(value)
    assert decoded == value
    assert decoded.tzinfo == pytz.UTC
    assert decoded.tzinfo == datetime.timezone.utc
    assert decoded.tzinfo == zoneinfo.ZoneInfo("UTC")
    assert decoded.tzinfo != zoneinfo.ZoneInfo("Europe/London")


def test_the_decoded_utc_zone_pickles_to_itself_and_formats_as_utc() -> None:
    decoded = round_trip(datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))
    assert pickle.loads(pickle.dumps(decoded)).tzinfo is UTC
    assert decoded.isoformat() == "2024-01-02T03:04:05+00:00"
    assert decoded.tzname() == "UTC"
    paris_summer = datetime.timezone(datetime.timedelta(hours=2))
    assert decoded.astimezone(paris_summer).hour == 5


def test_an_aware_datetime_in_another_zone_is_sent_as_the_same_instant_in_utc() -> None:
    # A deliberate difference: PySOA refuses such a value; servicewire keeps the instant.
    chicago = pytz.timezone("America/Chicago").localize(datetime.datetime(2011, 1, 24, 9, 0))
    decoded = round_trip(chicago)
    assert decoded == chicago
    assert decoded.tzinfo == pytz.UTC
    assert decoded.hour == 15
