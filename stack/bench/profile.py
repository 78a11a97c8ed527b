"""Where the CPU time of one ask goes: the real stack, a sampling profiler, a per-stage table.

    python -m stack.bench.profile [--sets alqac-2022,alqac-2025,vicov19qa] [--asks 400]

Starts a private embedded stack (lexical engine), imports the chosen eval corpora into one unit
through the events (the same path as `trolyao import`), then asks that unit the sets' dev questions
one at a time through the gateway (HTTP → gRPC → retrieval → Qdrant Edge) while py-spy samples the
retrieval and gateway processes. It reports each process's CPU per ask (from the kernel's counters)
and splits the retrieval process's samples into the stages of an ask. docs/performance.md holds the
published breakdown. Without py-spy only the per-process CPU is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil

from services.ingest.entrypoints.operator_commands import bulk_import, corpus_items
from stack.bench.peer import measure_haystack, ratio
from stack.bench.stack import fresh_stack, process_memory_mb
from stack.launcher import REPO_ROOT, Stack

UNIT = "profile"
DEFAULT_SETS = "alqac-2022,alqac-2025,vicov19qa"
DEFAULT_ASKS = 400
SAMPLE_RATE_HZ = 200
# Haystack's in-memory BM25 scores every passage in Python (~0.25 s a query at 9k passages here).
PEER_QUESTIONS = 100
MILLISECONDS = 1000.0
# Innermost frame first: the first rule whose marker occurs in a frame names the stage.
STAGE_RULES: tuple[tuple[str, str], ...] = (
    ("vectorstore_edge.py", "vector store (Qdrant Edge search + payload → chunk)"),
    ("diacritics.py", "query: diacritic restoration"),
    ("best_faq_match", "FAQ match"),
    ("compose (", "composer (sentence choice)"),
    ("verify (", "verifier"),
    ("_best_sentence", "search: sentence features"),
    ("candidates (", "search: fusion + candidate features"),
    ("_query (", "query: terms + IDF"),
    ("_citations", "citations"),
    ("_abstain", "citations"),
    ("_answer_to_proto", "gRPC: answer → wire"),
    ("grpc_server.py", "gRPC servicer (auth, telemetry, wire)"),
    ("telemetry", "telemetry (spans, metrics)"),
    ("grpc/", "gRPC runtime"),
)
OTHER_STAGE = "other (gRPC runtime, threads, logging)"


def stage_of(stack: str) -> str:
    """The stage a collapsed py-spy stack (outermost;…;innermost) belongs to."""
    for frame in reversed(stack.split(";")):
        for marker, stage in STAGE_RULES:
            if marker in frame:
                return stage
    return OTHER_STAGE


def stage_breakdown(collapsed: str) -> Counter[str]:
    """Samples per stage from py-spy's raw (collapsed) output."""
    samples: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples[stage_of(stack)] += int(count)
    return samples


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _questions(eval_dir: Path, sets: Sequence[str]) -> list[str]:
    questions: list[str] = []
    for name in sets:
        path = eval_dir / name / "questions.jsonl"
        with path.open(encoding="utf-8") as lines:
            questions += [json.loads(line)["question"] for line in lines if line.strip()]
    return questions


async def _ask_all(stack: Stack, questions: Sequence[str]) -> list[float]:
    """Latencies of the answered asks (a failed one, e.g. a 503 on an overloaded machine, is left out)."""
    latencies: list[float] = []
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=60.0
    ) as client:
        for question in questions:
            started = time.perf_counter()
            reply = await client.post(f"/v1/units/{UNIT}/ask", json={"question": question})
            if reply.status_code == httpx.codes.OK:
                latencies.append((time.perf_counter() - started) * MILLISECONDS)
    return latencies


async def _load(stack: Stack, eval_dir: Path, sets: Sequence[str]) -> int:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=30.0
    ) as client:
        (await client.put(f"/v1/units/{UNIT}", json={"name": "Đơn vị đo hiệu năng"})).raise_for_status()
    documents = 0
    for name in sets:
        items = list(corpus_items(eval_dir / name / "corpus.jsonl"))
        report = await bulk_import(stack.nats_url, UNIT, items, source="profile", show_progress=False)
        documents += len(items) - len(report.failed)
    return documents


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)


def profile(
    *, eval_dir: Path, data_dir: Path, sets: Sequence[str], asks: int, out_dir: Path
) -> dict[str, Any]:
    """Run the workload; returns the per-process CPU per ask and the retrieval stage breakdown."""
    stack = fresh_stack(data_dir)
    stack.start()
    try:
        documents = asyncio.run(_load(stack, eval_dir, sets))
        pool = _questions(eval_dir, sets)
        questions = [pool[index % len(pool)] for index in range(asks)]
        asyncio.run(_ask_all(stack, questions[:20]))  # warm caches and connections
        pids = {name: stack.processes[name].pid for name in ("retrieval", "gateway")}
        spy = _py_spy()
        recorders: dict[str, subprocess.Popen[bytes]] = {}
        out_dir.mkdir(parents=True, exist_ok=True)
        if spy:
            for name, pid in pids.items():
                recorders[name] = subprocess.Popen(
                    [
                        spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        str(SAMPLE_RATE_HZ),
                        "--format",
                        "raw",
                        "--output",
                        str(out_dir / f"{name}.collapsed"),
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            time.sleep(1.0)
        before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        latencies = asyncio.run(_ask_all(stack, questions))
        after = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        memory = process_memory_mb(stack)
        for recorder in recorders.values():
            recorder.send_signal(2)  # SIGINT: py-spy writes its output and exits
            recorder.wait(timeout=30)
        breakdown: dict[str, Any] = {}
        collapsed = out_dir / "retrieval.collapsed"
        if collapsed.exists():
            samples = stage_breakdown(collapsed.read_text(encoding="utf-8"))
            total = sum(samples.values()) or 1
            retrieval_ms = (after["retrieval"] - before["retrieval"]) * MILLISECONDS / len(questions)
            breakdown = {
                stage: {
                    "ms": round(retrieval_ms * count / total, 2),
                    "percent": round(100 * count / total, 1),
                }
                for stage, count in samples.most_common()
            }
    finally:
        stack.stop()
    corpus = [
        (item.document_id, item.text or "")
        for name in sets
        for item in corpus_items(eval_dir / name / "corpus.jsonl")
    ]
    peer = measure_haystack({UNIT: corpus}, [(UNIT, question) for question in questions[:PEER_QUESTIONS]])
    return {
        "sets": list(sets),
        "documents": documents,
        "asks": len(questions),
        "failed": len(questions) - len(latencies),
        "ask_p50_ms": _percentile(latencies, 0.5),
        "ask_p95_ms": _percentile(latencies, 0.95),
        "cpu_ms_per_ask": {
            name: round((after[name] - before[name]) * MILLISECONDS / len(questions), 2) for name in pids
        },
        "retrieval_stages": breakdown,
        "memory_mb": memory,
        "peer": peer,
        "ask_p50_over_peer_p50": ratio(_percentile(latencies, 0.5), peer),
    }


def render(report: dict[str, Any]) -> str:
    lines = [
        f"{report['asks']} asks ({report['failed']} failed), one at a time, "
        f"unit of {report['documents']:,} documents "
        f"({', '.join(report['sets'])}): p50 {report['ask_p50_ms']} ms, p95 {report['ask_p95_ms']} ms",
        "CPU ms per ask: " + ", ".join(f"{k} {v}" for k, v in report["cpu_ms_per_ask"].items()),
        "memory MB (anonymous / PSS / RSS): "
        + ", ".join(f"{k} {v['anonymous']}/{v['pss']}/{v['rss']}" for k, v in report["memory_mb"].items()),
        f"peer: {report['peer']}; our ask p50 ÷ peer p50: {report['ask_p50_over_peer_p50']}",
    ]
    if report["retrieval_stages"]:
        lines += ["", "| retrieval stage | CPU ms per ask | share |", "|---|---|---|"]
        lines += [
            f"| {stage} | {value['ms']} | {value['percent']}% |"
            for stage, value in report["retrieval_stages"].items()
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--eval-dir", default=str(REPO_ROOT.parent / "shared" / "eval"))
    parser.add_argument("--sets", default=DEFAULT_SETS)
    parser.add_argument("--asks", type=int, default=DEFAULT_ASKS)
    parser.add_argument("--data-dir", default=str(REPO_ROOT / "data" / "profile-stack"))
    parser.add_argument("--output", default=str(REPO_ROOT / "bench-results" / "profile"))
    args = parser.parse_args(argv)
    report = profile(
        eval_dir=Path(args.eval_dir).resolve(),
        data_dir=Path(args.data_dir).resolve(),
        sets=[name for name in args.sets.split(",") if name],
        asks=args.asks,
        out_dir=Path(args.output),
    )
    (Path(args.output) / "profile.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(render(report))


if __name__ == "__main__":
    main()
