"""Django caches that last one job or the whole server process."""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache import caches

from servicewire import Action, EnrichedActionRequest
from servicewire.server.django import (
    DjangoServer,
    ProcessScopedMemoryCache,
    PySOAProcessScopedMemoryCache,
    PySOARequestScopedMemoryCache,
    RequestScopedMemoryCache,
)
from tests.support.local import serving


class Remember(Action):
    """Returns what each cache held on arrival, then stores the request's value in both."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        seen = {name: caches[name].get("value") for name in ("default", "request")}
        for name in ("default", "request"):
            caches[name].set("value", request.body["value"])
        return seen


class CachingService(DjangoServer):
    service_name = "caching"
    action_class_map = {"remember": Remember}


def test_the_request_scoped_cache_is_emptied_after_each_job_and_the_process_one_is_not() -> None:
    with serving(CachingService) as client:
        first = client.call_action("caching", "remember", {"value": 1}).body
        second = client.call_action("caching", "remember", {"value": 2}).body
    assert first == {"default": None, "request": None}
    assert second == {"default": 1, "request": None}


def test_shutdown_empties_the_process_scoped_cache() -> None:
    with serving(CachingService) as client:
        client.call_action("caching", "remember", {"value": 3})
        assert caches["default"].get("value") == 3
    assert caches["default"].get("value") is None


def test_threads_never_see_each_others_request_scoped_entries() -> None:
    caches["request"].set("owner", "main")
    seen: list[Any] = []
    other = threading.Thread(target=lambda: seen.append(caches["request"].get("owner")))
    other.start()
    other.join(10)
    assert seen == [None]
    assert caches["request"].get("owner") == "main"
    caches["request"].close()
    assert caches["request"].get("owner") is None


def test_the_backends_are_django_local_memory_caches_under_both_names() -> None:
    assert isinstance(caches["default"], ProcessScopedMemoryCache)
    assert isinstance(caches["request"], RequestScopedMemoryCache)
    assert PySOAProcessScopedMemoryCache is ProcessScopedMemoryCache
    assert PySOARequestScopedMemoryCache is RequestScopedMemoryCache
