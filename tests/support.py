"""Small helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.retrieval.domain.model import Chunk, DocumentMetadata, StoredChunk

import httpx
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.ingest.adapters.originals import JetStreamOriginals
from services.ingest.adapters.parsers import default_parsers
from services.ingest.domain.model import IngestLimits
from services.ingest.domain.preparation import prepare_document
from services.ingest.service import IngestHandlers
from services.ops.identity.adapters.nats_users import NatsAuth
from stack.launcher import Stack, StackPorts
from stack.natsserver import free_port, start_nats_server
from trolyao.messaging import DOC_STATUS_BUCKET, DOCS_STREAM, ORIGINALS_BUCKET, IngestLane, ingest_durable

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


# Tests that send thousands of requests with one key: rate limits are not their subject.
NO_RATE_LIMIT_ENV = {
    "TROLYAO_GATEWAY_RATE_LIMIT_PER_SECOND": "100000",
    "TROLYAO_GATEWAY_RATE_LIMIT_BURST": "100000",
}


def fast_stack(
    data_dir: Path, extra_env: dict[str, str] | None = None, *, retrieval_workers: int | None = None
) -> Stack:
    """A stack of the test's own (FAST_STACK_ENV, no rate limit) on free ports with a fresh
    bootstrap key, plus the test's settings (and, if given, its number of retrieval workers)."""
    return Stack(
        data_dir=data_dir,
        ports=StackPorts.free(),
        api_key="tly_test_" + secrets.token_urlsafe(24),
        extra_env=FAST_STACK_ENV | NO_RATE_LIMIT_ENV | (extra_env or {}),
        **({} if retrieval_workers is None else {"retrieval_workers": retrieval_workers}),
    )


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


def stored_chunk(unit: str, document_id: str, chunk: Chunk, metadata: DocumentMetadata) -> StoredChunk:
    """A chunk as retrieval stores it (version 1, with its sparse vector), for in-process engines."""
    from services.retrieval.domain.lexical import document_sparse_vector
    from services.retrieval.domain.model import StoredChunk

    return StoredChunk(
        unit=unit,
        document_id=document_id,
        version=1,
        chunk=chunk,
        metadata=metadata,
        sparse=document_sparse_vector(chunk, metadata),
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


@contextmanager
def own_nats_server(store: Path) -> Iterator[str]:
    """A nats-server of the test's own (when a test must own the whole DOCS stream); its URL."""
    port = free_port()
    auth = NatsAuth(store / "auth")
    process = start_nats_server(port=port, store_dir=store, auth=auth, log_path=store / "nats.log")
    try:
        yield auth.operator_url(f"nats://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)


async def real_ingest_handlers(js: JetStreamContext, retrieval: object) -> IngestHandlers:
    """Ingest's handlers with real parsers, statuses and originals, and the test's retrieval double."""
    limits = IngestLimits()

    async def publish(subject: str, payload: bytes) -> None:
        await js.publish(subject, payload)

    return IngestHandlers(
        retrieval=retrieval,  # type: ignore[arg-type]
        status_bucket=await js.key_value(DOC_STATUS_BUCKET),
        originals=JetStreamOriginals(await js.object_store(ORIGINALS_BUCKET)),
        publish=publish,
        prepare=partial(prepare_document, parsers=default_parsers(), limits=limits),
        limits=limits,
    )
