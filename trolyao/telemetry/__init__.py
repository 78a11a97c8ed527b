"""Observability for every trolyao service: OpenTelemetry traces and metrics, one set-up call.

- `setup`: `configure_telemetry(service=..., settings=...)` from each `main()`; exporters by setting.
- `rpc_tracing`: interceptors `trolyao.rpc` puts on every gRPC server and channel.
- `event_tracing`: `traceparent` in NATS headers (publish wrapped once; `consume_span` for consumers).
- `http`: the gateway's FastAPI instrumentation and its `/metrics` route.
- `instruments`: the metrics (ask outcomes, ingest lag, snapshot age, ...) and their hooks.
- `span_files`: a test-only exporter for tests that run the services as separate processes.

Question text and document content never enter spans unless `TROLYAO_TRACE_CONTENT=true`.
"""

from __future__ import annotations

from trolyao.telemetry.instruments import record_ask_outcome, record_snapshot_taken
from trolyao.telemetry.setup import (
    Telemetry,
    active_telemetry,
    configure_telemetry,
    content_tracing_enabled,
)

__all__ = [
    "Telemetry",
    "active_telemetry",
    "configure_telemetry",
    "content_tracing_enabled",
    "record_ask_outcome",
    "record_snapshot_taken",
]
