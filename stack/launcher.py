"""Start the whole embedded stack as separate OS processes on loopback.

Used by `make run` (through `trolyao run`), by the end-to-end tests and by the benchmarks, so that
what is tested is exactly what runs: the real nats-server with JetStream, then retrieval (one or
more worker processes, each owning a share of the units: trolyao/routing.py) and ops (gRPC), ingest
(a durable JetStream consumer) and the gateway (FastAPI on uvicorn).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.ops.identity.adapters.nats_users import NatsAuth
from stack.natsserver import free_port, nats_server_command, port_open
from trolyao.natsaccess import OPERATOR, OPS, SERVICE_IDENTITIES
from trolyao.routing import owner_address
from trolyao.settings import DEFAULT_METRICS_PORTS

REPO_ROOT = Path(__file__).resolve().parent.parent
RETRIEVAL = "retrieval"
RETRIEVAL_WORKERS_VARIABLE = "TROLYAO_RETRIEVAL_WORKERS"
DEFAULT_RETRIEVAL_WORKERS = 1  # private stacks (tests, bench) unless told otherwise
MAX_AUTO_RETRIEVAL_WORKERS = 4
SERVICE_ORDER = ("nats", "retrieval", "ops", "ingest", "gateway")
STOP_GRACE_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 0.2
BOOTSTRAP_KEY_FILE = "bootstrap-api-key"
SERVICE_TOKEN_FILE = "service-token"
NATS_AUTH_DIR = "nats-auth"
NATS_STORE_DIR = "nats"


@dataclass
class StackPorts:
    nats: int = 4222
    retrieval: int = 50051
    ops: int = 50052
    gateway: int = 8080
    # Each service's own Prometheus listener (loopback); the gateway's public /metrics needs a token.
    retrieval_metrics: int = DEFAULT_METRICS_PORTS["retrieval"]
    ingest_metrics: int = DEFAULT_METRICS_PORTS["ingest"]
    ops_metrics: int = DEFAULT_METRICS_PORTS["ops"]
    gateway_metrics: int = DEFAULT_METRICS_PORTS["gateway"]

    @classmethod
    def free(cls) -> StackPorts:
        return cls(
            nats=free_port(),
            retrieval=free_port(),
            ops=free_port(),
            gateway=free_port(),
            retrieval_metrics=free_port(),
            ingest_metrics=free_port(),
            ops_metrics=free_port(),
            gateway_metrics=free_port(),
        )

    def metrics_urls(self) -> dict[str, str]:
        """Where each service's Prometheus metrics are read (each on its own loopback listener)."""
        ports = {
            "gateway": self.gateway_metrics,
            "retrieval": self.retrieval_metrics,
            "ingest": self.ingest_metrics,
            "ops": self.ops_metrics,
        }
        return {name: f"http://127.0.0.1:{port}/metrics" for name, port in ports.items() if port}


def default_retrieval_workers() -> int:
    """TROLYAO_RETRIEVAL_WORKERS if set, else DEFAULT_RETRIEVAL_WORKERS (docs/performance.md)."""
    value = os.environ.get(RETRIEVAL_WORKERS_VARIABLE, "").strip()
    workers = int(value) if value else DEFAULT_RETRIEVAL_WORKERS
    if workers < 1:
        raise ValueError(f"{RETRIEVAL_WORKERS_VARIABLE} must be at least 1, got {workers}")
    return workers


def run_retrieval_workers() -> int:
    """What `trolyao run` (make run) starts: TROLYAO_RETRIEVAL_WORKERS if set, else one worker per
    core, at most MAX_AUTO_RETRIEVAL_WORKERS (docs/performance.md: asks/s grow with the cores at
    the same CPU per ask; each worker costs its own interpreter and caches)."""
    if os.environ.get(RETRIEVAL_WORKERS_VARIABLE, "").strip():
        return default_retrieval_workers()
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_RETRIEVAL_WORKERS))


def retrieval_worker_key(index: int) -> str:
    """The process name of retrieval worker `index`: worker 0 keeps the plain name."""
    return RETRIEVAL if index == 0 else f"{RETRIEVAL}-w{index}"


def bootstrap_api_key(data_dir: Path) -> str:
    """TROLYAO_BOOTSTRAP_API_KEY if set; otherwise the key kept under the data dir (made once)."""
    given = os.environ.get("TROLYAO_BOOTSTRAP_API_KEY", "")
    if given:
        return given
    path = data_dir / BOOTSTRAP_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = "tly_bootstrap_" + secrets.token_urlsafe(32)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def service_token(data_dir: Path) -> str:
    """The shared secret of gRPC calls between services, kept under the data dir (made once)."""
    path = data_dir / SERVICE_TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    return token


def nats_auth(data_dir: Path) -> NatsAuth:
    """The NATS identities and unit credentials of the stack whose data is in `data_dir`."""
    return NatsAuth(data_dir / NATS_AUTH_DIR)


def nats_config_dir(data_dir: Path) -> Path:
    return data_dir / NATS_STORE_DIR


@dataclass
class Stack:
    """The processes of the embedded stack, and how to start, kill and restart each.

    Retrieval runs as `retrieval_workers` processes (unit ownership, trolyao/routing.py): worker 0
    on `ports.retrieval` (process name "retrieval"), the others on free ports ("retrieval-w1", ...);
    every client is given all their addresses."""

    data_dir: Path
    ports: StackPorts = field(default_factory=StackPorts)
    api_key: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    retrieval_workers: int = field(default_factory=default_retrieval_workers)
    retrieval_ports: list[int] = field(default_factory=list)
    retrieval_metrics_ports: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.api_key = self.api_key or bootstrap_api_key(self.data_dir)
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        if self.retrieval_workers < 1:
            raise ValueError(f"retrieval_workers must be at least 1, got {self.retrieval_workers}")
        extra = range(1, self.retrieval_workers)
        self.retrieval_ports = self.retrieval_ports or [self.ports.retrieval, *(free_port() for _ in extra)]
        metrics = self.ports.retrieval_metrics
        self.retrieval_metrics_ports = self.retrieval_metrics_ports or [
            metrics,
            *((free_port() if metrics else 0) for _ in extra),
        ]

    @property
    def retrieval_addresses(self) -> list[str]:
        """Every retrieval worker's address, worker 0 first."""
        return [f"127.0.0.1:{port}" for port in self.retrieval_ports]

    def retrieval_address(self, unit: str) -> str:
        """The address of the retrieval worker that owns `unit`."""
        return owner_address(unit, self.retrieval_addresses)

    def metrics_urls(self) -> dict[str, str]:
        """Each process's Prometheus metrics, every retrieval worker's included."""
        urls = self.ports.metrics_urls()
        for key, port in zip(self.retrieval_keys[1:], self.retrieval_metrics_ports[1:], strict=True):
            if port:
                urls[key] = f"http://127.0.0.1:{port}/metrics"
        return urls

    @property
    def retrieval_keys(self) -> list[str]:
        """The process names of the retrieval workers."""
        return [retrieval_worker_key(index) for index in range(self.retrieval_workers)]

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway}"

    @property
    def nats_server_url(self) -> str:
        """The server's address, with no credential (what the services are given)."""
        return f"nats://127.0.0.1:{self.ports.nats}"

    @property
    def nats_url(self) -> str:
        """The operator's URL: it carries the operator identity (every subject)."""
        return self.nats_auth.operator_url(self.nats_server_url)

    @property
    def service_token(self) -> str:
        """What every gRPC call to retrieval and ops must carry (operator tools and tests too)."""
        return service_token(self.data_dir)

    @property
    def nats_auth(self) -> NatsAuth:
        return nats_auth(self.data_dir)

    def service_environment(self, name: str) -> dict[str, str]:
        """The service's own NATS identity and the shared gRPC service token."""
        env = {"TROLYAO_SERVICE_TOKEN": self.service_token}
        if name in SERVICE_IDENTITIES:
            env |= {"TROLYAO_NATS_USER": name, "TROLYAO_NATS_PASSWORD": self.nats_auth.password(name)}
        else:  # nats-server itself needs no NATS identity
            env |= {"TROLYAO_NATS_USER": "", "TROLYAO_NATS_PASSWORD": ""}
        if name == OPS:
            # Ops issues and revokes units' event credentials for the API: it rewrites the server's
            # users file and signals the server to reload it, as the admin CLI does.
            env |= {
                "TROLYAO_OPS_NATS_AUTH_DIR": str(self.nats_auth.directory),
                "TROLYAO_OPS_NATS_CONFIG_DIR": str(nats_config_dir(self.data_dir)),
            }
        return env

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "TROLYAO_DATA_DIR": str(self.data_dir),
                "TROLYAO_NATS_URL": self.nats_server_url,
                "TROLYAO_RETRIEVAL_ADDR": f"127.0.0.1:{self.ports.retrieval}",
                "TROLYAO_RETRIEVAL_ADDRESSES": ",".join(self.retrieval_addresses),
                RETRIEVAL_WORKERS_VARIABLE: str(self.retrieval_workers),
                "TROLYAO_RETRIEVAL_LISTEN": f"127.0.0.1:{self.ports.retrieval}",
                "TROLYAO_OPS_ADDR": f"127.0.0.1:{self.ports.ops}",
                "TROLYAO_OPS_LISTEN": f"127.0.0.1:{self.ports.ops}",
                "TROLYAO_OPS_UNITS_FILE": env.get(
                    "TROLYAO_OPS_UNITS_FILE", str(REPO_ROOT / "config" / "units.yaml")
                ),
                "TROLYAO_GATEWAY_PORT": str(self.ports.gateway),
                "TROLYAO_RETRIEVAL_TELEMETRY_METRICS_PORT": str(self.ports.retrieval_metrics),
                "TROLYAO_INGEST_TELEMETRY_METRICS_PORT": str(self.ports.ingest_metrics),
                "TROLYAO_OPS_TELEMETRY_METRICS_PORT": str(self.ports.ops_metrics),
                "TROLYAO_GATEWAY_TELEMETRY_METRICS_PORT": str(self.ports.gateway_metrics),
                "TROLYAO_BOOTSTRAP_API_KEY": self.api_key,
                # Tools run in this environment (admin CLI, drills) act as the operator; each
                # service process gets its own identity instead (service_environment).
                "TROLYAO_NATS_USER": OPERATOR,
                "TROLYAO_NATS_PASSWORD": self.nats_auth.password(OPERATOR),
                "PYTHONUNBUFFERED": "1",
                # Two cores: keep BLAS from spinning threads beside the gRPC workers.
                "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
                "OPENBLAS_NUM_THREADS": env.get("OPENBLAS_NUM_THREADS", "1"),
            }
        )
        env.update(self.extra_env)
        return env

    def command(self, name: str) -> list[str]:
        if name == "nats":
            return nats_server_command(
                port=self.ports.nats, store_dir=nats_config_dir(self.data_dir), auth=self.nats_auth
            )
        return [sys.executable, "-m", f"services.{name}"]

    def start_service(
        self, name: str, *, replica: str = "", env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start one process; `replica` starts another copy of a stateless service beside the first."""
        key = f"{name}-{replica}" if replica else name
        log = open(self.data_dir / "logs" / f"{key}.log", "ab")  # noqa: SIM115 - owned by the child
        environment = self.environment() | self.service_environment(name) | (env or {})
        process = subprocess.Popen(
            self.command(name), env=environment, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.processes[key] = process
        if name == "nats":
            self._wait(lambda: port_open("127.0.0.1", self.ports.nats), "nats")
        return process

    def start_retrieval_worker(self, index: int) -> subprocess.Popen[bytes]:
        """Start retrieval worker `index` on its own port, owning its share of the units."""
        port, metrics = self.retrieval_ports[index], self.retrieval_metrics_ports[index]
        return self.start_service(
            RETRIEVAL,
            replica=f"w{index}" if index else "",
            env={
                "TROLYAO_RETRIEVAL_WORKER_INDEX": str(index),
                "TROLYAO_RETRIEVAL_LISTEN": f"127.0.0.1:{port}",
                "TROLYAO_RETRIEVAL_TELEMETRY_METRICS_PORT": str(metrics),
            },
        )

    def start(self, *, wait: bool = True) -> None:
        for name in SERVICE_ORDER:
            if name == RETRIEVAL:
                for index in range(self.retrieval_workers):
                    self.start_retrieval_worker(index)
            else:
                self.start_service(name)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        self._wait(self.is_ready, "the stack", timeout)

    def is_ready(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}; see {self.log_path(name)}")
        try:
            return httpx.get(f"{self.gateway_url}/readyz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def log_path(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    def kill(self, name: str) -> None:
        """SIGKILL one process, as a crash would."""
        process = self.processes[name]
        process.kill()
        process.wait(timeout=10)

    def restart(self, name: str) -> None:
        if name in self.retrieval_keys:
            self.start_retrieval_worker(self.retrieval_keys.index(name))
        else:
            self.start_service(name)

    def stop(self) -> None:
        """SIGTERM every process, newest first (replicas, gateway, ..., nats last)."""
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def _wait(self, condition: object, what: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(condition) and condition():
                return
            time.sleep(POLL_SECONDS)
        raise TimeoutError(f"{what} not ready after {timeout:.0f}s; logs in {self.data_dir / 'logs'}")
