"""Document registry in SQLite, one file per unit beside the unit's shard (so a unit's snapshot
is one consistent directory)."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path

from services.retrieval.domain.model import DocumentMetadata, DocumentRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    chunk_count INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
)
"""


class SqliteDocumentRegistry:
    """`DocumentRegistry` over `root/<unit>/registry.sqlite`."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._connections: dict[str, sqlite3.Connection] = {}

    def _connection(self, unit: str) -> sqlite3.Connection:
        connection = self._connections.get(unit)
        if connection is None:
            path = self._root / unit / "registry.sqlite"
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
            self._connections[unit] = connection
        return connection

    def get(self, unit: str, document_id: str) -> DocumentRecord | None:
        with self._lock:
            row = (
                self._connection(unit)
                .execute(
                    "SELECT document_id, version, content_hash, chunk_count, metadata, deleted "
                    "FROM documents WHERE document_id = ?",
                    (document_id,),
                )
                .fetchone()
            )
        return _record(row) if row else None

    def put(self, unit: str, record: DocumentRecord) -> None:
        with self._lock:
            self._connection(unit).execute(
                "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.document_id,
                    record.version,
                    record.content_hash,
                    record.chunk_count,
                    json.dumps(asdict(record.metadata), ensure_ascii=False),
                    int(record.deleted),
                ),
            )

    def list(self, unit: str, *, include_deleted: bool = False) -> list[DocumentRecord]:
        if not (self._root / unit / "registry.sqlite").exists():
            return []
        query = "SELECT document_id, version, content_hash, chunk_count, metadata, deleted FROM documents"
        if not include_deleted:
            query += " WHERE deleted = 0"
        with self._lock:
            rows = self._connection(unit).execute(query + " ORDER BY document_id").fetchall()
        return [_record(row) for row in rows]

    def close_unit(self, unit: str) -> None:
        with self._lock:
            connection = self._connections.pop(unit, None)
        if connection is not None:
            connection.close()

    def drop_unit(self, unit: str) -> None:
        self.close_unit(unit)
        (self._root / unit / "registry.sqlite").unlink(missing_ok=True)

    def close(self) -> None:
        for unit in list(self._connections):
            self.close_unit(unit)


def _record(row: tuple[str, int, str, int, str, int]) -> DocumentRecord:
    document_id, version, content_hash, chunk_count, metadata, deleted = row
    return DocumentRecord(
        document_id=document_id,
        version=version,
        content_hash=content_hash,
        chunk_count=chunk_count,
        metadata=DocumentMetadata(**json.loads(metadata)),
        deleted=bool(deleted),
    )
