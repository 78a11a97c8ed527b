"""Fixtures for the observability tests.

`observed_stack` is the embedded stack (five processes, as `make run` starts it) with the
TEST-ONLY span exporter on: each process appends its finished spans to a JSON-lines file under
`spans_dir`, which the tests read back (`trolyao.telemetry.span_files.read_span_files`) to follow
one trace across processes. Retrieval and ingest also serve Prometheus metrics on ports of their
own; the gateway serves `/metrics`. The retrieval embedder defaults to `none` (lexical only): these
tests are about telemetry, not answer quality, and start faster without a model.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from stack.launcher import Stack, StackPorts
from trolyao.telemetry.span_files import RecordedSpan, read_span_files

POLL_SECONDS = 0.2
SPANS_TIMEOUT_SECONDS = 20.0
GAUGE_POLL_SECONDS = "1"
# The gateway serves /metrics on its public port only to a scraper holding this token.
METRICS_TOKEN = "scrape-" + secrets.token_urlsafe(16)
METRICS_HEADERS = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@dataclass
class ObservedStack:
    """The running stack and where its telemetry can be read."""

    stack: Stack
    spans_dir: Path
    retrieval_metrics_url: str
    ingest_metrics_url: str
    ops_metrics_url: str

    def client(self) -> httpx.Client:
        """An HTTP client on the gateway with the bootstrap admin key."""
        headers = {"Authorization": f"Bearer {self.stack.api_key}"}
        return httpx.Client(base_url=self.stack.gateway_url, headers=headers, timeout=60.0)

    def spans(self) -> list[RecordedSpan]:
        """Every span the five processes finished so far."""
        return read_span_files(self.spans_dir)

    def wait_for_spans(
        self, condition: Callable[[list[RecordedSpan]], bool], *, timeout: float = SPANS_TIMEOUT_SECONDS
    ) -> list[RecordedSpan]:
        """Spans once `condition(spans)` holds (a span is written when it ends, a little later)."""
        deadline = time.monotonic() + timeout
        spans = self.spans()
        while not condition(spans):
            if time.monotonic() > deadline:
                raise AssertionError(f"spans never matched; {len(spans)} recorded")
            time.sleep(POLL_SECONDS)
            spans = self.spans()
        return spans


@pytest.fixture(scope="session")
def observed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObservedStack]:
    """The stack with the test span exporter and per-process metrics ports."""
    root = tmp_path_factory.mktemp("observed")
    spans_dir = root / "spans"
    stack = Stack(
        data_dir=root / "data",
        ports=StackPorts.free(),
        api_key="tly_test_" + secrets.token_urlsafe(24),
        extra_env={
            "TROLYAO_RETRIEVAL_EMBEDDER": os.environ.get("TROLYAO_OBSERVABILITY_EMBEDDER", "none"),
            "TROLYAO_TELEMETRY_TRACES_EXPORTER": "test-jsonl",
            "TROLYAO_TELEMETRY_TEST_SPANS_DIR": str(spans_dir),
            # Nothing about metrics ports: each service serves its default one (moved to a free port
            # by StackPorts.free(), as `make run` does when a default is taken).
            "TROLYAO_TELEMETRY_METRICS_EXPORTER": "prometheus",
            "TROLYAO_TELEMETRY_POLL_SECONDS": GAUGE_POLL_SECONDS,
            "TROLYAO_TRACE_CONTENT": "false",
            "TROLYAO_GATEWAY_METRICS_TOKEN": METRICS_TOKEN,
        },
    )
    try:
        stack.start()
        yield ObservedStack(
            stack=stack,
            spans_dir=spans_dir,
            retrieval_metrics_url=stack.ports.metrics_urls()["retrieval"],
            ingest_metrics_url=stack.ports.metrics_urls()["ingest"],
            ops_metrics_url=stack.ports.metrics_urls()["ops"],
        )
    finally:
        stack.stop()
