"""Usage and performance metrics: a small recorder interface with a no-op default.

Servers, clients and transports report through a :class:`MetricsRecorder`. The default,
:class:`NoOpMetricsRecorder`, has ``enabled = False``, and every hot-path call site checks
that flag first, so an unconfigured recorder costs one attribute read per site.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

__all__ = ["MetricsRecorder", "NoOpMetricsRecorder"]

Tags = Mapping[str, str]


class MetricsRecorder:
    """Base class of metrics recorders; override the methods you need.

    ``counter`` adds to a monotonic count, ``timer`` records a duration in seconds and
    ``histogram`` records a value whose distribution matters (such as a message size).
    """

    enabled: ClassVar[bool] = True

    def counter(self, name: str, value: int = 1, tags: Tags | None = None) -> None:
        """Add ``value`` to the counter ``name``."""

    def timer(self, name: str, seconds: float, tags: Tags | None = None) -> None:
        """Record that the operation ``name`` took ``seconds``."""

    def histogram(self, name: str, value: float, tags: Tags | None = None) -> None:
        """Record one observation of ``name``."""

    def flush(self) -> None:
        """Publish whatever is buffered; servers call this after each request and when idle."""


class NoOpMetricsRecorder(MetricsRecorder):
    """Records nothing; the default everywhere."""

    enabled: ClassVar[bool] = False
