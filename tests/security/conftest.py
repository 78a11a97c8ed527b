"""Fixtures of the trust-boundary tests: the embedded stack (lexical search only, so indexing is
fast) in its own data dir, an admin HTTP client, and helpers that act as a client of NATS would.

Each test is an attack from the issue it reproduces; units are unique per test.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from stack.launcher import Stack
from tests.gateway.conftest import wait_until_settled
from tests.support import bootstrap_client, fast_stack, started, unique_unit
from trolyao.messaging import connect

POLL_SECONDS = 0.1
REFUSAL_WAIT_SECONDS = 10.0
SETTLE_TIMEOUT_SECONDS = 60.0
# Prometheus' scrape token: the public port serves /metrics to its holder only.
METRICS_TOKEN = "scrape-" + secrets.token_urlsafe(16)
HTTP_TIMEOUT_SECONDS = 60.0


@pytest.fixture(scope="package")
def security_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = fast_stack(
        tmp_path_factory.mktemp("security-stack"), {"TROLYAO_GATEWAY_METRICS_TOKEN": METRICS_TOKEN}
    )
    with started(stack):
        yield stack


@pytest.fixture
def admin(security_stack: Stack) -> Iterator[httpx.Client]:
    """HTTP client with the bootstrap (ministry-wide) API key."""
    with bootstrap_client(security_stack, timeout=HTTP_TIMEOUT_SECONDS) as client:
        yield client


@pytest.fixture
def new_unit(admin: httpx.Client) -> Callable[[], str]:
    def create() -> str:
        unit = unique_unit("sec")
        admin.put(f"/v1/units/{unit}", json={"name": f"Đơn vị kiểm thử {unit}"}).raise_for_status()
        return unit

    return create


def settled(client: httpx.Client, unit: str, document_id: str) -> dict[str, Any]:
    """The document's status once it is no longer pending."""
    return wait_until_settled(client, f"/v1/units/{unit}/documents/{document_id}")


def upsert_event(unit: str, document_id: str, version: int, **fields: Any) -> bytes:
    """A `DocumentUpserted` as a unit's own system would publish it (proto3 JSON)."""
    body: dict[str, Any] = {
        "schemaVersion": 1,
        "eventId": secrets.token_hex(8),
        "unit": unit,
        "documentId": document_id,
        "version": str(version),
    }
    body.update(fields)
    return json.dumps(body, ensure_ascii=False).encode()


class EventTap:
    """Publishes on NATS and records what arrives on the subjects it listens to (core NATS)."""

    def __init__(self, nats_url: str, subjects: list[str]) -> None:
        self._url = nats_url
        self._subjects = subjects
        self.received: list[tuple[str, dict[str, Any]]] = []

    async def run(self, publish: list[tuple[str, bytes]], until: Callable[[EventTap], bool]) -> None:
        client = await connect(self._url, name="security-test")
        try:
            for subject in self._subjects:

                async def record(message: Any) -> None:
                    self.received.append((message.subject, json.loads(message.data)))

                await client.subscribe(subject, cb=record)
            await client.flush()
            js = client.jetstream()
            for subject, payload in publish:
                await js.publish(subject, payload)
            deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
            while not until(self) and time.monotonic() < deadline:
                await asyncio.sleep(POLL_SECONDS)
        finally:
            await client.drain()

    def on(self, subject: str) -> list[dict[str, Any]]:
        return [body for received_subject, body in self.received if received_subject == subject]


class Errors:
    """The asynchronous errors a NATS connection receives (the server reports refusals this way)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def callback(self, error: Exception) -> None:
        self.seen.append(str(error).lower())

    async def wait_for(self, text: str) -> bool:
        deadline = time.monotonic() + REFUSAL_WAIT_SECONDS
        while time.monotonic() < deadline:
            if any(text in error for error in self.seen):
                return True
            await asyncio.sleep(POLL_SECONDS)
        return False
