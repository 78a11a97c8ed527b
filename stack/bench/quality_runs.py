"""How long a unit's test run takes: import the questions as a spreadsheet, start a run, wait.

The issue's bar: a run of 500 questions finishes within a minute on 2 cores.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from typing import Any

import httpx

RUN_POLL_SECONDS = 0.5
RUN_TIMEOUT_SECONDS = 600.0
HTTP_TIMEOUT_SECONDS = 60.0
SHEET_HEADER = ["Câu hỏi", "Văn bản"]


def _sheet(questions: Sequence[tuple[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SHEET_HEADER)
    writer.writerows(questions)
    return buffer.getvalue().encode("utf-8")


def measure_test_run(
    base_url: str, api_key: str, unit: str, questions: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """Import (question, expected document id) pairs into `unit`, run them, and time the run."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS) as http:
        imported = http.post(
            f"/v1/units/{unit}/test-questions/import",
            files={"file": ("bench.csv", _sheet(questions), "text/csv")},
        )
        imported.raise_for_status()
        started = time.perf_counter()
        reply = http.post(f"/v1/units/{unit}/test-runs")
        reply.raise_for_status()
        location = reply.headers["location"]
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        run: dict[str, Any] = reply.json()
        while run["status"] == "running" and time.monotonic() < deadline:
            time.sleep(RUN_POLL_SECONDS)
            run = http.get(location).json()
        seconds = time.perf_counter() - started
    return {
        "questions": run["question_count"],
        "status": run["status"],
        "seconds": round(seconds, 2),
        "questions_per_second": round(run["question_count"] / seconds, 1) if seconds else None,
        "correct_rate": run.get("correct_rate"),
    }


__all__ = ["measure_test_run"]
