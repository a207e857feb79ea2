"""Expansions: related objects fetched in bulk, level by level, into responses."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from servicewire import (
    Action,
    ActionError,
    CallActionError,
    Client,
    EnrichedActionRequest,
    Error,
    InvalidExpansionKey,
    InvalidSettings,
    Server,
)

CALLS: list[tuple[str, list[Any]]] = []

AUTHORS = {
    1: {"_type": "author", "id": 1, "name": "Ursula", "publisher_id": 10},
    2: {"_type": "author", "id": 2, "name": "Terry", "publisher_id": 20},
}
PUBLISHERS = {10: {"_type": "publisher", "id": 10, "name": "Ace"}}


class ListBooks(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {
            "books": [
                {"_type": "book", "id": 100, "author_id": 1},
                {"_type": "book", "id": 101, "author_id": 2},
                {"_type": "book", "id": 102, "author_id": 1},
                {"_type": "book", "id": 103, "author_id": 99},
                {"_type": "book", "id": 104},
            ],
            "featured": {"_type": "book", "id": 105, "author_id": 2},
        }


class GetAuthors(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        CALLS.append(("get_authors", list(request.body["ids"])))
        # Copies: the local transport hands the client these very objects to expand.
        return {"authors": {i: dict(AUTHORS[i]) for i in request.body["ids"] if i in AUTHORS}}


class GetPublishers(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        CALLS.append(("get_publishers", list(request.body["ids"])))
        found = {i: dict(PUBLISHERS[i]) for i in request.body["ids"] if i in PUBLISHERS}
        return {"publishers": found}


class Failing(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        CALLS.append(("failing", list(request.body["ids"])))
        raise ActionError([Error("LOOKUP_FAILED", "no lookups today")])


class Books(Server):
    service_name = "books"
    action_class_map: ClassVar[dict[str, Any]] = {"list_books": ListBooks}


class People(Server):
    service_name = "people"
    action_class_map: ClassVar[dict[str, Any]] = {
        "get_authors": GetAuthors,
        "get_publishers": GetPublishers,
        "failing": Failing,
    }


def route(action: str, response_field: str) -> dict[str, str]:
    return {
        "service": "people",
        "action": action,
        "request_field": "ids",
        "response_field": response_field,
    }


EXPANSIONS = {
    "type_routes": {
        "author_route": route("get_authors", "authors"),
        "publisher_route": route("get_publishers", "publishers"),
        "failing_route": route("failing", "nothing"),
    },
    "type_expansions": {
        "book": {
            "author": {
                "type": "author",
                "route": "author_route",
                "source_field": "author_id",
                "destination_field": "author",
            },
            "shaky": {
                "type": None,
                "route": "failing_route",
                "source_field": "author_id",
                "destination_field": "shaky",
            },
            "strict": {
                "type": None,
                "route": "failing_route",
                "source_field": "author_id",
                "destination_field": "strict",
                "raise_action_errors": True,
            },
        },
        "author": {
            "publisher": {
                "type": "publisher",
                "route": "publisher_route",
                "source_field": "publisher_id",
                "destination_field": "publisher",
            }
        },
    },
}


def local(server_class: type[Server]) -> dict[str, Any]:
    return {
        "transport": {
            "path": "servicewire.transport.local:LocalClientTransport",
            "kwargs": {"server_class": server_class},
        }
    }


@pytest.fixture
def client() -> Client:
    CALLS.clear()
    return Client({"books": local(Books), "people": local(People)}, expansion_config=EXPANSIONS)


def test_objects_are_expanded_with_one_call_per_route(client: Client) -> None:
    body = client.call_action("books", "list_books", expansions={"book": ["author"]}).body
    assert [book.get("author", {}).get("name") for book in body["books"]] == [
        "Ursula",
        "Terry",
        "Ursula",
        None,
        None,
    ]
    assert body["featured"]["author"]["name"] == "Terry"
    assert CALLS == [("get_authors", [1, 2, 99])]


def test_a_missing_object_is_simply_absent(client: Client) -> None:
    body = client.call_action("books", "list_books", expansions={"book": ["author"]}).body
    assert "author" not in body["books"][3]
    assert "author" not in body["books"][4]


TWO_LEVELS = {"book": ["author", "author.publisher"]}


def check_expanded_two_levels_deep(body: dict[str, Any]) -> None:
    """``list_books`` expanded with :data:`TWO_LEVELS`: authors with their publishers, where
    they exist."""
    assert body["books"][0]["author"]["publisher"]["name"] == "Ace"
    assert body["books"][1]["author"]["name"] == "Terry"
    assert "publisher" not in body["books"][1]["author"]
    assert "author" not in body["books"][3]
    assert body["featured"]["author"]["name"] == "Terry"


def test_expansions_go_two_levels_deep_with_one_call_per_level(client: Client) -> None:
    body = client.call_action("books", "list_books", expansions=TWO_LEVELS).body
    check_expanded_two_levels_deep(body)
    assert CALLS == [("get_authors", [1, 2, 99]), ("get_publishers", [10, 20])]


def test_a_dotted_expansion_implies_its_parent(client: Client) -> None:
    body = client.call_action("books", "list_books", expansions={"book": ["author.publisher"]}).body
    assert body["books"][0]["author"]["publisher"]["id"] == 10


def test_expansion_action_errors_are_ignored_by_default(client: Client) -> None:
    body = client.call_action("books", "list_books", expansions={"book": ["shaky"]}).body
    assert not any("shaky" in book for book in body["books"])
    assert CALLS == [("failing", [1, 2, 99])]


def test_expansion_action_errors_are_raised_when_configured(client: Client) -> None:
    with pytest.raises(CallActionError) as caught:
        client.call_action("books", "list_books", expansions={"book": ["strict"]})
    assert caught.value.actions[0].errors[0].code == "LOOKUP_FAILED"


def test_expansions_apply_to_every_call_style(client: Client) -> None:
    expansions = {"book": ["author"]}
    job = client.call_actions("books", [{"action": "list_books"}], expansions=expansions)
    assert job.actions[0].body["featured"]["author"]["id"] == 2
    future = client.call_action_future("books", "list_books", expansions=expansions)
    assert future.result().body["featured"]["author"]["id"] == 2
    (parallel,) = client.call_actions_parallel(
        "books", [{"action": "list_books"}], expansions=expansions
    )
    assert parallel.body["featured"]["author"]["id"] == 2
    (jobs,) = client.call_jobs_parallel(
        [{"service_name": "books", "actions": [{"action": "list_books"}]}], expansions=expansions
    )
    assert jobs.actions[0].body["featured"]["author"]["id"] == 2


@pytest.mark.parametrize(
    "expansions",
    [{"movie": ["author"]}, {"book": ["editor"]}, {"book": ["author.agent"]}],
)
def test_an_unknown_expansion_is_an_invalid_expansion_key(
    client: Client, expansions: dict[str, list[str]]
) -> None:
    with pytest.raises(InvalidExpansionKey):
        client.call_action("books", "list_books", expansions=expansions)
    # Checked before anything is sent: no request is left waiting for its reply.
    assert list(client.get_all_responses("books")) == []


def test_a_client_without_expansion_settings_rejects_expansions() -> None:
    client = Client({"books": local(Books)})
    with pytest.raises(InvalidExpansionKey, match="no expansion_config"):
        client.call_action("books", "list_books", expansions={"book": ["author"]})


def test_expansion_settings_are_validated() -> None:
    bad = {
        "type_routes": {},
        "type_expansions": {
            "book": {
                "author": {
                    "type": "author",
                    "route": "nowhere",
                    "source_field": "a",
                    "destination_field": "b",
                }
            }
        },
    }
    with pytest.raises(InvalidSettings, match="unknown route 'nowhere'"):
        Client({}, expansion_config=bad)
    with pytest.raises(InvalidSettings, match="unknown key"):
        Client({}, expansion_config={"type_routes": {"r": {**route("a", "b"), "extra": 1}}})
