"""What the sync and asyncio clients share: naming the call site, building contexts and
jobs from the call options."""

from __future__ import annotations

import os
import random
import sys

import pytest

from servicewire.client import base
from servicewire.client.base import BaseClient, CallOptions, call_site, new_correlation_id


def test_the_call_site_is_the_first_frame_outside_servicewire() -> None:
    line = sys._getframe().f_lineno + 1
    assert call_site() == f"{__file__}:{line} in {sys._getframe().f_code.co_name}"


def test_the_call_site_names_methods_by_their_qualified_name() -> None:
    class Caller:
        def where(self) -> str:
            return call_site()

    site = Caller().where()
    assert site.endswith(f" in {Caller.where.__qualname__}")


def test_the_call_site_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_CALL_SITES", {})
    monkeypatch.setattr(base, "_MOST_CALL_SITES", 2)
    first = call_site()
    second = call_site()
    third = call_site()
    assert len({first, second, third}) == 3
    assert len(base._CALL_SITES) <= 2


def test_correlation_ids_do_not_follow_the_random_module_seed() -> None:
    random.seed(7)
    first = new_correlation_id()
    random.seed(7)
    assert new_correlation_id() != first
    assert len(first) == 32
    assert int(first, 16) >= 0


def test_a_forked_child_makes_other_correlation_ids_than_its_parent() -> None:
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(writing, new_correlation_id().encode())
        os._exit(0)
    os.close(writing)
    os.waitpid(child, 0)
    theirs = os.read(reading, 64).decode()
    os.close(reading)
    assert len(theirs) == 32
    assert theirs != new_correlation_id()


def test_a_context_gets_a_correlation_id_switches_and_the_caller() -> None:
    client = BaseClient({}, context={"switches": [2], "tenant": "a"})
    options = CallOptions(switches=[1], context={"locale": "fr"})
    context = client._make_context(options, None, caller="here")
    assert context["switches"] == [1, 2]
    assert len(context["correlation_id"]) == 32
    assert (context["tenant"], context["locale"], context["caller"]) == ("a", "fr", "here")
    given = CallOptions(context={"caller": "given"})
    assert client._make_context(given, None, "here")["caller"] == "given"


def test_a_job_is_made_from_the_call_options() -> None:
    client = BaseClient({})
    options = CallOptions(continue_on_error=True, timeout=5, control_extra={"x": 1})
    job = client._make_job([{"action": "a"}], options, "id", None)
    assert job.control == {
        "continue_on_error": True,
        "suppress_response": False,
        "timeout": 5,
        "x": 1,
    }
    assert job.context["correlation_id"] == "id"
    silent = client._make_job([], CallOptions(), None, None, suppress_response=True)
    assert silent.control == {"continue_on_error": False, "suppress_response": True}


def test_no_call_site_is_looked_for_when_a_caller_is_given() -> None:
    assert BaseClient({}, context={"caller": "base"})._caller(None) is None
    assert BaseClient({})._caller({"caller": "call"}) is None
    assert BaseClient({})._caller(None) is not None
