"""Switched actions: one action name, implementations chosen by the request's switches."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from pydantic import BaseModel

from servicewire import (
    Action,
    ActionResponse,
    CallActionError,
    EnrichedActionRequest,
    Server,
    ServerSettings,
    SwitchedAction,
)
from servicewire.server.request import RequestSwitchSet
from tests.support.local import serving


class Feature(enum.IntEnum):
    NEW_GREETING = 7
    SHOUTING = 8


class Greet(Action):
    """Says hello."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"greeting": "hello", "switches": sorted(request.switches)}


class GreetRequestV2(BaseModel):
    name: str


class GreetV2(Action):
    """Says hello by name."""

    request_schema = GreetRequestV2

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"greeting": f"hello, {request.body['name']}"}


class Shout(Action):
    """Shouts hello."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"greeting": "HELLO"}


class SwitchedGreet(SwitchedAction):
    switch_to_action_map = (
        (Feature.SHOUTING, Shout),
        (Feature.NEW_GREETING.value, GreetV2),
        (SwitchedAction.DEFAULT_ACTION, Greet),
    )


class GreeterServer(Server):
    service_name = "greeter"
    action_class_map = {"greet": SwitchedGreet}


@pytest.mark.parametrize(
    ("switches", "body", "greeting"),
    [
        ([], {}, "hello"),
        ([99], {}, "hello"),
        ([7], {"name": "Ada"}, "hello, Ada"),
        ([8], {}, "HELLO"),
        ([7, 8], {}, "HELLO"),
    ],
)
def test_switched_action_runs_the_first_action_whose_switch_is_on(
    switches: list[int], body: dict[str, Any], greeting: str
) -> None:
    with serving(GreeterServer) as client:
        response = client.call_action("greeter", "greet", body, switches=switches)
    assert response.body["greeting"] == greeting


def test_the_selected_action_sees_the_request_switches() -> None:
    with serving(GreeterServer) as client:
        response = client.call_action("greeter", "greet", {}, switches=[3, 1])
    assert response.body == {"greeting": "hello", "switches": [1, 3]}


def test_the_selected_action_validates_the_body_with_its_own_schema() -> None:
    with serving(GreeterServer) as client, pytest.raises(CallActionError) as raised:
        client.call_action("greeter", "greet", {"name": 3}, switches=[7])
    [error] = raised.value.actions[0].errors
    assert (error.code, error.field) == ("INVALID", "name")


def test_switches_given_in_the_context_select_too() -> None:
    with serving(GreeterServer) as client:
        response = client.call_action("greeter", "greet", {}, context={"switches": [8]})
    assert response.body["greeting"] == "HELLO"


class LastWithItsOwnSwitch(SwitchedAction):
    switch_to_action_map = ((Feature.SHOUTING, Shout), (Feature.NEW_GREETING, Greet))


@pytest.mark.parametrize("switches", [[], [7]])
def test_the_last_action_is_the_default_even_when_it_has_a_switch(switches: list[int]) -> None:
    action = LastWithItsOwnSwitch()
    request = EnrichedActionRequest("greet", {}, switches)
    assert action.get_uninitialized_action(request) is Greet


def test_get_uninitialized_action_returns_the_action_class_unbuilt() -> None:
    request = EnrichedActionRequest("greet", {}, RequestSwitchSet([Feature.SHOUTING]))
    assert SwitchedGreet().get_uninitialized_action(request) is Shout


def test_the_selected_action_is_built_with_the_server_settings() -> None:
    built_with: list[Any] = []

    def handler_factory(settings: Any) -> Any:
        built_with.append(settings)
        return lambda request: ActionResponse(action=request.action, body={"by": "function"})

    class WithFunction(SwitchedAction):
        switch_to_action_map = ((1, handler_factory), (SwitchedAction.DEFAULT_ACTION, Greet))

    settings = ServerSettings.from_dict({})
    response = WithFunction(settings)(EnrichedActionRequest("greet", {}, [1]))
    assert response.body == {"by": "function"}
    assert built_with == [settings]


def test_default_action_never_counts_as_a_switch_that_is_on() -> None:
    assert SwitchedAction.DEFAULT_ACTION not in RequestSwitchSet([0, 1, 2])
    assert repr(SwitchedAction.DEFAULT_ACTION) == "SwitchedAction.DEFAULT_ACTION"


@pytest.mark.parametrize(
    ("switch_to_action_map", "problem"),
    [
        (((SwitchedAction.DEFAULT_ACTION, Greet),), "at least two"),
        ((), "at least two"),
        ({1: Greet, 2: Shout}, "sequence"),
        (((1, Greet, "extra"), (2, Shout)), r"\[0\] is not a \(switch, action\) pair"),
        (((1, "not an action"), (2, Shout)), r"\[0\]: 'not an action' is not an action"),
        ((("one", Greet), (2, Shout)), r"switch 'one' is neither an int"),
        (((SwitchedAction.DEFAULT_ACTION, Greet), (2, Shout)), "only the last pair"),
    ],
)
def test_a_bad_switch_to_action_map_is_refused_when_the_class_is_defined(
    switch_to_action_map: Any, problem: str
) -> None:
    with pytest.raises(TypeError, match=problem):
        type("Broken", (SwitchedAction,), {"switch_to_action_map": switch_to_action_map})


def test_a_switched_action_without_a_map_cannot_be_built() -> None:
    class Unfinished(SwitchedAction):
        pass

    with pytest.raises(TypeError, match="Unfinished must set switch_to_action_map"):
        Unfinished()


def test_a_subclass_inherits_its_parents_map() -> None:
    class Child(SwitchedGreet):
        pass

    request = EnrichedActionRequest("greet", {}, [8])
    assert Child().get_uninitialized_action(request) is Shout


def test_introspection_lists_a_switched_action_once_per_switch_and_as_default() -> None:
    with serving(GreeterServer) as client:
        body = client.call_action("greeter", "introspect", {}).body
    assert body["action_names"] == [
        "greet[DEFAULT]",
        "greet[switch:7]",
        "greet[switch:8]",
        "introspect",
        "status",
    ]
    assert body["actions"]["greet[switch:8]"]["documentation"] == "Shouts hello."
    assert body["actions"]["greet[switch:7]"]["documentation"] == "Says hello by name."
    assert body["actions"]["greet[switch:7]"]["request_schema"]["required"] == ["name"]
    assert body["actions"]["greet[DEFAULT]"]["documentation"] == "Says hello."


def test_introspection_by_action_name_returns_every_branch_of_a_switched_action() -> None:
    with serving(GreeterServer) as client:
        body = client.call_action("greeter", "introspect", {"action_name": "greet"}).body
    assert body["action_names"] == ["greet[DEFAULT]", "greet[switch:7]", "greet[switch:8]"]
    assert "documentation" not in body


def test_introspection_by_the_name_of_one_branch_returns_that_branch() -> None:
    with serving(GreeterServer) as client:
        body = client.call_action("greeter", "introspect", {"action_name": "greet[switch:7]"}).body
    assert body["action_names"] == ["greet[switch:7]"]


def test_introspection_names_the_last_actions_own_switch_and_the_default() -> None:
    class Server2(Server):
        service_name = "greeter2"
        action_class_map = {"greet": LastWithItsOwnSwitch}

    with serving(Server2) as client:
        body = client.call_action("greeter2", "introspect", {"action_name": "greet"}).body
    assert body["action_names"] == ["greet[DEFAULT]", "greet[switch:7]", "greet[switch:8]"]
    assert body["actions"]["greet[switch:7]"] == body["actions"]["greet[DEFAULT]"]
