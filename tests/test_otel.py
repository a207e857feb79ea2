"""OpenTelemetry: the metrics recorder, read back through the SDK's in-memory reader, and
tracing, read back through its in-memory span exporter."""

from __future__ import annotations

import asyncio
import itertools
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util._once import Once

from servicewire import (
    Action,
    ActionError,
    AsyncClient,
    Client,
    EnrichedActionRequest,
    Error,
    MetricName,
    Server,
)
from servicewire._otel_tracing import ClientTracing, ServerTracing
from servicewire.otel import TRACE_CONTEXT_KEY, OpenTelemetryMetricsRecorder
from tests.support.local import local_server, serving
from tests.support.processes import ROOT


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


# --- tracing ---------------------------------------------------------------------------------


class Leaf(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        if request.body.get("refuse"):
            raise ActionError([Error(code="REFUSED", message="not today")])
        return {"leaf": True, "trace_context": request.context.get(TRACE_CONTEXT_KEY)}


class LeafServer(Server):
    service_name = "leaf"
    action_class_map = {"leaf": Leaf}


class Relay(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        assert request.client is not None
        response = request.client.call_action(
            "leaf", "leaf", request.body, raise_action_errors=False
        )
        return {"relayed": response.body, "errors": [error.code for error in response.errors]}


class AsyncRelay(Action):
    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        assert request.client is not None
        response = await asyncio.to_thread(
            request.client.call_action, "leaf", "leaf", request.body, raise_action_errors=False
        )
        return {"relayed": response.body, "errors": [error.code for error in response.errors]}


class RelayServer(Server):
    service_name = "relay"
    action_class_map = {"relay": Relay, "async_relay": AsyncRelay}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """A tracer provider exporting to memory, set as the global one for this test only."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = (otel_trace._TRACER_PROVIDER, otel_trace._TRACER_PROVIDER_SET_ONCE)
    otel_trace._TRACER_PROVIDER_SET_ONCE = Once()
    otel_trace._TRACER_PROVIDER = None
    otel_trace.set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        provider.shutdown()
        otel_trace._TRACER_PROVIDER, otel_trace._TRACER_PROVIDER_SET_ONCE = saved


@contextmanager
def serving_in_thread(server: Server) -> Iterator[Server]:
    thread = threading.Thread(target=server.run, name=f"{server.service_name}-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutting_down = True
        thread.join(10)
        assert not thread.is_alive(), "the server did not stop"


def transports(kind: str, tmp_path: Path, redis_url: str | None) -> tuple[dict[str, Any], str]:
    """``(server transport kwargs, client transport path)`` of one kind."""
    if kind == "redis":
        return {"backend_layer_kwargs": {"hosts": [redis_url]}}, "redis"
    return {"url": f"sqlite:///{tmp_path}/queues.db"}, "sql"


def transport(kind: str, side: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    module = "redis" if kind == "redis" else "sql"
    prefix = "Redis" if kind == "redis" else "Sql"
    return {"path": f"servicewire.transport.{module}:{prefix}{side}Transport", "kwargs": kwargs}


@contextmanager
def relay_and_leaf(kind: str, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The relay and leaf services running over ``kind``; yields the client settings."""
    client_settings = {
        name: {"transport": transport(kind, "Client", kwargs)} for name in ("relay", "leaf")
    }
    server_kwargs = {**kwargs, "receive_timeout_in_seconds": 0.2}
    leaf = LeafServer({"transport": transport(kind, "Server", server_kwargs)})
    relay = RelayServer(
        {"transport": transport(kind, "Server", server_kwargs), "client_routing": client_settings}
    )
    with serving_in_thread(leaf), serving_in_thread(relay):
        yield client_settings


def by_name(exporter: InMemorySpanExporter) -> dict[tuple[str, SpanKind], Any]:
    found = {(span.name, span.kind): span for span in exporter.get_finished_spans()}
    assert len(found) == len(exporter.get_finished_spans()), "one span of each name and kind"
    return found


def parent_of(span: Any) -> int | None:
    return None if span.parent is None else span.parent.span_id


@pytest.mark.parametrize("kind", ["redis", "sql"])
@pytest.mark.parametrize("style", ["sync", "asyncio"])
def test_one_trace_spans_client_relay_and_leaf(
    spans: InMemorySpanExporter, kind: str, style: str, tmp_path: Path, request: Any
) -> None:
    redis_url = request.getfixturevalue("redis_url") if kind == "redis" else None
    kwargs, _ = transports(kind, tmp_path, redis_url)
    action = "relay" if style == "sync" else "async_relay"
    with relay_and_leaf(kind, kwargs) as client_settings:
        if style == "sync":
            client = Client(client_settings)
            response = client.call_action("relay", action, {}, correlation_id="corr-1")
            client.close()
        else:

            async def call() -> Any:
                async with AsyncClient(client_settings) as client:
                    return await client.call_action("relay", action, {}, correlation_id="corr-1")

            response = asyncio.run(call())
    assert response.body["relayed"]["leaf"] is True

    found = by_name(spans)
    top = found[(f"relay/{action}", SpanKind.CLIENT)]
    relay_job = found[(f"relay/{action}", SpanKind.SERVER)]
    relay_action = found[(f"relay/{action}", SpanKind.INTERNAL)]
    nested = found[("leaf/leaf", SpanKind.CLIENT)]
    leaf_job = found[("leaf/leaf", SpanKind.SERVER)]
    leaf_action = found[("leaf/leaf", SpanKind.INTERNAL)]
    chain = [top, relay_job, relay_action, nested, leaf_job, leaf_action]
    assert {span.context.trace_id for span in chain} == {top.context.trace_id}
    assert parent_of(top) is None
    for parent, child in itertools.pairwise(chain):
        assert parent_of(child) == parent.context.span_id, child.name
    for span in chain:
        assert span.attributes["rpc.system"] == "servicewire"
        assert span.attributes["servicewire.correlation_id"] == "corr-1"
        assert span.status.status_code is StatusCode.UNSET
    assert (top.attributes["rpc.service"], top.attributes["rpc.method"]) == ("relay", action)
    assert (leaf_job.attributes["rpc.service"], leaf_job.attributes["rpc.method"]) == (
        "leaf",
        "leaf",
    )
    # The leaf saw the W3C trace context of the relay's nested client span.
    traceparent = response.body["relayed"]["trace_context"]["traceparent"]
    assert traceparent.startswith(f"00-{top.context.trace_id:032x}-{nested.context.span_id:016x}-")


def test_errors_set_the_error_status_up_the_trace(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    kwargs, _ = transports("sql", tmp_path, None)
    with relay_and_leaf("sql", kwargs) as client_settings:
        client = Client(client_settings)
        response = client.call_action("relay", "relay", {"refuse": True})
        client.close()
    assert response.body["errors"] == ["REFUSED"]
    found = by_name(spans)
    for name in [
        ("leaf/leaf", SpanKind.INTERNAL),
        ("leaf/leaf", SpanKind.SERVER),
        ("leaf/leaf", SpanKind.CLIENT),
    ]:
        span = found[name]
        assert span.status.status_code is StatusCode.ERROR, name
        assert span.status.description == "REFUSED: not today"
        assert span.attributes["servicewire.error_codes"] == ("REFUSED",)
    # The relay handled the refusal: its own spans succeeded.
    assert found[("relay/relay", SpanKind.SERVER)].status.status_code is StatusCode.UNSET


def test_a_job_of_several_actions_is_one_span_per_action(spans: InMemorySpanExporter) -> None:
    with serving(HelloServer) as client:
        client.call_actions("hello", [{"action": "hello"}, {"action": "hello"}])
    names = sorted((span.name, span.kind.name) for span in spans.get_finished_spans())
    assert names == [
        ("hello/hello", "INTERNAL"),
        ("hello/hello", "INTERNAL"),
        ("hello/job", "CLIENT"),
        ("hello/job", "SERVER"),
    ]


def test_without_a_tracer_provider_nothing_is_installed() -> None:
    with serving(HelloServer) as client:
        client.call_action("hello", "hello", {})
        handler = client._get_handler("hello")
        assert not any(isinstance(m, ClientTracing) for m in handler.middleware)
        assert not any(
            isinstance(m, ServerTracing) for m in local_server(client, "hello").middleware
        )


def test_without_opentelemetry_imported_nothing_of_it_is_imported() -> None:
    program = (
        "import sys\n"
        "from servicewire import Client\n"
        "from examples.calculator import CalculatorServer\n"
        "from tests.support.local import serving\n"
        "with serving(CalculatorServer) as client:\n"
        "    client.call_action('calculator', 'add', {'a': 1, 'b': 2})\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert completed.stdout.strip() == "[]"


def test_the_tracing_guide_example_runs() -> None:
    # In a process of its own: the example sets the global tracer provider.
    guide = (ROOT / "docs" / "tracing.md").read_text()
    [example] = re.findall(r"<!-- tracing-example -->\s*```python\n(.*?)```", guide, re.DOTALL)
    completed = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert completed.returncode == 0, completed.stderr
