"""One call per process wires OpenTelemetry: providers, exporters, propagation into NATS headers.

`configure_telemetry(service=..., settings=...)` is called from each service's `main()` (never at
import time) right after `configure_logging`. OpenTelemetry's providers are process-wide by design,
so the returned `Telemetry` handle is too: a second call in the same process returns the first
handle. What goes where is configuration (`CommonSettings.telemetry_*`):

traces  (`TROLYAO_TELEMETRY_TRACES_EXPORTER` / `OTEL_TRACES_EXPORTER`, comma separated)
    none        spans are made (so logs carry trace and span ids) but not exported — the default
    console     each finished span printed on stdout (local debugging)
    otlp        batched to the collector (`OTEL_EXPORTER_OTLP_ENDPOINT`, protocol from settings)
    memory      kept in this process (`Telemetry.memory_spans`), for in-process tests
    test-jsonl  one JSON line per span in `<TELEMETRY_TEST_SPANS_DIR>/<service>-<pid>.jsonl`, for
                tests that run the services as separate processes
metrics (`TROLYAO_TELEMETRY_METRICS_EXPORTER` / `OTEL_METRICS_EXPORTER`)
    prometheus  pulled: the gateway's `/metrics`, elsewhere `TELEMETRY_METRICS_PORT` — the default
    otlp        pushed every `OTEL_METRIC_EXPORT_INTERVAL` ms; console; memory; none
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    InMemoryMetricReader,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from trolyao.logs import get_logger
from trolyao.telemetry.span_files import JsonLinesTestSpanExporter

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from trolyao.settings import CommonSettings

log = get_logger("trolyao.telemetry")

SERVICE_NAME_PREFIX = "trolyao-"
SERVICE_NAMESPACE = "trolyao"
SERVICE_NAMESPACE_ATTRIBUTE = "service.namespace"
SERVICE_INSTANCE_ATTRIBUTE = "service.instance.id"
UNKNOWN_SERVICE_PREFIX = "unknown_service"
DISTRIBUTION = "trolyao"
SHUTDOWN_TIMEOUT_MILLIS = 5_000
NO_EXPORTER = "none"


@dataclass
class Telemetry:
    """The process's OpenTelemetry set-up: providers, in-process readers and the metrics server."""

    service: str
    resource: Resource
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    trace_content: bool = False
    prometheus_registry: CollectorRegistry | None = None
    memory_spans: InMemorySpanExporter | None = None
    memory_metrics: InMemoryMetricReader | None = None
    metrics_server: WSGIServer | None = None
    _metrics_thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def service_name(self) -> str:
        """`service.name` as exported (OTEL_SERVICE_NAME wins over the trolyao-<service> default)."""
        return str(self.resource.attributes.get(SERVICE_NAME, ""))

    def force_flush(self) -> None:
        """Export what is buffered now (tests; before a planned stop)."""
        self.tracer_provider.force_flush(SHUTDOWN_TIMEOUT_MILLIS)
        self.meter_provider.force_flush(SHUTDOWN_TIMEOUT_MILLIS)

    def shutdown(self) -> None:
        """Flush and stop exporters and the metrics server; called once at the end of `main()`."""
        global _active
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown(SHUTDOWN_TIMEOUT_MILLIS)
        with _lock:
            if _active is self:
                _active = None


_lock = threading.Lock()
_active: Telemetry | None = None


def active_telemetry() -> Telemetry | None:
    """The process's telemetry, or None when `configure_telemetry` was not called (e.g. unit tests)."""
    return _active


def content_tracing_enabled() -> bool:
    """True only when `TROLYAO_TRACE_CONTENT` turned on question text / titles in spans."""
    return _active is not None and _active.trace_content


def service_version() -> str:
    """The installed trolyao version (`service.version`)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def build_resource(service: str) -> Resource:
    """service.name (OTEL_SERVICE_NAME, else trolyao-<service>), version, namespace, instance."""
    resource = Resource.create(
        {
            SERVICE_VERSION: service_version(),
            SERVICE_NAMESPACE_ATTRIBUTE: SERVICE_NAMESPACE,
            SERVICE_INSTANCE_ATTRIBUTE: f"{os.uname().nodename}-{os.getpid()}",
        }
    )
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith(UNKNOWN_SERVICE_PREFIX):
        resource = resource.merge(Resource({SERVICE_NAME: SERVICE_NAME_PREFIX + service}))
    return resource


def _names(value: str) -> set[str]:
    return {name for name in value.split(",") if name and name != NO_EXPORTER}


def _span_processors(
    service: str, settings: CommonSettings
) -> tuple[list[SpanProcessor], InMemorySpanExporter | None]:
    processors: list[SpanProcessor] = []
    memory: InMemorySpanExporter | None = None
    for name in sorted(_names(settings.telemetry_traces_exporter)):
        if name == "console":
            processors.append(SimpleSpanProcessor(ConsoleSpanExporter(service_name=service)))
        elif name == "otlp":
            processors.append(BatchSpanProcessor(_otlp_span_exporter(settings.telemetry_otlp_protocol)))
        elif name == "memory":
            memory = InMemorySpanExporter()
            processors.append(SimpleSpanProcessor(memory))
        elif name == "test-jsonl":
            directory = settings.telemetry_test_spans_dir or settings.data_dir / "test-spans"
            path = Path(directory) / f"{service}-{os.getpid()}.jsonl"
            processors.append(SimpleSpanProcessor(JsonLinesTestSpanExporter(path)))
    return processors, memory


def _otlp_span_exporter(protocol: str) -> SpanExporter:
    # Imported on demand: the OTLP exporters pull in their transports (grpc / requests).
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return HttpSpanExporter()


def _otlp_metric_exporter(protocol: str) -> MetricExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )

    return HttpMetricExporter()


def _metric_readers(
    settings: CommonSettings,
) -> tuple[list[MetricReader], CollectorRegistry | None, InMemoryMetricReader | None]:
    readers: list[MetricReader] = []
    registry: CollectorRegistry | None = None
    memory: InMemoryMetricReader | None = None
    for name in sorted(_names(settings.telemetry_metrics_exporter)):
        if name == "prometheus":
            from opentelemetry.exporter.prometheus import PrometheusMetricReader

            # A registry of our own (not prometheus_client's global one): only OpenTelemetry's view.
            registry = CollectorRegistry(auto_describe=True)
            readers.append(PrometheusMetricReader(registry=registry, scope_info_enabled=False))
        elif name == "otlp":
            exporter = _otlp_metric_exporter(settings.telemetry_otlp_protocol)
            readers.append(PeriodicExportingMetricReader(exporter))
        elif name == "console":
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
        elif name == "memory":
            memory = InMemoryMetricReader()
            readers.append(memory)
    return readers, registry, memory


# The only attributes HTTP server metrics keep: the route template, method, status and protocol.
# The instrumentation also records the Host header (`http.host`, `http.server_name`,
# `net.host.name`, `net.host.port`): values a client chooses, so each new one would add series.
HTTP_SERVER_METRIC_ATTRIBUTES = frozenset(
    {
        "http.method",
        "http.status_code",
        "http.target",
        "http.scheme",
        "http.flavor",
        "http.request.method",
        "http.response.status_code",
        "http.route",
        "url.scheme",
        "network.protocol.version",
        "error.type",
    }
)
HTTP_SERVER_METRIC_VIEWS = (
    View(instrument_name="http.server.*", attribute_keys=set(HTTP_SERVER_METRIC_ATTRIBUTES)),
)


def configure_telemetry(*, service: str, settings: CommonSettings) -> Telemetry:
    """Install the tracer and meter providers for this process and instrument NATS publishing.

    gRPC channels and servers made by `trolyao.rpc` and the gateway's FastAPI app pick the
    providers up by themselves; call this before building them so nothing is missed.
    """
    global _active
    with _lock:
        if _active is not None:
            if _active.service != service:
                log.warning("telemetry_already_configured", service=_active.service, requested=service)
            return _active
        resource = build_resource(service)
        processors, memory_spans = _span_processors(service, settings)
        tracer_provider = TracerProvider(resource=resource)
        for processor in processors:
            tracer_provider.add_span_processor(processor)
        readers, registry, memory_metrics = _metric_readers(settings)
        meter_provider = MeterProvider(
            resource=resource, metric_readers=readers, views=HTTP_SERVER_METRIC_VIEWS
        )
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        telemetry = Telemetry(
            service=service,
            resource=resource,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            trace_content=settings.trace_content,
            prometheus_registry=registry,
            memory_spans=memory_spans,
            memory_metrics=memory_metrics,
        )
        if registry is not None and settings.telemetry_metrics_port:
            from prometheus_client import start_http_server

            try:
                telemetry.metrics_server, telemetry._metrics_thread = start_http_server(
                    settings.telemetry_metrics_port, addr=settings.telemetry_metrics_host, registry=registry
                )
            except OSError as error:  # the port is taken: the service runs on, without its metrics port
                log.warning(
                    "metrics_port_unavailable",
                    port=settings.telemetry_metrics_port,
                    host=settings.telemetry_metrics_host,
                    error=str(error),
                )
        _active = telemetry
    from trolyao.telemetry.event_tracing import instrument_jetstream_publish

    instrument_jetstream_publish()
    log.info(
        "telemetry_configured",
        service_name=telemetry.service_name,
        traces=settings.telemetry_traces_exporter,
        metrics=settings.telemetry_metrics_exporter,
        metrics_port=settings.telemetry_metrics_port or None,
        trace_content=settings.trace_content,
    )
    return telemetry
