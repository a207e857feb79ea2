"""The options of one call, as one value that the sync and asyncio clients pass around.

Every call method of :class:`~servicewire.Client` and :class:`~servicewire.AsyncClient`
takes the same options (the reference's keyword arguments: ``expansions``,
``raise_job_errors``, ... ``control_extra``). Each call gathers them once into a
:class:`CallOptions`, and everything below the public methods (sending the jobs, waiting
for and checking the replies, expanding them) reads them from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from servicewire.types import Context, Control

__all__ = ["DEFAULT_OPTIONS", "CallOptions", "Expansions", "Switches", "call_options"]

Switches = Iterable[int] | None
Expansions = Mapping[str, Sequence[str]] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOptions:
    """How one call sends its jobs and judges their replies; the defaults are the call
    methods' own."""

    expansions: Expansions = None
    raise_job_errors: bool = True
    raise_action_errors: bool = True
    catch_transport_errors: bool = False
    timeout: int | float | None = None
    """Bounds the whole wait for the call's replies and sets how long its requests live."""
    switches: Switches = None
    correlation_id: str | None = None
    continue_on_error: bool = False
    context: Context | None = None
    control_extra: Control | None = None

    def for_expansions(self) -> CallOptions:
        """The options of the calls that expand this call's responses: within its timeout,
        with its switches and context, returning (not raising) what failed."""
        return CallOptions(
            raise_job_errors=False,
            raise_action_errors=False,
            catch_transport_errors=True,
            timeout=self.timeout,
            switches=self.switches,
            context=self.context,
        )


# Options without expansions, switches, correlation id, context or control (most calls'),
# by the flags and timeout that make them. Being frozen, one value serves every call that
# makes it: a frozen dataclass costs a call far more to build than to look up.
_SHARED: dict[tuple[Any, ...], CallOptions] = {}
_MOST_SHARED = 256
DEFAULT_OPTIONS = CallOptions()
"""The options of a call that gives none (what ``call_options()`` returns)."""


def call_options(
    *,
    expansions: Expansions = None,
    raise_job_errors: bool = True,
    raise_action_errors: bool = True,
    catch_transport_errors: bool = False,
    timeout: int | float | None = None,
    switches: Switches = None,
    correlation_id: str | None = None,
    continue_on_error: bool = False,
    context: Context | None = None,
    control_extra: Control | None = None,
) -> CallOptions:
    """``CallOptions(...)``, as each call method makes it: a value equal to a new one, shared
    with earlier calls where that is possible."""
    if (
        expansions is None
        and switches is None
        and correlation_id is None
        and context is None
        and control_extra is None
    ):
        if (
            timeout is None
            and raise_job_errors is True
            and raise_action_errors is True
            and catch_transport_errors is False
            and continue_on_error is False
        ):
            # The options of a call that gives none, by far the most common.
            return DEFAULT_OPTIONS
        # The timeout's type is part of the key: 1 and 1.0 are equal, but not on the wire.
        key = (
            raise_job_errors,
            raise_action_errors,
            catch_transport_errors,
            timeout,
            timeout.__class__,
            continue_on_error,
        )
        shared = _SHARED.get(key)
        if shared is None:
            if len(_SHARED) >= _MOST_SHARED:
                _SHARED.clear()
            shared = _SHARED[key] = CallOptions(
                raise_job_errors=raise_job_errors,
                raise_action_errors=raise_action_errors,
                catch_transport_errors=catch_transport_errors,
                timeout=timeout,
                continue_on_error=continue_on_error,
            )
        return shared
    return CallOptions(
        expansions=expansions,
        raise_job_errors=raise_job_errors,
        raise_action_errors=raise_action_errors,
        catch_transport_errors=catch_transport_errors,
        timeout=timeout,
        switches=switches,
        correlation_id=correlation_id,
        continue_on_error=continue_on_error,
        context=context,
        control_extra=control_extra,
    )
