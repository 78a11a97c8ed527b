"""Document registry in SQLite, one file per unit beside the unit's shard (so a unit's snapshot
is one consistent directory)."""

from __future__ import annotations

import json
import os
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
# Per-unit counters kept beside the documents, so a snapshot of the file carries them too.
_STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS unit_state (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
)
"""
STREAM_SEQUENCE_KEY = "docs_stream_sequence"
REGISTRY_FILE = "registry.sqlite"
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


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
            connection.execute(_STATE_SCHEMA)
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

    def record_stream_sequence(self, unit: str, sequence: int) -> None:
        """Remember that the unit applied the DOCS event at `sequence` (the highest one is kept)."""
        if sequence <= 0:
            return
        with self._lock:
            self._connection(unit).execute(
                "INSERT INTO unit_state (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)",
                (STREAM_SEQUENCE_KEY, sequence),
            )

    def stream_sequence(self, unit: str) -> int:
        """Highest DOCS stream sequence the unit has applied (0 when none is recorded)."""
        if not self.unit_file(unit).exists():
            return 0
        with self._lock:
            row = (
                self._connection(unit)
                .execute("SELECT value FROM unit_state WHERE name = ?", (STREAM_SEQUENCE_KEY,))
                .fetchone()
            )
        return int(row[0]) if row else 0

    def unit_file(self, unit: str) -> Path:
        """Where the unit's registry lives."""
        return self._root / unit / REGISTRY_FILE

    def backup_unit(self, unit: str, destination: Path) -> None:
        """Write a consistent copy of the unit's registry to `destination` (SQLite's backup API)."""
        with self._lock:
            source = self._connection(unit)
            target = sqlite3.connect(destination)
            try:
                source.backup(target)
            finally:
                target.close()

    def replace_unit(self, unit: str, source: Path) -> Path | None:
        """Install the registry file `source` as the unit's; returns the previous file moved aside
        (beside it, for `restore_previous` or deletion), or None when there was none."""
        path = self.unit_file(unit)
        path.parent.mkdir(parents=True, exist_ok=True)
        previous: Path | None = None
        with self._lock:
            connection = self._connections.pop(unit, None)
            if connection is not None:
                connection.close()
            for suffix in SQLITE_SIDE_FILES:
                Path(str(path) + suffix).unlink(missing_ok=True)
            if path.exists():
                previous = path.with_name(f".previous-{REGISTRY_FILE}")
                os.replace(path, previous)
            os.replace(source, path)
        return previous

    def restore_previous(self, unit: str, previous: Path | None) -> None:
        """Undo `replace_unit`: put the previous file back (or remove the new one if there was none)."""
        path = self.unit_file(unit)
        with self._lock:
            connection = self._connections.pop(unit, None)
            if connection is not None:
                connection.close()
            if previous is not None:
                os.replace(previous, path)
            else:
                path.unlink(missing_ok=True)

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
