"""The options of one call, as one value that the sync and asyncio clients pass around.

Every call method of :class:`~servicewire.Client` and :class:`~servicewire.AsyncClient`
takes the same options (the reference's keyword arguments: ``expansions``,
``raise_job_errors``, ... ``control_extra``). Each call gathers them once into a
:class:`CallOptions`, and everything below the public methods (sending the jobs, waiting
for and checking the replies, expanding them) reads them from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from servicewire.types import Context, Control

__all__ = ["CallOptions", "Expansions", "Switches"]

Switches = Iterable[int] | None
Expansions = Mapping[str, Sequence[str]] | None


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
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

    def __init__(
        self,
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
    ) -> None:
        # One is made per call. A frozen dataclass's own __init__ sets each field through
        # object.__setattr__; the slots' setters do the same at a third of the cost.
        _set_expansions(self, expansions)
        _set_raise_job_errors(self, raise_job_errors)
        _set_raise_action_errors(self, raise_action_errors)
        _set_catch_transport_errors(self, catch_transport_errors)
        _set_timeout(self, timeout)
        _set_switches(self, switches)
        _set_correlation_id(self, correlation_id)
        _set_continue_on_error(self, continue_on_error)
        _set_context(self, context)
        _set_control_extra(self, control_extra)

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


_FIELD_NAMES = tuple(field.name for field in fields(CallOptions))
_setters: list[Any] = [getattr(CallOptions, name).__set__ for name in _FIELD_NAMES]
(
    _set_expansions,
    _set_raise_job_errors,
    _set_raise_action_errors,
    _set_catch_transport_errors,
    _set_timeout,
    _set_switches,
    _set_correlation_id,
    _set_continue_on_error,
    _set_context,
    _set_control_extra,
) = _setters
