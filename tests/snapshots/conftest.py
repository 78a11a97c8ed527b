"""Fixtures of the snapshot tests: the real stack (five processes, real NATS) in its own data dir,
an admin HTTP client, and a ministry admin logged in with password + OTP (for restores)."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest

from stack.launcher import REPO_ROOT, Stack, StackPorts
from tests.support import FAST_STACK_ENV, bootstrap_client, started

POLL_SECONDS = 0.1
INDEX_TIMEOUT_SECONDS = 60.0
ADMIN_CLI_TIMEOUT_SECONDS = 60.0
SNAPSHOT_STACK_RETRIEVAL_WORKERS = 2
MANUAL_SECRET = re.compile(r"khóa thủ công: (\S+)")


@pytest.fixture(scope="package")
def snapshot_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded stack with lexical search only (fast) and no scheduled snapshots, with two
    retrieval workers: snapshots, restores, the drill and unit deletion work across them."""
    data_dir: Path = tmp_path_factory.mktemp("snapshot-stack")
    stack = Stack(
        data_dir=data_dir,
        ports=StackPorts.free(),
        api_key="tly_test_" + secrets.token_urlsafe(24),
        extra_env=FAST_STACK_ENV | {"TROLYAO_INGEST_BATCH_SIZE": "32"},
        retrieval_workers=SNAPSHOT_STACK_RETRIEVAL_WORKERS,
    )
    with started(stack):
        yield stack


@pytest.fixture
def admin(snapshot_stack: Stack) -> Iterator[httpx.Client]:
    """HTTP client with the bootstrap (ministry-wide) API key."""
    with bootstrap_client(snapshot_stack, timeout=120.0) as client:
        yield client


@dataclass(frozen=True)
class LoggedInAdmin:
    username: str
    access_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def login_ministry_admin(stack: Stack) -> LoggedInAdmin:
    """Create a ministry admin with the operator CLI, enrol its authenticator, log in with OTP."""
    username = f"quantri-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(18)
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.ops.identity.entrypoints.admin_cli",
            "create-admin",
            "--username",
            username,
            "--password-stdin",
            "--additional",
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
        env=stack.environment(),
        cwd=REPO_ROOT,
        timeout=ADMIN_CLI_TIMEOUT_SECONDS,
        check=True,
    )
    found = MANUAL_SECRET.search(created.stdout)
    assert found, created.stdout + created.stderr
    totp = pyotp.TOTP(found.group(1))
    with httpx.Client(base_url=stack.gateway_url, timeout=30.0) as client:
        step = client.post("/v1/auth/login", json={"username": username, "password": password})
        assert step.status_code == 200, step.text
        body = step.json()
        assert body["next"] == "enrol", body
        confirmed = client.post(
            "/v1/auth/enrolment/confirm", json={"challenge_id": body["challenge_id"], "code": totp.now()}
        )
        assert confirmed.status_code == 200, confirmed.text
        tokens = confirmed.json()["tokens"]
    return LoggedInAdmin(username=username, access_token=tokens["access_token"])


@pytest.fixture(scope="package")
def ministry_admin(snapshot_stack: Stack) -> LoggedInAdmin:
    return login_ministry_admin(snapshot_stack)


def put_document(
    client: httpx.Client, unit: str, document_id: str, title: str, text: str, version: int
) -> None:
    reply = client.put(
        f"/v1/units/{unit}/documents/{document_id}", json={"title": title, "text": text, "version": version}
    )
    assert reply.status_code == 202, reply.text


def delete_document(client: httpx.Client, unit: str, document_id: str) -> None:
    reply = client.delete(f"/v1/units/{unit}/documents/{document_id}")
    assert reply.status_code in (200, 202, 204), reply.text


def wait_for_status(
    client: httpx.Client, unit: str, document_id: str, wanted: str, version: int | None = None
) -> None:
    deadline = time.monotonic() + INDEX_TIMEOUT_SECONDS
    last: object = None
    while time.monotonic() < deadline:
        reply = client.get(f"/v1/units/{unit}/documents/{document_id}")
        if reply.status_code == 200:
            last = reply.json()
            if last["status"] == wanted and (version is None or last["version"] == version):  # type: ignore[index]
                return
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{unit}/{document_id} never reached {wanted}: {last}")


def indexed_documents(client: httpx.Client, unit: str) -> dict[str, int]:
    """document id → version, as the index reports (through the documents list)."""
    reply = client.get(f"/v1/units/{unit}/documents")
    assert reply.status_code == 200, reply.text
    return {
        d["document_id"]: int(d["version"]) for d in reply.json()["documents"] if d["status"] == "indexed"
    }


def ask(client: httpx.Client, unit: str, question: str) -> dict[str, object]:
    reply = client.post(f"/v1/units/{unit}/ask", json={"question": question})
    assert reply.status_code == 200, reply.text
    body = dict(reply.json())
    body.pop("question_id", None)
    return body
