"""What a server's built-in actions and its process runtime see of it.

:class:`ServerHost` extends the plugins' :class:`~servicewire.server.interface.
ServerInterface` with what only the parts above the settings may name: the full settings,
the serving half, the actions, the lifecycle. ``Server`` implements it; typing those parts
against it instead of ``Server`` keeps ``server.server`` the only module that imports
them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from servicewire.server.interface import ServerInterface

if TYPE_CHECKING:
    from servicewire.server.action import ActionType
    from servicewire.server.serving import Serving
    from servicewire.server.settings import ServerSettings

__all__ = ["ServerHost"]


class ServerHost(ServerInterface, Protocol):
    """A server as its runtime and built-in actions use it (``Server`` is one)."""

    settings_class: ClassVar[type[ServerSettings]]
    shutting_down: bool
    forked_process_id: int | None
    serving: Serving

    def __init__(
        self, settings: ServerSettings | Mapping[str, Any], forked_process_id: int | None = None
    ) -> None: ...

    @property
    def settings(self) -> ServerSettings: ...

    @classmethod
    def initialize(cls, settings: ServerSettings) -> type[ServerHost]:
        """The class to build (``Server.initialize``)."""

    @classmethod
    def pre_fork(cls) -> None:
        """Called in the supervisor before the workers are forked."""

    def run(self) -> None:
        """Serve until shutting down (``Server.run``)."""

    def introspectable_actions(self, only: str | None = None) -> dict[str, ActionType]:
        """The actions ``introspect`` describes, by name."""

    def handle_shutdown_signal(self, signal_number: int, frame: FrameType | None) -> None:
        """Handles SIGTERM and SIGINT."""

    def harakiri(self, signal_number: int, frame: FrameType | None) -> None:
        """Handles the harakiri timer's signal."""
