"""Switched actions: one action name, several implementations chosen by request switches.

Switches are integers a caller puts in the job's ``context["switches"]`` (the client's
``switches`` argument); an action sees them as ``request.switches``. A
:class:`SwitchedAction` maps switches to actions, so that a new version of an action can be
deployed next to the old one and callers opt in, switch by switch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

from servicewire.server.action import ActionInterface, ActionType
from servicewire.server.request import switch_value
from servicewire.types import ActionResponse

if TYPE_CHECKING:
    from servicewire.server.request import EnrichedActionRequest
    from servicewire.server.settings import ServerSettings

__all__ = ["SwitchedAction", "expand_switched_actions"]


class _DefaultAction:
    """The switch of a :class:`SwitchedAction`'s default item: never on in any request."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SwitchedAction.DEFAULT_ACTION"


class SwitchedAction(ActionInterface):
    """An action that defers to one of several actions, chosen by the request's switches.

    Subclasses set ``switch_to_action_map`` (and override nothing else): a sequence of at
    least two ``(switch, action)`` pairs. A switch is an int or an object with an int
    ``value`` (an enum member, say); an action is an action class or any callable that takes
    the server settings and returns a request handler. The first pair whose switch is on in
    the request wins; when none is, the last pair's action runs, so the last pair is the
    default and its switch may be :attr:`DEFAULT_ACTION`::

        class GetUser(SwitchedAction):
            switch_to_action_map = (
                (USER_V2_SWITCH, GetUserV2),
                (SwitchedAction.DEFAULT_ACTION, GetUserV1),
            )

    ``introspect`` lists such an action once per switch, as ``name[switch:N]``, and once as
    ``name[DEFAULT]``. The map is checked when the class is defined.
    """

    DEFAULT_ACTION: Final[Any] = _DefaultAction()
    switch_to_action_map: ClassVar[Sequence[Sequence[Any]]] = ()

    # (switch value, action) for each pair but the last, and the default action: made from
    # switch_to_action_map when the class is defined.
    _switched: ClassVar[tuple[tuple[int, ActionType], ...]] = ()
    _default: ClassVar[ActionType | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "switch_to_action_map" in cls.__dict__:
            cls._switched, cls._default = _checked_map(cls.__qualname__, cls.switch_to_action_map)

    def __init__(self, settings: ServerSettings | None = None) -> None:
        if self._default is None:
            raise TypeError(f"{type(self).__qualname__} must set switch_to_action_map")
        super().__init__(settings)

    def get_uninitialized_action(self, action_request: EnrichedActionRequest) -> ActionType:
        """The action (class or callable, not yet built) that ``action_request``'s switches
        select: the first whose switch is on, else the default."""
        switches = action_request.switches
        for switch, action in self._switched:
            if switch in switches:
                return action
        assert self._default is not None
        return self._default

    def __call__(self, action_request: EnrichedActionRequest) -> ActionResponse:
        """Build the selected action with the server settings and run it."""
        action = self.get_uninitialized_action(action_request)
        return action(self.settings)(action_request)

    @classmethod
    def switched_actions(cls) -> dict[str, ActionType]:
        """The introspection names (``[switch:N]``, ``[DEFAULT]``) of each implementation."""
        named: dict[str, ActionType] = {
            f"[switch:{switch}]": action for switch, action in cls._switched
        }
        last_switch = cls.switch_to_action_map[-1][0]
        if last_switch is not cls.DEFAULT_ACTION:
            # The last action runs for its own switch too, not only by default.
            named.setdefault(f"[switch:{switch_value(last_switch)}]", cls._default)  # type: ignore[arg-type]
        named["[DEFAULT]"] = cls._default  # type: ignore[assignment]
        return named


def _checked_map(
    owner: str, switch_to_action_map: Sequence[Sequence[Any]]
) -> tuple[tuple[tuple[int, ActionType], ...], ActionType]:
    """Validate a ``switch_to_action_map``; return its switched pairs and default action."""
    if isinstance(switch_to_action_map, Mapping | str) or not isinstance(
        switch_to_action_map, Sequence
    ):
        raise TypeError(f"{owner}.switch_to_action_map must be a sequence of (switch, action)")
    if len(switch_to_action_map) < 2:
        raise TypeError(
            f"{owner}.switch_to_action_map needs at least two (switch, action) pairs, "
            f"got {len(switch_to_action_map)}"
        )
    pairs: list[tuple[int, ActionType]] = []
    for index, pair in enumerate(switch_to_action_map):
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise TypeError(f"{owner}.switch_to_action_map[{index}] is not a (switch, action) pair")
        switch, action = pair
        if not callable(action):
            raise TypeError(f"{owner}.switch_to_action_map[{index}]: {action!r} is not an action")
        is_last = index == len(switch_to_action_map) - 1
        if switch is SwitchedAction.DEFAULT_ACTION:
            if not is_last:
                raise TypeError(
                    f"{owner}.switch_to_action_map[{index}]: only the last pair may use "
                    "DEFAULT_ACTION"
                )
            continue
        try:
            value = switch_value(switch)
        except (TypeError, ValueError):
            raise TypeError(
                f"{owner}.switch_to_action_map[{index}]: switch {switch!r} is neither an int "
                "nor has an int value"
            ) from None
        if not is_last:
            pairs.append((value, action))
    return tuple(pairs), switch_to_action_map[-1][1]


def expand_switched_actions(actions: Mapping[str, ActionType]) -> dict[str, ActionType]:
    """``actions`` with each switched action replaced by its implementations, named
    ``name[switch:N]`` and ``name[DEFAULT]`` (as ``introspect`` lists them)."""
    expanded: dict[str, ActionType] = {}
    for name, action in actions.items():
        switched = action if isinstance(action, type) else None
        if switched is not None and issubclass(switched, SwitchedAction):
            for suffix, implementation in switched.switched_actions().items():
                expanded[name + suffix] = implementation
        else:
            expanded[name] = action
    return expanded
