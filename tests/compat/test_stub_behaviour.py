"""Stubbed calls answer as PySOA's stubs do: a whole-stub job's context, nested expansions."""

from __future__ import annotations

import traceback
from typing import Any

from servicewire import CallActionError, Client
from servicewire.testing import stub_action


def route(service: str, action: str, request_field: str, response_field: str) -> dict[str, str]:
    return {
        "service": service,
        "action": action,
        "request_field": request_field,
        "response_field": response_field,
    }


def expansion(type_name: str | None, route_name: str, source: str, destination: str) -> Any:
    return {
        "type": type_name,
        "route": route_name,
        "source_field": source,
        "destination_field": destination,
    }


EXPANSIONS = {
    "type_routes": {
        "member": route("members", "get_members", "member_ids", "members"),
        "picture": route("pictures", "get_pictures", "picture_ids", "pictures"),
    },
    "type_expansions": {
        "club": {
            "captain": expansion("member", "member", "captain_id", "captain"),
            "badge": expansion(None, "picture", "badge_id", "badge"),
        },
        "member": {"portrait": expansion(None, "picture", "portrait_id", "portrait")},
    },
}


def test_a_job_answered_by_stubs_alone_has_an_empty_context() -> None:
    with stub_action("clubs", "list_clubs", body={"clubs": []}):
        future = Client({}).call_actions_future("clubs", [{"action": "list_clubs"}])
        response = future.result()
    assert response.actions[0].body == {"clubs": []}
    assert response.context == {}


def test_stubbed_expansions_reach_every_level_with_one_call_per_route_and_level() -> None:
    with (
        stub_action("pictures", "get_pictures") as pictures,
        stub_action("members", "get_members") as members,
        stub_action("clubs", "list_clubs") as clubs,
    ):
        clubs.return_value = {
            "clubs": [
                {"_type": "club", "id": "c1", "captain_id": "m1"},
                {"_type": "club", "id": "c2", "captain_id": "m2", "badge_id": "p9"},
            ]
        }
        members.return_value = {
            "members": {
                "m1": {"_type": "member", "id": "m1", "portrait_id": "p1"},
                "m2": {"_type": "member", "id": "m2", "portrait_id": "p2"},
            }
        }
        pictures.side_effect = [
            {"pictures": {"p9": {"uri": "p9.png"}}},
            {"pictures": {"p1": {"uri": "p1.png"}, "p2": {"uri": "p2.png"}}},
        ]
        body = (
            Client({}, expansion_config=EXPANSIONS)
            .call_action(
                "clubs", "list_clubs", expansions={"club": ["captain", "captain.portrait", "badge"]}
            )
            .body
        )
    assert clubs.call_count == 1
    assert members.call_count == 1
    assert sorted(members.call_body["member_ids"]) == ["m1", "m2"]
    assert pictures.call_count == 2
    assert [sorted(call[0][0]["picture_ids"]) for call in pictures.call_args_list] == [
        ["p9"],
        ["p1", "p2"],
    ]
    first, second = body["clubs"]
    assert first["captain"]["portrait"] == {"uri": "p1.png"}
    assert "badge" not in first
    assert second["captain"]["portrait"] == {"uri": "p2.png"}
    assert second["badge"] == {"uri": "p9.png"}


def test_a_type_named_at_the_top_expands_its_objects_fetched_by_other_expansions() -> None:
    # ``{"member": ["portrait"]}`` beside ``{"club": ["captain"]}`` expands the captains too,
    # though they arrive only with the second level, as ``"captain.portrait"`` would.
    with (
        stub_action("pictures", "get_pictures") as pictures,
        stub_action("members", "get_members") as members,
        stub_action("clubs", "list_clubs") as clubs,
    ):
        clubs.return_value = {"clubs": [{"_type": "club", "id": "c1", "captain_id": "m1"}]}
        members.return_value = {
            "members": {"m1": {"_type": "member", "id": "m1", "portrait_id": "p1"}}
        }
        pictures.return_value = {"pictures": {"p1": {"uri": "p1.png"}}}
        body = (
            Client({}, expansion_config=EXPANSIONS)
            .call_action(
                "clubs", "list_clubs", expansions={"club": ["captain"], "member": ["portrait"]}
            )
            .body
        )
    assert members.call_count == 1
    assert pictures.call_count == 1
    assert body["clubs"][0]["captain"]["portrait"] == {"uri": "p1.png"}


def test_an_id_is_asked_for_once_per_route_so_cycles_end() -> None:
    people = {
        "m1": {"_type": "member", "id": "m1", "mentor_id": "m2"},
        "m2": {"_type": "member", "id": "m2", "mentor_id": "m1"},
    }
    settings = {
        "type_routes": EXPANSIONS["type_routes"],
        "type_expansions": {
            "club": EXPANSIONS["type_expansions"]["club"],
            "member": {"mentor": expansion("member", "member", "mentor_id", "mentor")},
        },
    }

    def members(body: dict[str, Any]) -> dict[str, Any]:
        return {"members": {i: dict(people[i]) for i in body["member_ids"]}}

    with (
        stub_action("members", "get_members", side_effect=members) as stub,
        stub_action("clubs", "list_clubs", body={"clubs": [{"_type": "club", "captain_id": "m1"}]}),
    ):
        body = (
            Client({}, expansion_config=settings)
            .call_action(
                "clubs", "list_clubs", expansions={"club": ["captain"], "member": ["mentor"]}
            )
            .body
        )
    assert [call[0][0] for call in stub.call_args_list] == [
        {"member_ids": ["m1"]},
        {"member_ids": ["m2"]},
    ]
    captain = body["clubs"][0]["captain"]
    assert captain["mentor"]["id"] == "m2"
    assert "mentor" not in captain["mentor"]  # m1 was asked for already: no object in itself


def test_ids_that_cannot_be_hashed_are_still_expanded() -> None:
    with (
        stub_action("members", "get_members", body={"members": {}}) as stub,
        stub_action("clubs", "list_clubs", body={"clubs": [{"_type": "club", "captain_id": [1]}]}),
    ):
        Client({}, expansion_config=EXPANSIONS).call_action(
            "clubs", "list_clubs", expansions={"club": ["captain"]}
        )
    assert stub.call_body == {"member_ids": [[1]]}


def test_a_failed_futures_error_is_raised_again_with_its_first_traceback() -> None:
    with stub_action("clubs", "list_clubs", errors=[{"code": "BROKEN", "message": "broken"}]):
        future = Client({}).call_action_future("clubs", "list_clubs")
        tracebacks = []
        for _ in range(3):
            try:
                future.result()
            except CallActionError as error:
                tracebacks.append(traceback.format_tb(error.__traceback__))
    first, second, third = tracebacks
    # A later raise shows the line raising it again, then the frames of the first failure:
    # the traceback does not grow with every call to result().
    assert second == third
    assert second[2:] == first[1:]


def test_each_object_of_an_expanded_list_takes_the_nested_expansions() -> None:
    settings = {
        "type_routes": {
            **EXPANSIONS["type_routes"],
            "roster": route("members", "get_rosters", "club_ids", "rosters"),
        },
        "type_expansions": {
            "club": {"roster": expansion("member", "roster", "id", "roster")},
            "member": EXPANSIONS["type_expansions"]["member"],
        },
    }
    rosters = {
        "rosters": {
            "c1": [
                {"_type": "member", "id": "m1", "portrait_id": "p1"},
                {"_type": "member", "id": "m2"},
                {"_type": "member", "id": "m3", "portrait_id": "p3"},
            ]
        }
    }
    pictures = {"pictures": {"p1": {"uri": "p1.png"}, "p3": {"uri": "p3.png"}}}
    with (
        stub_action("pictures", "get_pictures", body=pictures) as pictures_stub,
        stub_action("members", "get_rosters", body=rosters),
        stub_action("clubs", "list_clubs", body={"clubs": [{"_type": "club", "id": "c1"}]}),
    ):
        body = (
            Client({}, expansion_config=settings)
            .call_action("clubs", "list_clubs", expansions={"club": ["roster", "roster.portrait"]})
            .body
        )
    assert sorted(pictures_stub.call_body["picture_ids"]) == ["p1", "p3"]
    roster = body["clubs"][0]["roster"]
    assert [member.get("portrait") for member in roster] == [
        {"uri": "p1.png"},
        None,
        {"uri": "p3.png"},
    ]
