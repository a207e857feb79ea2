"""servicewire and OpenTelemetry (``pip install servicewire[otel]``): metrics and tracing.

Tracing needs no configuration: with a tracer provider set (``opentelemetry.trace.
set_tracer_provider``, or the SDK's auto-configuration) before clients and servers are
built, every job is traced, and the W3C trace context travels in the job's context under
:data:`TRACE_CONTEXT_KEY` (see docs/tracing.md).

The metrics recorder: configure it as the ``metrics`` setting of a server or client::

    "metrics": {"path": "servicewire.otel:OpenTelemetryMetricsRecorder"}

It records through the global ``MeterProvider`` (set up by the application or the
OpenTelemetry SDK's auto-configuration) unless given one. Counters become OpenTelemetry
counters; timers become histograms in seconds and histograms of message sizes histograms in
bytes, with bucket boundaries suited to each. Tags become attributes. Exporting is the
SDK's business, on its own schedule, so :meth:`~OpenTelemetryMetricsRecorder.flush` does
nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from opentelemetry import metrics as otel_metrics
from pydantic import BaseModel, ConfigDict

from servicewire._tracing import TRACE_CONTEXT_KEY
from servicewire.metrics import MetricsRecorder, Tags

__all__ = ["TRACE_CONTEXT_KEY", "OpenTelemetryMetricsRecorder"]

_Instrument = TypeVar("_Instrument")

# Durations of service calls, from a millisecond to a minute.
_SECONDS_BOUNDARIES = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
# Message sizes, from 256 bytes to the largest messages transports accept.
_BYTES_BOUNDARIES = tuple(float(256 * 4**power) for power in range(9))


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    meter_name: str = "servicewire"
    meter_provider: Any = None


class OpenTelemetryMetricsRecorder(MetricsRecorder):
    """A :class:`~servicewire.MetricsRecorder` that records with an OpenTelemetry meter.

    ``meter_name`` names the meter (``"servicewire"``); ``meter_provider`` replaces the
    global provider (tests pass one with an in-memory reader).
    """

    settings_schema: ClassVar[type[BaseModel] | None] = _Settings

    def __init__(
        self,
        meter_name: str = "servicewire",
        meter_provider: otel_metrics.MeterProvider | None = None,
    ) -> None:
        from servicewire import __version__

        provider = meter_provider or otel_metrics.get_meter_provider()
        self.meter = provider.get_meter(meter_name, __version__)
        self._counters: dict[str, otel_metrics.Counter] = {}
        self._histograms: dict[str, otel_metrics.Histogram] = {}
        self._lock = threading.Lock()

    def counter(self, name: str, value: int = 1, tags: Tags | None = None) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._instrument(self._counters, name, self.meter.create_counter)
        counter.add(value, tags)

    def timer(self, name: str, seconds: float, tags: Tags | None = None) -> None:
        histogram = self._histograms.get(name)
        if histogram is None:
            histogram = self._histogram(name, "s", _SECONDS_BOUNDARIES)
        histogram.record(seconds, tags)

    def histogram(self, name: str, value: float, tags: Tags | None = None) -> None:
        histogram = self._histograms.get(name)
        if histogram is None:
            if name.endswith(".size"):
                histogram = self._histogram(name, "By", _BYTES_BOUNDARIES)
            else:
                histogram = self._instrument(self._histograms, name, self.meter.create_histogram)
        histogram.record(value, tags)

    def _histogram(
        self, name: str, unit: str, boundaries: tuple[float, ...]
    ) -> otel_metrics.Histogram:
        def create(name: str) -> otel_metrics.Histogram:
            return self.meter.create_histogram(
                name, unit=unit, explicit_bucket_boundaries_advisory=boundaries
            )

        return self._instrument(self._histograms, name, create)

    def _instrument(
        self,
        instruments: dict[str, _Instrument],
        name: str,
        create: Callable[[str], _Instrument],
    ) -> _Instrument:
        # Instruments are made once per name; the lock keeps two threads from racing to it.
        with self._lock:
            instrument = instruments.get(name)
            if instrument is None:
                instrument = instruments[name] = create(name)
            return instrument

    def flush(self) -> None:
        """Nothing to do: the OpenTelemetry SDK's readers export on their own schedule."""
