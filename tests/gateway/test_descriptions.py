"""How often the gateway asks a service to describe itself, when it exposes all of the
service's actions: once per minute, and early at most every few seconds for an action the
last answer did not list (counted with a real in-process service)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httpx
import pytest

from servicewire import EnrichedActionRequest, Server
from servicewire.gateway import app as gateway_app
from servicewire.gateway import create_app
from servicewire.server.builtin import IntrospectionAction
from servicewire.types import Body
from tests.client.test_client import Echo

INTROSPECTIONS: list[int] = []


class CountedIntrospection(IntrospectionAction):
    def run(self, request: EnrichedActionRequest) -> Body:
        INTROSPECTIONS.append(1)
        return super().run(request)


class Counted(Server):
    service_name = "counted"
    action_class_map: ClassVar[dict[str, Any]] = {"echo": Echo, "introspect": CountedIntrospection}


def test_unknown_actions_do_not_make_the_gateway_ask_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(gateway_app.time, "monotonic", lambda: clock[0])
    local = {"server_class": Counted, "server_settings": {}}
    transport = {"path": "servicewire.transport.local:LocalClientTransport", "kwargs": local}
    app = create_app({"expose": {"counted": None}}, {"counted": {"transport": transport}})

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            assert (await http.post("/counted/echo", json={})).status_code == 200
            assert len(INTROSPECTIONS) == 1
            for _ in range(5):
                assert (await http.post("/counted/nothing", json={})).status_code == 404
            assert len(INTROSPECTIONS) == 1
            clock[0] += gateway_app.DESCRIPTION_REFRESH_INTERVAL + 1
            assert (await http.post("/counted/nothing", json={})).status_code == 404
            assert len(INTROSPECTIONS) == 2
            clock[0] += gateway_app.DESCRIPTION_TTL + 1
            assert (await http.post("/counted/echo", json={})).status_code == 200
            assert len(INTROSPECTIONS) == 3
        await app.state.gateway.aclose()

    asyncio.run(main())
