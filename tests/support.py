"""Small helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.retrieval.domain.model import Chunk, DocumentMetadata, StoredChunk

import httpx

from stack.launcher import Stack

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
