"""Call policies: who may call an action, and what a refused caller is told."""

from __future__ import annotations

from typing import Any

import pytest

from servicewire import (
    ERROR_CODE_NOT_AUTHORIZED,
    Action,
    AllOf,
    AllowAny,
    AllowCallingServices,
    AllowSwitches,
    AnyOf,
    Denial,
    DenyAll,
    EnrichedActionRequest,
    Error,
    ImproperlyConfigured,
    InvalidSettings,
    Policy,
    Server,
)
from servicewire.types import Body
from tests.server.concurrency_services import Echo
from tests.transport.redis.support import layer, make_client, serving


class IsAdmin(Policy):
    """A custom rule: the context says ``admin``."""

    permission = "admin"

    def is_authorized(self, request: EnrichedActionRequest) -> bool:
        return request.context.get("admin") is True


class Billing(Echo):
    policy = AllowCallingServices({"billing", "orders"})


class Flagged(Echo):
    policy = AllowSwitches([7, 9])


class Strict(Echo):
    policy = AllOf(AllowCallingServices({"billing"}), AllowSwitches([7]))


class Lenient(Echo):
    policy = AnyOf(IsAdmin(), AllowCallingServices({"billing"}))


class Open(Echo):
    policy = AllowAny()


class Forwarding(Action):
    """Calls ``billing`` locally (the service calling itself)."""

    def run(self, request: EnrichedActionRequest) -> Body:
        return request.call_local_action("billing", {"via": "local"}).body


class Plain(Echo):
    pass


class PolicyServer(Server):
    service_name = "guarded"
    action_class_map: Any = {
        "billing": Billing,
        "flagged": Flagged,
        "strict": Strict,
        "lenient": Lenient,
        "open": Open,
        "forwarding": Forwarding,
        "plain": Plain,
    }


class DenyingServer(PolicyServer):
    default_policy = DenyAll("the service allows only the actions given a policy")


def job(
    action: str, context: dict[str, Any] | None = None, switches: list[int] | None = None
) -> dict[str, Any]:
    body = {} if action in ("status", "introspect") else {"n": 1}
    return {
        "control": {"continue_on_error": False},
        "context": {"correlation_id": "c", "switches": switches or [], **(context or {})},
        "actions": [{"action": action, "body": body}],
    }


def errors_of(server: Server, *args: Any, **kwargs: Any) -> list[Error]:
    response = server.process_job(job(*args, **kwargs))
    assert response.errors == []
    return response.actions[0].errors


def refusal(action: str, permissions: list[str], detail: str) -> list[Error]:
    return [
        Error(
            code=ERROR_CODE_NOT_AUTHORIZED,
            message=f'Not authorized to call action "{action}": {detail}',
            denied_permissions=permissions,
            is_caller_error=True,
        )
    ]


@pytest.fixture
def server() -> PolicyServer:
    return PolicyServer({"transport": None})


def test_a_listed_calling_service_may_call(server: PolicyServer) -> None:
    assert errors_of(server, "billing", {"calling_service": "orders"}) == []


def test_another_calling_service_is_refused_with_what_it_lacked(server: PolicyServer) -> None:
    assert errors_of(server, "billing", {"calling_service": "search"}) == refusal(
        "billing",
        ["calling_service:billing", "calling_service:orders"],
        "the call comes from 'search', not one of billing, orders",
    )


def test_a_call_naming_no_calling_service_is_refused(server: PolicyServer) -> None:
    assert errors_of(server, "billing") == refusal(
        "billing",
        ["calling_service:billing", "calling_service:orders"],
        "the call names no calling_service, not one of billing, orders",
    )


def test_switches_allow_a_call_when_any_is_active(server: PolicyServer) -> None:
    assert errors_of(server, "flagged", switches=[9]) == []
    assert errors_of(server, "flagged", switches=[8]) == refusal(
        "flagged", ["switch:7", "switch:9"], "none of the switches 7, 9 is active"
    )


def test_all_of_lists_what_each_refusing_policy_lacked(server: PolicyServer) -> None:
    assert errors_of(server, "strict", {"calling_service": "billing"}, switches=[7]) == []
    assert errors_of(server, "strict", {"calling_service": "search"}) == refusal(
        "strict",
        ["calling_service:billing", "switch:7"],
        "the call comes from 'search', not one of billing; none of the switches 7 is active",
    )


def test_any_of_allows_what_one_policy_allows(server: PolicyServer) -> None:
    assert errors_of(server, "lenient", {"admin": True}) == []
    assert errors_of(server, "lenient", {"calling_service": "billing"}) == []
    assert errors_of(server, "lenient") == refusal(
        "lenient",
        ["admin", "calling_service:billing"],
        "the call names no calling_service, not one of billing",
    )


def test_a_custom_policy_names_its_permission() -> None:
    assert IsAdmin().check(EnrichedActionRequest("x")) == [Denial("admin")]
    assert IsAdmin().check(EnrichedActionRequest("x", context={"admin": True})) == []


def test_a_policy_without_a_rule_says_so() -> None:
    with pytest.raises(NotImplementedError, match="must override is_authorized"):
        Policy().check(EnrichedActionRequest("x"))


def test_without_a_default_policy_actions_with_none_may_be_called(server: PolicyServer) -> None:
    assert errors_of(server, "plain") == []


def test_a_default_deny_refuses_actions_without_a_policy() -> None:
    server = DenyingServer({"transport": None})
    assert errors_of(server, "plain") == refusal(
        "plain", ["action:plain"], "the service allows only the actions given a policy"
    )
    assert errors_of(server, "open") == []
    assert errors_of(server, "billing", {"calling_service": "billing"}) == []


def test_status_and_introspect_stay_open_under_a_default_deny() -> None:
    server = DenyingServer({"transport": None})
    assert errors_of(server, "status") == []
    assert errors_of(server, "introspect") == []


def test_status_and_introspect_may_be_given_a_policy_of_their_own() -> None:
    server = DenyingServer(
        {"transport": None, "policies": {"introspect": {"path": "servicewire:DenyAll"}}}
    )
    assert errors_of(server, "status") == []
    assert errors_of(server, "introspect") == refusal(
        "introspect", ["action:introspect"], "no caller may call it"
    )


def test_policies_in_the_settings_replace_those_of_the_classes() -> None:
    server = PolicyServer(
        {
            "transport": None,
            "default_policy": {"path": "servicewire:DenyAll"},
            "policies": {
                "billing": {"path": "servicewire:AllowAny"},
                "plain": {
                    "path": "servicewire:AllowCallingServices",
                    "kwargs": {"services": ["search"]},
                },
            },
        }
    )
    assert errors_of(server, "billing") == []
    assert errors_of(server, "plain", {"calling_service": "search"}) == []
    assert errors_of(server, "forwarding")[0].denied_permissions == ["action:forwarding"]


def test_bad_policy_settings_fail_at_start_up() -> None:
    with pytest.raises(
        InvalidSettings, match=r"policies.plain: .*kwargs.services: required key is missing"
    ):
        PolicyServer(
            {
                "transport": None,
                "policies": {
                    "plain": {"path": "servicewire:AllowCallingServices", "kwargs": {}},
                },
            }
        )
    with pytest.raises(
        InvalidSettings, match=r"must be a subclass of servicewire\.server\.policies\.Policy"
    ):
        PolicyServer({"transport": None, "default_policy": {"path": "servicewire:Server"}})


def test_a_policy_for_an_action_the_service_lacks_fails_at_start_up() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"policies\.refund: service 'guarded' has no"):
        PolicyServer({"transport": None, "policies": {"refund": {"path": "servicewire:AllowAny"}}})


def test_a_policy_attribute_that_is_no_policy_fails_at_start_up() -> None:
    class Odd(Echo):
        policy = "only billing"

    class OddServer(Server):
        service_name = "odd"
        action_class_map: Any = {"odd": Odd}

    with pytest.raises(ImproperlyConfigured, match='policy of action "odd" must be a Policy'):
        OddServer({"transport": None})


def test_a_local_call_is_not_asked_for_a_policy(server: PolicyServer) -> None:
    response = server.process_job(job("forwarding"))
    assert response.actions[0].errors == []
    assert response.actions[0].body == {"via": "local"}


def test_a_refusal_stops_the_job_like_any_action_error(server: PolicyServer) -> None:
    response = server.process_job(
        {
            **job("plain"),
            "actions": [
                {"action": "billing", "body": {}},
                {"action": "plain", "body": {}},
            ],
        }
    )
    assert len(response.actions) == 1
    assert response.actions[0].errors[0].code == ERROR_CODE_NOT_AUTHORIZED


def test_policies_allow_and_refuse_over_redis_with_the_exact_error(redis_url: str) -> None:
    with serving(DenyingServer, layer(redis_url), workers=2):
        client = make_client("guarded", layer(redis_url))
        allowed = client.call_action(
            "guarded", "billing", {"n": 1}, context={"calling_service": "orders"}
        )
        refused = client.call_actions(
            "guarded",
            [{"action": "billing", "body": {"n": 1}}],
            context={"calling_service": "search"},
            raise_action_errors=False,
        )
        defaulted = client.call_actions(
            "guarded", [{"action": "plain", "body": {}}], raise_action_errors=False
        )
        client.close()

    assert allowed.body == {"n": 1}
    assert refused.actions[0].errors == refusal(
        "billing",
        ["calling_service:billing", "calling_service:orders"],
        "the call comes from 'search', not one of billing, orders",
    )
    assert defaulted.actions[0].errors == refusal(
        "plain", ["action:plain"], "the service allows only the actions given a policy"
    )
