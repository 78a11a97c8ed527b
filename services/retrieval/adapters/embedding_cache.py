"""An on-disk cache of embeddings keyed by (model id, query/passage, sha256 of the text).

Embedding is the slow step of indexing on CPU (~2 chunks/s with e5-small on 2 cores); re-indexing
the same text — a re-run of the eval, a restore, an unchanged chunk of an updated document — must
not pay it again. SQLite under a directory, one row per vector (float32 bytes).
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
import threading
from collections.abc import Sequence
from pathlib import Path

CACHE_FILE = "embeddings.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    key TEXT PRIMARY KEY,
    vector BLOB NOT NULL
)
"""
SQLITE_VARIABLE_LIMIT = 500


def cache_key(model_id: str, role: str, text: str) -> str:
    """Key of one vector: the model, whether it embeds a query or a passage, the text's sha256."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"{model_id}|{role}|{digest}"


class EmbeddingCache:
    """Vectors by `cache_key`, in `directory/embeddings.sqlite` (safe across threads)."""

    def __init__(self, directory: Path | str) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(
            path / CACHE_FILE, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(_SCHEMA)

    def get_many(self, keys: Sequence[str]) -> dict[str, tuple[float, ...]]:
        """The cached vectors among `keys`."""
        found: dict[str, tuple[float, ...]] = {}
        with self._lock:
            for start in range(0, len(keys), SQLITE_VARIABLE_LIMIT):
                batch = list(keys[start : start + SQLITE_VARIABLE_LIMIT])
                marks = ",".join("?" * len(batch))
                rows = self._connection.execute(
                    f"SELECT key, vector FROM embeddings WHERE key IN ({marks})", batch
                ).fetchall()
                for key, blob in rows:
                    found[key] = struct.unpack(f"<{len(blob) // 4}f", blob)
        return found

    def put_many(self, items: Sequence[tuple[str, Sequence[float]]]) -> None:
        """Store vectors (float32)."""
        rows = [(key, struct.pack(f"<{len(vector)}f", *vector)) for key, vector in items]
        with self._lock:
            self._connection.execute("BEGIN")
            self._connection.executemany(
                "INSERT OR REPLACE INTO embeddings (key, vector) VALUES (?, ?)", rows
            )
            self._connection.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._connection.close()


__all__ = ["EmbeddingCache", "cache_key"]
