"""Small helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from stack.launcher import Stack
from trolyao.messaging import DOCS_STREAM, IngestLane, ingest_durable

REPO_ROOT = Path(__file__).resolve().parent.parent
# The evaluation data and the demo document live in ../shared beside the checkout (CI lays a copy
# there too); TROLYAO_SHARED_DIR points elsewhere.
SHARED_DIR = Path(os.environ.get("TROLYAO_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


def unique_unit(prefix: str = "t") -> str:
    """A fresh unit id: tests isolate by unique names, not by teardown."""
    return f"{prefix}-{secrets.token_hex(4)}"


# A stack that starts and indexes fast: lexical search only, no scheduled snapshots, cheap password
# hashing (tests log in many times); add the test's own settings.
FAST_STACK_ENV = {
    "TROLYAO_RETRIEVAL_EMBEDDER": "none",
    "TROLYAO_OPS_SNAPSHOT_SCHEDULE_SECONDS": "0",
    "TROLYAO_OPS_ARGON2_MEMORY_KIB": "8192",
    "TROLYAO_OPS_ARGON2_TIME_COST": "1",
}


@contextmanager
def started(stack: Stack) -> Iterator[Stack]:
    """The stack started, and stopped when the block ends however it ends."""
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def bootstrap_client(stack: Stack, *, timeout: float) -> httpx.Client:
    """An HTTP client of the stack's gateway holding its bootstrap (ministry-wide admin) key."""
    return httpx.Client(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=timeout
    )


async def ingest_settled(js: JetStreamContext, units: Iterable[str]) -> bool:
    """Every event of these units was handled: each unit's interactive lane exists (ingest found
    the unit) and no lane has an event pending or unacknowledged."""
    for unit in units:
        for lane in IngestLane:
            try:
                info = await js.consumer_info(DOCS_STREAM, ingest_durable(unit, lane))
            except NotFoundError:
                if lane is IngestLane.INTERACTIVE:
                    return False
                continue
            if info.num_pending or info.num_ack_pending:
                return False
    return True
