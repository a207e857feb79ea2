"""One call's options: a frozen, keyword-only value with the call methods' defaults, shared
between calls where it can be."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from servicewire import AsyncClient, Client
from servicewire.client import options as options_module
from servicewire.client.options import CallOptions, call_options


def test_call_options_are_frozen_keyword_only_and_default_as_the_call_methods_do() -> None:
    options = CallOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.timeout = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        CallOptions(None)  # type: ignore[misc]
    defaults = {field.name: field.default for field in dataclasses.fields(CallOptions)}
    assert dataclasses.asdict(options) == defaults
    signature = inspect.signature(Client.call_jobs_parallel).parameters
    assert defaults == {name: signature[name].default for name in defaults}
    assert CallOptions(timeout=3) == CallOptions(timeout=3) != options


def test_expansion_calls_keep_the_timeout_switches_and_context_and_raise_nothing() -> None:
    options = CallOptions(
        expansions={"a": ["b"]}, timeout=2, switches=[1], context={"c": 1}, correlation_id="x"
    )
    assert options.for_expansions() == CallOptions(
        raise_job_errors=False,
        raise_action_errors=False,
        catch_transport_errors=True,
        timeout=2,
        switches=[1],
        context={"c": 1},
    )


def test_the_sync_and_asyncio_call_methods_take_the_same_options() -> None:
    names = {field.name for field in dataclasses.fields(CallOptions)}
    for name in ("call_jobs_parallel", "call_actions", "call_action"):
        sync = inspect.signature(getattr(Client, name)).parameters
        asyncio = inspect.signature(getattr(AsyncClient, name)).parameters
        assert {key: sync[key].default for key in names if key in sync} == {
            key: asyncio[key].default for key in names if key in asyncio
        }


def test_call_options_equal_a_new_value_and_share_the_plain_ones() -> None:
    assert call_options() is call_options() == CallOptions()
    assert call_options(raise_job_errors=1) == CallOptions(raise_job_errors=1)  # type: ignore[arg-type]
    plain = call_options(timeout=2)
    assert plain == CallOptions(timeout=2)
    assert call_options(timeout=2) is plain
    context = {"a": 1}
    given = call_options(context=context, switches=[1])
    assert given == CallOptions(context=context, switches=[1])
    assert given.context is context
    assert call_options(context=context) is not call_options(context=context)


def test_a_timeout_keeps_its_type_when_shared() -> None:
    assert type(call_options(timeout=1).timeout) is int
    assert type(call_options(timeout=1.0).timeout) is float
    assert call_options(timeout=0).timeout == 0
    assert call_options(timeout=None).timeout is None


def test_the_shared_values_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(options_module, "_SHARED", {})
    monkeypatch.setattr(options_module, "_MOST_SHARED", 3)
    for timeout in range(10):
        assert call_options(timeout=timeout).timeout == timeout
    assert len(options_module._SHARED) <= 3
