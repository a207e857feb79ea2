"""Services the testing toolkit's tests stub and call: users (with schemas) and teams."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel
from typing_extensions import TypedDict

from servicewire import (
    Action,
    ActionError,
    AsyncClient,
    Client,
    EnrichedActionRequest,
    Error,
    Server,
    SwitchedAction,
)

RAN: list[tuple[str, dict[str, Any]]] = []
"""Every real action that ran, with its request body (the tests clear it)."""


class UserDict(TypedDict):
    _type: str
    id: int
    name: str
    team_id: int


class GetUserRequest(BaseModel):
    id: int


class GetUserResponse(BaseModel):
    user: UserDict


def user(user_id: int, name: str = "Ada", team_id: int = 7) -> dict[str, Any]:
    return {"_type": "user", "id": user_id, "name": name, "team_id": team_id}


class Recorded(Action):
    """Records that it ran."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        RAN.append((request.action, request.body))
        return self.answer(request)

    def answer(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"real": True, "body": request.body}


class GetUser(Recorded):
    request_schema = GetUserRequest
    response_schema = GetUserResponse

    def answer(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"user": user(request.body["id"], "Real")}


class GetUserV2Response(BaseModel):
    user: UserDict
    version: int


class GetUserV2(GetUser):
    response_schema = GetUserV2Response

    def answer(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"user": user(request.body["id"], "Real"), "version": 2}


USER_V2_SWITCH = 5


class GetUserSwitched(SwitchedAction):
    switch_to_action_map = ((USER_V2_SWITCH, GetUserV2), (SwitchedAction.DEFAULT_ACTION, GetUser))


class Refuse(Recorded):
    def answer(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise ActionError([Error("REFUSED", "the real action refuses")])


class UserServer(Server):
    service_name = "users"
    action_class_map: ClassVar[dict[str, Any]] = {
        "get_user": GetUser,
        "get_user_switched": GetUserSwitched,
        "list_users": Recorded,
        "count_users": Recorded,
        "refuse": Refuse,
    }


class GetTeams(Recorded):
    def answer(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"teams": {i: {"id": i, "name": f"Team {i}"} for i in request.body["ids"]}}


class TeamServer(Server):
    service_name = "teams"
    action_class_map: ClassVar[dict[str, Any]] = {"get_teams": GetTeams, "echo": Recorded}


EXPANSIONS = {
    "type_routes": {
        "team_route": {
            "service": "teams",
            "action": "get_teams",
            "request_field": "ids",
            "response_field": "teams",
        }
    },
    "type_expansions": {
        "user": {
            "team": {
                "type": "team",
                "route": "team_route",
                "source_field": "team_id",
                "destination_field": "team",
            }
        }
    },
}


def local(server_class: type[Server]) -> dict[str, Any]:
    return {
        "transport": {
            "path": "servicewire.transport.local:LocalClientTransport",
            "kwargs": {"server_class": server_class, "server_settings": {"transport": None}},
        }
    }


def config() -> dict[str, Any]:
    return {"users": local(UserServer), "teams": local(TeamServer)}


def make_client() -> Client:
    return Client(config(), expansion_config=EXPANSIONS)


def make_async_client() -> AsyncClient:
    return AsyncClient(config(), expansion_config=EXPANSIONS)
