"""Enriched requests: switches, the lazily built client, local action calls."""

from __future__ import annotations

import enum

import pytest

from servicewire import ActionError, EnrichedActionRequest, EnrichedJobRequest, RequestSwitchSet


class Switch(enum.IntEnum):
    NEW_PRICING = 5


class ObjectSwitch:
    def __init__(self, value: int) -> None:
        self.value = value


def test_switch_membership_accepts_ints_and_objects_with_a_value() -> None:
    switches = RequestSwitchSet([5, 7])
    assert 5 in switches
    assert Switch.NEW_PRICING in switches
    assert ObjectSwitch(7) in switches
    assert ObjectSwitch(8) not in switches
    assert "five" not in switches
    assert switches.is_active(Switch.NEW_PRICING)


def test_switch_sets_are_built_from_objects_too() -> None:
    assert RequestSwitchSet([Switch.NEW_PRICING, ObjectSwitch(3)]) == {3, 5}
    assert RequestSwitchSet() == frozenset()
    assert isinstance(RequestSwitchSet([]), RequestSwitchSet)


def test_an_action_request_has_sane_defaults() -> None:
    request = EnrichedActionRequest("ping")
    assert request.body == {}
    assert request.switches == frozenset()
    assert request.context == {}
    assert request.control == {}
    assert request.client is None
    assert request.run_coroutine is None


def test_the_client_is_built_once_on_first_use() -> None:
    built = []

    def factory() -> object:
        built.append(1)
        return object()

    request = EnrichedActionRequest("ping", client_factory=factory)  # type: ignore[arg-type]
    assert built == []
    first = request.client
    assert request.client is first
    assert built == [1]


def test_a_job_and_its_copies_share_one_client() -> None:
    job = EnrichedJobRequest(client_factory=object)  # type: ignore[arg-type]
    request = EnrichedActionRequest("a")
    request._client_holder = job._client_holder
    copy = request.copy_for("b", {"x": 1}, {"extra": True})
    assert copy.client is request.client is job.client
    assert (copy.action, copy.body) == ("b", {"x": 1})
    assert copy.context == {"extra": True}


def test_the_client_can_be_set() -> None:
    request = EnrichedActionRequest("a")
    marker = object()
    request.client = marker  # type: ignore[assignment]
    assert request.client is marker


def test_call_local_action_without_a_server_is_a_server_error() -> None:
    with pytest.raises(ActionError) as caught:
        EnrichedActionRequest("a").call_local_action("b", {})
    (error,) = caught.value.errors
    assert (error.code, error.is_caller_error) == ("SERVER_ERROR", False)
    assert "'b'" in error.message
    response = EnrichedActionRequest("a").call_local_action("b", {}, raise_action_errors=False)
    assert response.action == "b"
    assert response.errors == [error]


def test_requests_are_slotted() -> None:
    assert not hasattr(EnrichedActionRequest("a"), "__dict__")
    assert not hasattr(EnrichedJobRequest(), "__dict__")
