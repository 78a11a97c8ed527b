"""Ask latency and throughput through the real path: HTTP → gateway → gRPC → retrieval → vector store.

`run_ask_benchmark(base_url, api_key, unit)` returns, for each concurrency, p50/p95/p99 latency (ms),
throughput (answers per second), and counts of errors and rate-limited replies. `make bench` calls
it against a running stack; `python -m stack.bench.asks --url ... --key ... --unit ...` does
the same by hand. Every level sends a bounded number of requests, then stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from typing import Any

import httpx

DEFAULT_CONCURRENCIES = (1, 4, 16)
DEFAULT_REQUESTS_PER_LEVEL = 64
WARMUP_REQUESTS = 4
REQUEST_TIMEOUT_SECONDS = 60.0
MILLISECONDS = 1000.0
PERCENTILES = {"p50_ms": 50, "p95_ms": 95, "p99_ms": 99}
DEFAULT_QUESTIONS = (
    "Thời hạn cấp giấy phép hoạt động báo chí điện tử là bao lâu?",
    "Hồ sơ đề nghị cấp giấy phép gồm những giấy tờ gì?",
    "Trợ lý ảo phải trả lời được bao nhiêu phần trăm câu hỏi?",
    "Lệ phí cấp phép là bao nhiêu?",
)


def percentile(values: Sequence[float], percent: int) -> float:
    """The `percent`-th percentile (nearest rank) of `values`; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(percent / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def _level(
    client: httpx.AsyncClient, unit: str, questions: Sequence[str], *, concurrency: int, requests: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    rate_limited = 0
    answered = 0
    next_index = 0

    async def worker() -> None:
        nonlocal next_index, errors, rate_limited, answered
        while next_index < requests:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            try:
                reply = await client.post(
                    f"/v1/units/{unit}/ask", json={"question": questions[index % len(questions)]}
                )
            except httpx.HTTPError:
                errors += 1
                continue
            elapsed = (time.perf_counter() - started) * MILLISECONDS
            if reply.status_code == httpx.codes.OK:
                latencies.append(elapsed)
                answered += int(bool(reply.json().get("answered")))
            elif reply.status_code == httpx.codes.TOO_MANY_REQUESTS:
                rate_limited += 1
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    result: dict[str, Any] = {
        "concurrency": concurrency,
        "requests": requests,
        "ok": len(latencies),
        "answered": answered,
        "errors": errors,
        "rate_limited": rate_limited,
        "throughput_rps": round(len(latencies) / wall, 2) if wall > 0 else 0.0,
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else 0.0,
    }
    result.update({name: round(percentile(latencies, p), 1) for name, p in PERCENTILES.items()})
    return result


async def bench_ask(
    base_url: str,
    api_key: str,
    unit: str,
    *,
    concurrencies: Sequence[int] = DEFAULT_CONCURRENCIES,
    requests_per_level: int = DEFAULT_REQUESTS_PER_LEVEL,
    questions: Sequence[str] = DEFAULT_QUESTIONS,
) -> dict[str, Any]:
    """Measure ask latency and throughput at each concurrency (after a short warm-up)."""
    limits = httpx.Limits(max_connections=max(concurrencies), max_keepalive_connections=max(concurrencies))
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=REQUEST_TIMEOUT_SECONDS,
        limits=limits,
    ) as client:
        await _level(client, unit, questions, concurrency=1, requests=WARMUP_REQUESTS)
        levels = [
            await _level(client, unit, questions, concurrency=c, requests=requests_per_level)
            for c in concurrencies
        ]
    return {"path": "HTTP → gateway → gRPC → retrieval → vector store", "unit": unit, "levels": levels}


def run_ask_benchmark(base_url: str, api_key: str, unit: str, **options: Any) -> dict[str, Any]:
    """Synchronous entry point for `make bench`."""
    return asyncio.run(bench_ask(base_url, api_key, unit, **options))


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m stack.bench.asks --url URL --key KEY --unit UNIT`: prints JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--unit", required=True)
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS_PER_LEVEL)
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(DEFAULT_CONCURRENCIES))
    args = parser.parse_args(argv)
    result = run_ask_benchmark(
        args.url, args.key, args.unit, concurrencies=args.concurrency, requests_per_level=args.requests
    )
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
