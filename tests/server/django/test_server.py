"""The per-job housekeeping of a Django-backed server, against real SQLite databases."""

from __future__ import annotations

from typing import Any

from django.db import connections

from servicewire import Action, EnrichedActionRequest, Server
from servicewire.server.django import DjangoServer, with_django_hooks
from tests.support.local import serving


class UseDatabase(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        connection = connections[request.body.get("alias", "default")]
        open_on_arrival = connection.connection is not None
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        arrival = {"open_on_arrival": open_on_arrival, "autocommit": connection.get_autocommit()}
        if request.body.get("leave_a_transaction_open"):
            connection.set_autocommit(False)
        return arrival


class DatabaseService(DjangoServer):
    service_name = "database"
    action_class_map = {"use": UseDatabase}


def test_a_connection_is_closed_after_each_job_when_it_may_not_be_reused() -> None:
    with serving(DatabaseService) as client:
        client.call_action("database", "use", {})
        assert connections["default"].connection is None


def test_a_persistent_connection_is_kept_from_job_to_job() -> None:
    with serving(DatabaseService) as client:
        client.call_action("database", "use", {"alias": "persistent"})
        second = client.call_action("database", "use", {"alias": "persistent"}).body
        assert connections["persistent"].connection is not None
    assert second == {"open_on_arrival": True, "autocommit": True}


def test_a_connection_left_in_a_transaction_is_replaced_before_the_next_job() -> None:
    with serving(DatabaseService) as client:
        body = {"alias": "persistent", "leave_a_transaction_open": True}
        client.call_action("database", "use", body)
        second = client.call_action("database", "use", {"alias": "persistent"}).body
    assert second == {"open_on_arrival": False, "autocommit": True}


def test_a_plain_server_leaves_the_connection_as_the_action_left_it() -> None:
    class PlainService(Server):
        service_name = "database"
        action_class_map = {"use": UseDatabase}

    try:
        with serving(PlainService) as client:
            client.call_action("database", "use", {})
            assert connections["default"].connection is not None
    finally:
        connections["default"].close()


def test_teardown_closes_every_database_connection() -> None:
    with serving(DatabaseService) as client:
        client.call_action("database", "use", {"alias": "persistent"})
        assert connections["persistent"].connection is not None
    assert connections["persistent"].connection is None


def test_with_django_hooks_mixes_the_housekeeping_into_a_plain_server_class() -> None:
    class Plain(Server):
        """A service."""

        service_name = "plain"

    hooked = with_django_hooks(Plain)
    assert issubclass(hooked, DjangoServer)
    assert issubclass(hooked, Plain)
    assert (hooked.__name__, hooked.__module__, hooked.__doc__) == (
        "Plain",
        __name__,
        "A service.",
    )
    assert with_django_hooks(DatabaseService) is DatabaseService
