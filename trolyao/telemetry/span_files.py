"""A TEST-ONLY span exporter: finished spans as JSON lines in one file per process.

The end-to-end tests run every service as its own OS process, so an in-memory exporter in one
process cannot see the others' spans. With `TROLYAO_TELEMETRY_TRACES_EXPORTER=test-jsonl` each
process appends its spans to `<TROLYAO_TELEMETRY_TEST_SPANS_DIR>/<service>-<pid>.jsonl`, and the
test reads them all back with `read_span_files`. Never use it in production: the files grow
without bound and nothing rotates them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

SPAN_FILE_SUFFIX = ".jsonl"


def _hex_trace_id(value: int) -> str:
    return f"{value:032x}"


def _hex_span_id(value: int) -> str:
    return f"{value:016x}"


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """The JSON form of one finished span (ids in hex, as W3C traceparent and the logs write them)."""
    context = span.get_span_context()
    parent = span.parent
    return {
        "service": str(span.resource.attributes.get("service.name", "")),
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": _hex_trace_id(context.trace_id) if context else "",
        "span_id": _hex_span_id(context.span_id) if context else "",
        "parent_span_id": _hex_span_id(parent.span_id) if parent else None,
        "parent_remote": bool(parent.is_remote) if parent else False,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "events": [event.name for event in span.events],
    }


class JsonLinesTestSpanExporter(SpanExporter):
    """Appends each finished span as one JSON line to `path` (tests only; see the module doc)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(
            json.dumps(span_record(span), ensure_ascii=False, default=str) + "\n" for span in spans
        )
        with self._lock, self._path.open("a", encoding="utf-8") as handle:
            handle.write(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing held open between exports."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class RecordedSpan:
    """A span read back from the test files."""

    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    status: str
    attributes: dict[str, Any]
    start_ns: int
    end_ns: int


def read_span_files(directory: Path) -> list[RecordedSpan]:
    """Every span every process wrote under `directory` so far (a partly written line is skipped)."""
    spans: list[RecordedSpan] = []
    for path in sorted(directory.glob(f"*{SPAN_FILE_SUFFIX}")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                continue
            spans.append(
                RecordedSpan(
                    service=raw["service"],
                    name=raw["name"],
                    kind=raw["kind"],
                    trace_id=raw["trace_id"],
                    span_id=raw["span_id"],
                    parent_span_id=raw["parent_span_id"],
                    status=raw["status"],
                    attributes=raw["attributes"],
                    start_ns=raw["start_ns"] or 0,
                    end_ns=raw["end_ns"] or 0,
                )
            )
    return spans
