"""The OpenTelemetry recorder, read back through the SDK's in-memory reader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from servicewire import Action, ActionError, EnrichedActionRequest, Error, MetricName, Server
from servicewire.otel import OpenTelemetryMetricsRecorder
from tests.support.local import serving


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def provider(reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    provider = MeterProvider(metric_readers=[reader])
    yield provider
    provider.shutdown()


def metrics_by_name(reader: InMemoryMetricReader) -> dict[str, Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: metric
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    }


def points(metric: Any) -> dict[tuple[tuple[str, Any], ...], Any]:
    return {tuple(sorted(point.attributes.items())): point for point in metric.data.data_points}


class Hello(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        if request.body.get("refuse"):
            raise ActionError([Error(code="NOT_ALLOWED", message="no")])
        return {}


class HelloServer(Server):
    service_name = "hello"
    action_class_map = {"hello": Hello}


def test_server_and_client_metrics_arrive_as_opentelemetry_instruments(
    reader: InMemoryMetricReader, provider: MeterProvider
) -> None:
    recorder = {
        "path": "servicewire.otel:OpenTelemetryMetricsRecorder",
        "kwargs": {"meter_provider": provider},
    }
    with serving(HelloServer, {"metrics": recorder}, metrics=recorder) as client:
        for _ in range(3):
            client.call_action("hello", "hello", {})
        client.call_action("hello", "hello", {"refuse": True}, raise_action_errors=False)

    metrics = metrics_by_name(reader)
    received = metrics[MetricName.SERVER_REQUEST_RECEIVED]
    assert [point.value for point in received.data.data_points] == [4]

    action_runs = metrics[MetricName.SERVER_ACTION_RUN]
    assert action_runs.unit == "s"
    [run_point] = action_runs.data.data_points
    assert dict(run_point.attributes) == {"action": "hello"}
    assert run_point.count == 4
    assert run_point.explicit_bounds[0] == 0.001

    errors = points(metrics[MetricName.SERVER_ACTION_ERROR])
    assert errors[(("action", "hello"), ("code", "NOT_ALLOWED"))].value == 1

    sends = points(metrics[MetricName.CLIENT_REQUEST_SEND])
    assert sends[(("service", "hello"),)].count == 4


def test_size_histograms_are_in_bytes_and_other_histograms_have_no_unit(
    reader: InMemoryMetricReader, provider: MeterProvider
) -> None:
    recorder = OpenTelemetryMetricsRecorder(meter_provider=provider)
    recorder.histogram(MetricName.TRANSPORT_REQUEST_SIZE, 1500, {"service": "s"})
    recorder.histogram(MetricName.TRANSPORT_REQUEST_SIZE, 70_000, {"service": "s"})
    recorder.histogram("custom.depth", 3)
    recorder.flush()
    metrics = metrics_by_name(reader)
    sizes = metrics[MetricName.TRANSPORT_REQUEST_SIZE]
    assert sizes.unit == "By"
    [point] = sizes.data.data_points
    assert (point.count, point.sum, point.explicit_bounds[0]) == (2, 71_500, 256)
    assert metrics["custom.depth"].unit == ""


def test_the_recorders_settings_are_validated() -> None:
    from servicewire import InvalidSettings, ServerSettings

    with pytest.raises(InvalidSettings, match="meter_nmae"):
        ServerSettings.from_dict(
            {
                "metrics": {
                    "path": "servicewire.otel:OpenTelemetryMetricsRecorder",
                    "kwargs": {"meter_nmae": "typo"},
                }
            }
        )
