"""Asks with 1 retrieval worker against N, on the same data, back to back.

`python -m stack.bench.workers [--chunks 10000] [--workers 1,2] [--rounds 2]` imports ~`chunks`
chunks of the eval corpora over 34 units once (the staged bench's workload, lexical engine), then
restarts the same data dir with each worker count in turn, `rounds` times interleaved (1, 2, 1, 2):
unit ownership needs no migration, each worker opens the shards of the units it owns. Each run
measures the staged bench's asks (p50/p95 at 1 client, asks/s at 4 and 16) and notes the load
average, since the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from services.ingest.entrypoints.operator_commands import ImportItem, bulk_import
from stack.bench.stack import (
    ASK_CONCURRENCIES,
    ASK_REQUESTS_PER_LEVEL,
    SEED,
    UNITS,
    WorkDocument,
    anonymous_total_mb,
    build_documents,
    create_units,
    fresh_stack,
    measure_asks,
    process_memory_mb,
    unit_chunks,
)
from stack.launcher import REPO_ROOT, Stack, StackPorts

DEFAULT_CHUNKS = 10_000
CHARS_PER_CHUNK_ESTIMATE = 700
IMPORTS_AT_ONCE = 4


def _stack(data_dir: Path, workers: int) -> Stack:
    return Stack(
        data_dir=data_dir,
        ports=StackPorts.free(),
        retrieval_workers=workers,
        extra_env={
            "TROLYAO_RETRIEVAL_EMBEDDER": "none",
            "TROLYAO_LOG_LEVEL": "WARNING",
            "TROLYAO_GATEWAY_RATE_LIMIT_PER_SECOND": "100000",
            "TROLYAO_GATEWAY_RATE_LIMIT_BURST": "100000",
        },
    )


def load(data_dir: Path, eval_dir: Path, target_chunks: int) -> tuple[list[tuple[str, str]], int]:
    """Import the workload once (one worker); returns the (unit, question) pairs and the chunks."""
    documents = build_documents(eval_dir)
    rng = random.Random(SEED)
    units = [f"bench-{index:02d}" for index in range(UNITS)]
    stack = fresh_stack(data_dir)
    placed: list[tuple[str, WorkDocument]] = []
    pending: dict[str, list[ImportItem]] = {}
    estimate = 0
    for document in documents:
        if estimate >= target_chunks:
            break
        unit = units[rng.randrange(UNITS)]
        pending.setdefault(unit, []).append(ImportItem(document.document_id, document.title, document.text))
        placed.append((unit, document))
        estimate += max(1, len(document.text) // CHARS_PER_CHUNK_ESTIMATE)
    stack.start()
    try:
        asyncio.run(create_units(stack, units))

        async def ingest_all() -> None:
            # A few units at a time: 34 importers at once time out on a loaded shared machine.
            slots = asyncio.Semaphore(IMPORTS_AT_ONCE)

            async def one(unit: str, items: list[ImportItem]) -> None:
                async with slots:
                    await bulk_import(stack.nats_url, unit, items, source="bench", show_progress=False)

            await asyncio.gather(*(one(unit, items) for unit, items in pending.items()))

        asyncio.run(ingest_all())
        chunks = unit_chunks(stack, units)
    finally:
        stack.stop()
    questions = [(unit, question) for unit, document in placed for question in document.questions]
    return questions or [(unit, document.title) for unit, document in placed], chunks


def cpu_seconds(stack: Stack, prefix: str) -> float:
    """CPU time (user + system) of the stack's processes whose name starts with `prefix`."""
    total = 0.0
    for name, process in stack.processes.items():
        if name.startswith(prefix):
            times = psutil.Process(process.pid).cpu_times()
            total += times.user + times.system
    return total


def measure(data_dir: Path, workers: int, questions: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The staged bench's asks at every concurrency, with the CPU each ask cost retrieval (all its
    workers) and the gateway: the kernel's counters, which the shared machine's load does not skew
    the way it skews latency."""
    stack = _stack(data_dir, workers)
    stack.start()
    try:
        asks: dict[str, dict[str, float]] = {}
        for concurrency in ASK_CONCURRENCIES:
            before = {part: cpu_seconds(stack, part) for part in ("retrieval", "gateway")}
            level = asyncio.run(
                measure_asks(stack, questions, concurrency=concurrency, requests=ASK_REQUESTS_PER_LEVEL)
            )
            for part in ("retrieval", "gateway"):
                spent = cpu_seconds(stack, part) - before[part]
                level[f"{part}_cpu_ms_per_ask"] = round(spent / ASK_REQUESTS_PER_LEVEL * 1000, 1)
            asks[str(concurrency)] = level
        memory = process_memory_mb(stack)
    finally:
        stack.stop()
    return {
        "workers": workers,
        "asks": asks,
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "anonymous_stack_mb": anonymous_total_mb(memory),
        "anonymous_retrieval_mb": round(
            sum(values["anonymous"] for name, values in memory.items() if name.startswith("retrieval")), 1
        ),
    }


def render(runs: Sequence[dict[str, Any]], chunks: int) -> str:
    lines = [
        f"{chunks:,} chunks over {UNITS} units, lexical engine",
        "| retrieval workers | ask c=1 p50/p95 ms | asks/s c=4 | asks/s c=16 (p50 ms) | errors | "
        "CPU ms per ask c=16: retrieval, gateway | anon retrieval MB | load average (1/5/15 min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        asks = run["asks"]
        errors = sum(int(level["errors"]) for level in asks.values())
        lines.append(
            f"| {run['workers']} | {asks['1']['p50_ms']}/{asks['1']['p95_ms']} | "
            f"{asks['4']['requests_per_second']} | {asks['16']['requests_per_second']} "
            f"({asks['16']['p50_ms']}) | {errors} | {asks['16']['retrieval_cpu_ms_per_ask']}, "
            f"{asks['16']['gateway_cpu_ms_per_ask']} | {run['anonymous_retrieval_mb']} | "
            f"{'/'.join(str(value) for value in run['load_average'])} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--eval-dir", default=str(REPO_ROOT.parent / "shared" / "eval"))
    parser.add_argument("--data-dir", default=str(REPO_ROOT / "data" / "bench-workers"))
    parser.add_argument("--chunks", type=int, default=DEFAULT_CHUNKS)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, comma separated")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of every worker count")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench-results"))
    parser.add_argument("--reuse", action="store_true", help="measure the data dir a previous run imported")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir).resolve()
    counts = [int(value) for value in args.workers.split(",")]
    workload = data_dir.with_name(data_dir.name + "-workload.json")
    if args.reuse and workload.exists():
        saved = json.loads(workload.read_text(encoding="utf-8"))
        questions, chunks = [(unit, question) for unit, question in saved["questions"]], saved["chunks"]
    else:
        print(f"importing ~{args.chunks:,} chunks into {data_dir} ...", flush=True)
        questions, chunks = load(data_dir, Path(args.eval_dir), args.chunks)
        workload.write_text(json.dumps({"questions": questions, "chunks": chunks}), encoding="utf-8")
    runs = []
    for round_index in range(args.rounds):
        for workers in counts:
            print(f"round {round_index + 1}: {workers} retrieval worker(s) ...", flush=True)
            runs.append(measure(data_dir, workers, questions))
            print(render(runs[-1:], chunks), flush=True)
    print("\n" + render(runs, chunks))
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / f"bench-workers-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps({"chunks": chunks, "runs": runs}, indent=2), encoding="utf-8")
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
