"""Small helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.retrieval.domain.model import Chunk, DocumentMetadata, StoredChunk

REPO_ROOT = Path(__file__).resolve().parent.parent
# The evaluation data and the demo document live in ../shared beside the checkout (CI lays a copy
# there too); TROLYAO_SHARED_DIR points elsewhere.
SHARED_DIR = Path(os.environ.get("TROLYAO_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


def unique_unit(prefix: str = "t") -> str:
    """A fresh unit id: tests isolate by unique names, not by teardown."""
    return f"{prefix}-{secrets.token_hex(4)}"


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
