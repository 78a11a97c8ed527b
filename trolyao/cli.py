"""`trolyao` command line: run the stack, and the operator tools built on the public API."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import httpx

from trolyao.launcher import REPO_ROOT, Stack, StackPorts

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


def command_run(args: argparse.Namespace) -> int:
    data_dir = Path(os.environ.get("TROLYAO_DATA_DIR", "data"))
    ports = StackPorts(
        nats=int(os.environ.get("TROLYAO_NATS_PORT", "4222")),
        gateway=int(os.environ.get("TROLYAO_GATEWAY_PORT", "8080")),
    )
    stack = Stack(data_dir=data_dir, ports=ports)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trolyao", description="trolyao: trợ lý ảo cho các đơn vị")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the embedded stack with a demo unit")
    run.add_argument("--no-demo", action="store_true", help="do not load the demo unit")
    run.set_defaults(handler=command_run)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
