"""Fixtures of the security tests: real nats-server, real ops gRPC server, real gateway on uvicorn.

Ops and the gateway run in one background event loop (a thread), so tests stay plain synchronous
functions talking HTTP with httpx. Both share a `FakeClock`: TOTP steps, lockouts, token lifetimes
and step-up freshness move when a test advances it, never by sleeping. Every test makes its own
accounts and units (unique names), so tests share the servers and never depend on each other.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pyotp
import pytest
import uvicorn
from pydantic import SecretStr

from services.gateway.entrypoints.app import create_app
from services.gateway.settings import GatewaySettings
from services.ops.bootstrap import OpsApp, bootstrap
from services.ops.identity.use_cases.security import SecurityHandlers
from services.ops.settings import OpsSettings
from stack.natsserver import free_port
from tests.support import unique_unit

T = TypeVar("T")

TOTP_STEP_SECONDS = 30
RUN_TIMEOUT_SECONDS = 30.0
START_TIMEOUT_SECONDS = 20.0
POLL_SECONDS = 0.02
LOCKOUT_THRESHOLD = 4
LOCKOUT_SECONDS = 120
ADDRESS_THRESHOLD = 10_000
ACCESS_TTL_SECONDS = 3_600
STEP_UP_MAX_AGE_SECONDS = 300
HTTP_TIMEOUT_SECONDS = 15.0


class FakeClock:
    """Unix time that only moves when told to (starts at the real time)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class LoopThread:
    """An asyncio loop in a daemon thread; `run` executes a coroutine there and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="auth-stack-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = RUN_TIMEOUT_SECONDS) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


@dataclass
class User:
    """A test account and what its owner knows (password, authenticator secret, recovery codes)."""

    username: str
    password: str
    role: str
    units: list[str]
    secret: str = ""
    recovery_codes: list[str] = field(default_factory=list)
    access_token: str = ""
    refresh_token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@dataclass
class AuthStack:
    runner: LoopThread
    ops: OpsApp
    clock: FakeClock
    gateway_url: str
    settings: OpsSettings
    bootstrap_key: str

    @property
    def security(self) -> SecurityHandlers:
        assert self.ops.security is not None
        return self.ops.security

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway_url, timeout=HTTP_TIMEOUT_SECONDS)

    def next_code(self, user: User) -> str:
        """Move to the next TOTP step (so no code is a replay) and return the code for it."""
        self.clock.advance(TOTP_STEP_SECONDS)
        return pyotp.TOTP(user.secret).at(self.clock())

    def code_at(self, user: User, offset_seconds: float) -> str:
        return pyotp.TOTP(user.secret).at(self.clock() + offset_seconds)

    def new_unit(self) -> str:
        unit = unique_unit("sec")
        self.run(self.ops.handlers.put_unit(unit, "Đơn vị thử nghiệm bảo mật"))
        return unit

    def create_admin(self) -> User:
        """A ministry admin as the CLI makes one (pending authenticator), enrolled and logged in."""
        user = User(
            username=f"qt.{secrets.token_hex(4)}",
            password=secrets.token_urlsafe(16),
            role="ministry_admin",
            units=[],
        )
        _, enrolment = self.run(
            self.security.create_first_admin(
                username=user.username,
                display_name="Quản trị thử",
                password=user.password,
                allow_additional=True,
            )
        )
        user.secret = enrolment.secret
        with self.client() as http:
            step = http.post("/v1/auth/login", json={"username": user.username, "password": user.password})
            assert step.status_code == 200, step.text
            assert step.json()["next"] == "enrol"
            confirmed = http.post(
                "/v1/auth/enrolment/confirm",
                json={"challenge_id": step.json()["challenge_id"], "code": self.next_code(user)},
            )
            assert confirmed.status_code == 200, confirmed.text
        self._take_tokens(user, confirmed.json()["tokens"])
        user.recovery_codes = confirmed.json()["recovery_codes"]
        return user

    def create_user(self, admin: User, *, role: str, units: list[str], enrol: bool = True) -> User:
        """An account made by `admin` through the gateway; enrolled (QR flow) and logged in if `enrol`."""
        self.step_up(admin)
        username = f"cb.{secrets.token_hex(4)}"
        with self.client() as http:
            created = http.post(
                "/v1/accounts",
                headers=admin.headers,
                json={"username": username, "display_name": "Cán bộ thử", "role": role, "units": units},
            )
            assert created.status_code == 201, created.text
            assert created.headers["Location"] == f"/v1/accounts/{username}"
        user = User(username=username, password=created.json()["initial_password"], role=role, units=units)
        if enrol:
            self.enrol_and_login(user)
        return user

    def enrol_and_login(self, user: User) -> None:
        with self.client() as http:
            step = http.post("/v1/auth/login", json={"username": user.username, "password": user.password})
            assert step.status_code == 200, step.text
            challenge = step.json()["challenge_id"]
            if step.json()["next"] == "done":
                self._take_tokens(user, step.json()["tokens"])
                started = http.post("/v1/auth/enrolment/start", json={}, headers=user.headers)
                assert started.status_code == 200, started.text
                user.secret = started.json()["secret"]
                confirmed = http.post(
                    "/v1/auth/enrolment/confirm", json={"code": self.next_code(user)}, headers=user.headers
                )
                assert confirmed.status_code == 200, confirmed.text
                user.recovery_codes = confirmed.json()["recovery_codes"]
                self.login(user)
                return
            assert step.json()["next"] == "enrol", step.text
            started = http.post("/v1/auth/enrolment/start", json={"challenge_id": challenge})
            assert started.status_code == 200, started.text
            user.secret = started.json()["secret"]
            confirmed = http.post(
                "/v1/auth/enrolment/confirm", json={"challenge_id": challenge, "code": self.next_code(user)}
            )
            assert confirmed.status_code == 200, confirmed.text
        user.recovery_codes = confirmed.json()["recovery_codes"]
        self._take_tokens(user, confirmed.json()["tokens"])

    def login(self, user: User) -> None:
        """Password, then a fresh TOTP code; keeps the tokens on `user`."""
        with self.client() as http:
            step = http.post("/v1/auth/login", json={"username": user.username, "password": user.password})
            assert step.status_code == 200, step.text
            assert step.json()["next"] == "otp", step.text
            done = http.post(
                "/v1/auth/login/otp",
                json={"challenge_id": step.json()["challenge_id"], "code": self.next_code(user)},
            )
            assert done.status_code == 200, done.text
        self._take_tokens(user, done.json()["tokens"])

    def step_up(self, user: User) -> None:
        with self.client() as http:
            stepped = http.post("/v1/auth/step-up", headers=user.headers, json={"code": self.next_code(user)})
            assert stepped.status_code == 200, stepped.text
        user.access_token = stepped.json()["access_token"]

    @staticmethod
    def _take_tokens(user: User, tokens: dict[str, Any]) -> None:
        user.access_token = tokens["access_token"]
        user.refresh_token = tokens["refresh_token"]

    def raw_stream_payloads(self, stream: str) -> list[bytes]:
        """Every stored message of a stream (a KV bucket's whole history), as raw bytes."""

        async def read() -> list[bytes]:
            js = self.ops.nats.jetstream()
            info = await js.stream_info(stream)
            payloads: list[bytes] = []
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                with contextlib.suppress(Exception):  # deleted or expired sequences
                    message = await js.get_msg(stream, sequence)
                    payloads.append(message.data or b"")
            return payloads

        return self.run(read())


@pytest.fixture(scope="session")
def auth_stack(nats_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthStack]:
    """Ops (in-process gRPC) and the gateway (uvicorn) against the session's nats-server."""
    data_dir: Path = tmp_path_factory.mktemp("auth-stack")
    clock = FakeClock(time.time())
    runner = LoopThread()
    settings = OpsSettings(
        nats_url=nats_server,
        data_dir=data_dir,
        listen="127.0.0.1:0",
        units_file=data_dir / "no-units.yaml",
        secret_key=SecretStr(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()),
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        access_token_ttl_seconds=ACCESS_TTL_SECONDS,
        lockout_account_threshold=LOCKOUT_THRESHOLD,
        lockout_address_threshold=ADDRESS_THRESHOLD,
        lockout_seconds=LOCKOUT_SECONDS,
        step_up_max_age_seconds=STEP_UP_MAX_AGE_SECONDS,
    )
    ops = runner.run(bootstrap(settings, clock=clock))
    bootstrap_key = "tly_bootstrap_" + secrets.token_urlsafe(24)
    app = create_app(
        GatewaySettings(
            nats_url=nats_server,
            ops_addr=f"127.0.0.1:{ops.port}",
            retrieval_addr=f"127.0.0.1:{free_port()}",
            bootstrap_api_key=bootstrap_key,
        )
    )
    verifier = getattr(app.state, "access_token_verifier", None)
    assert verifier is not None, (
        "create_app must keep its AccessTokenVerifier on app.state.access_token_verifier"
    )
    verifier.clock = clock
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")
    )
    serving = asyncio.run_coroutine_threadsafe(server.serve(), runner.loop)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    backends = app.state.backends
    while not (server.started and backends.nats is not None and backends.nats.is_connected):
        if serving.done() or time.monotonic() > deadline:
            raise RuntimeError(
                f"gateway did not start: {serving.exception() if serving.done() else 'timeout'}"
            )
        time.sleep(POLL_SECONDS)
    stack = AuthStack(
        runner=runner,
        ops=ops,
        clock=clock,
        gateway_url=f"http://127.0.0.1:{port}",
        settings=settings,
        bootstrap_key=bootstrap_key,
    )
    try:
        yield stack
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            serving.result(timeout=10)
        with contextlib.suppress(Exception):
            runner.run(ops.stop(grace=0.5))
        runner.stop()


@pytest.fixture
def admin(auth_stack: AuthStack) -> User:
    """A fresh ministry admin, enrolled and logged in."""
    return auth_stack.create_admin()
