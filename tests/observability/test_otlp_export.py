"""OTLP export reaches a collector: a service process configured as in docker-compose.yml sends its
spans and metrics over OTLP/gRPC to a stand-in collector (OpenTelemetry's own collector protos)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.support import REPO_ROOT

pytestmark = pytest.mark.timeout(60)

EXPORT_TIMEOUT_SECONDS = 30
SERVICE_NAME = "trolyao-otlp-probe"
# A process that sets telemetry up as a service's main() does, makes one traced ask-like span and
# one answer-rate count, then shuts down (which flushes both exporters).
PROBE = """
from opentelemetry import trace
from trolyao.settings import CommonSettings
from trolyao.telemetry import configure_telemetry, record_ask_outcome

telemetry = configure_telemetry(service="probe", settings=CommonSettings())
with trace.get_tracer("probe").start_as_current_span("probe-span", attributes={"trolyao.unit": "u-otlp"}):
    record_ask_outcome(unit="u-otlp", answered=True, source="faq", seconds=0.01)
telemetry.shutdown()
"""


@dataclass
class StandInCollector:
    """Receives OTLP/gRPC exports and keeps them."""

    spans: list[trace_service_pb2.ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[metrics_service_pb2.ExportMetricsServiceRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, collector: StandInCollector) -> None:
        self._collector = collector

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._collector.lock:
            self._collector.spans.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, collector: StandInCollector) -> None:
        self._collector = collector

    def Export(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest, context: grpc.ServicerContext
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        with self._collector.lock:
            self._collector.metrics.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


@pytest.fixture
def collector() -> Iterator[tuple[StandInCollector, int]]:
    received = StandInCollector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(received), server)  # type: ignore[no-untyped-call]
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(received), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield received, port
    server.stop(0)


def test_spans_and_metrics_reach_the_collector_over_otlp(collector: tuple[StandInCollector, int]) -> None:
    received, port = collector
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_SERVICE_NAME": SERVICE_NAME,
    }
    for name in ("TROLYAO_TELEMETRY_TRACES_EXPORTER", "TROLYAO_TELEMETRY_METRICS_EXPORTER"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=EXPORT_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr

    with received.lock:
        spans = [
            (resource.resource, span)
            for request in received.spans
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]
        metric_names = {
            metric.name
            for request in received.metrics
            for resource in request.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }
    probe = [(resource, span) for resource, span in spans if span.name == "probe-span"]
    assert len(probe) == 1, [span.name for _, span in spans]
    resource_attributes = {item.key: item.value.string_value for item in probe[0][0].attributes}
    assert resource_attributes["service.name"] == SERVICE_NAME
    assert resource_attributes["service.version"]
    assert "trolyao.ask.outcomes" in metric_names
