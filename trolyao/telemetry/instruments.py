"""The numbers ops watch, as OpenTelemetry instruments (exported to Prometheus and/or OTLP).

Instrument (Prometheus name) — labels — recorded by:

- `trolyao.ask.outcomes` (`trolyao_ask_outcomes_total`) — unit, outcome (answered | abstained),
  source — the gateway, for each answer retrieval gives;
- `trolyao.ask.duration` (`trolyao_ask_duration_seconds`) — unit, outcome — the gateway;
- `trolyao.ingest.event_to_searchable.duration` (`..._seconds`) — unit, outcome, operation —
  ingest, once the index changed and the event was acknowledged;
- `trolyao.ingest.pending`, `.ack_pending`, `.redelivered` — ingest, from JetStream's consumer;
- `trolyao.ingest.dead_letters` — unit — ingest, from the DEADLETTER stream;
- `trolyao.vector_store.points` — unit — retrieval;
- `trolyao.snapshot.age` (`trolyao_snapshot_age_seconds`) — scope (a unit or `all`) — ops,
  through `record_snapshot_taken`;
- `rpc.server.duration` (`rpc_server_duration_seconds`) — rpc.service, rpc.method,
  rpc.grpc.status_code — every gRPC server;
- `http.server.duration` (`http_server_duration_milliseconds`) — http.method, http.route,
  http.status_code — the gateway (FastAPI instrumentation): rate, errors and latency per route.

Answer rate per unit = `sum by (unit) (rate(trolyao_ask_outcomes_total{outcome="answered"}[1h]))
/ sum by (unit) (rate(trolyao_ask_outcomes_total[1h]))`.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Observation

METER_NAME = "trolyao"

LABEL_UNIT = "unit"
LABEL_OUTCOME = "outcome"
LABEL_SOURCE = "source"
LABEL_OPERATION = "operation"
LABEL_SCOPE = "scope"

OUTCOME_ANSWERED = "answered"
OUTCOME_ABSTAINED = "abstained"
ALL_UNITS_SCOPE = "all"
SECONDS = "s"

# Seconds, from a fast ask to a long OCR'd document (the SDK's default buckets are for milliseconds).
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

ObservedValues = Callable[[], Iterable[tuple[float, dict[str, str]]]]


@dataclass(frozen=True, slots=True)
class TrolyaoMetrics:
    """The synchronous instruments (observable ones are registered with `observe_values`)."""

    ask_outcomes: Counter
    ask_duration: Histogram
    event_to_searchable: Histogram
    rpc_server_duration: Histogram


@functools.cache
def trolyao_metrics() -> TrolyaoMetrics:
    """The instruments, made once; before `configure_telemetry` they are harmless no-op proxies."""
    meter = metrics.get_meter(METER_NAME)
    return TrolyaoMetrics(
        ask_outcomes=meter.create_counter(
            "trolyao.ask.outcomes",
            unit="{question}",
            description="Questions answered or abstained, per unit (the answer rate's two terms).",
        ),
        ask_duration=meter.create_histogram(
            "trolyao.ask.duration",
            unit=SECONDS,
            description="Time retrieval took to answer (or abstain), seen from the gateway.",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        ),
        event_to_searchable=meter.create_histogram(
            "trolyao.ingest.event_to_searchable.duration",
            unit=SECONDS,
            description="From a document event stored in JetStream to its chunks searchable (or removed).",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        ),
        rpc_server_duration=meter.create_histogram(
            "rpc.server.duration",
            unit=SECONDS,
            description="gRPC server call duration, per method and status code.",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        ),
    )


def record_ask_outcome(*, unit: str, answered: bool, source: str, seconds: float | None = None) -> None:
    """Count one answered-or-abstained question for the unit (and how long it took)."""
    outcome = OUTCOME_ANSWERED if answered else OUTCOME_ABSTAINED
    instruments = trolyao_metrics()
    instruments.ask_outcomes.add(
        1, {LABEL_UNIT: unit, LABEL_OUTCOME: outcome, LABEL_SOURCE: source or "none"}
    )
    if seconds is not None:
        instruments.ask_duration.record(seconds, {LABEL_UNIT: unit, LABEL_OUTCOME: outcome})


_observed_lock = threading.Lock()
_observed: dict[str, ObservedValues] = {}


def observe_values(name: str, *, description: str, unit: str, read: ObservedValues) -> None:
    """Register (or re-point) an observable gauge whose values `read()` gives at each collection.

    `read` runs on the exporter's thread or during a scrape: it must be quick and thread-safe
    (serve a cached value when reading needs I/O). A gauge whose reader fails reports nothing.
    """
    with _observed_lock:
        first = name not in _observed
        _observed[name] = read
    if not first:
        return

    def callback(_options: CallbackOptions) -> Iterable[Observation]:
        reader = _observed.get(name)
        if reader is None:
            return []
        try:
            return [Observation(value, labels) for value, labels in reader()]
        except Exception:  # a broken source must not break the whole export
            return []

    metrics.get_meter(METER_NAME).create_observable_gauge(
        name, callbacks=[callback], unit=unit, description=description
    )


_snapshot_lock = threading.Lock()
_snapshot_taken_at: dict[str, float] = {}


def _snapshot_ages() -> list[tuple[float, dict[str, str]]]:
    now = time.time()
    with _snapshot_lock:
        return [(max(0.0, now - taken), {LABEL_SCOPE: scope}) for scope, taken in _snapshot_taken_at.items()]


def record_snapshot_taken(*, unit: str | None = None, taken_at: datetime | float | None = None) -> None:
    """The hook for the snapshot engine: a snapshot of `unit` (None: all units) was taken.

    Call it after each successful snapshot, and once at start for the newest snapshot found, so
    `trolyao_snapshot_age_seconds{scope=...}` tells how much would be lost to a restore right now.
    """
    if isinstance(taken_at, datetime):
        moment = taken_at.timestamp()
    elif taken_at is None:
        moment = time.time()
    else:
        moment = float(taken_at)
    scope = unit or ALL_UNITS_SCOPE
    with _snapshot_lock:
        _snapshot_taken_at[scope] = max(moment, _snapshot_taken_at.get(scope, 0.0))
    observe_values(
        "trolyao.snapshot.age",
        description="Seconds since the newest snapshot of the scope (a unit, or all units).",
        unit=SECONDS,
        read=_snapshot_ages,
    )
