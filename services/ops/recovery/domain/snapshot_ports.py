"""Ports of snapshots and restores: what the snapshot handlers need from the outside world.

Implementations: storage in `adapters/snapshot_storage.py` (a local directory, or an S3-compatible
bucket), unit archives over retrieval's gRPC in `adapters/snapshot_retrieval.py`, NATS key-value
buckets, the object store, the DOCS stream and the replay request in `adapters/snapshot_nats.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.ops.recovery.domain.snapshots import KeyValueShare, OriginalEntry


class PartMissing(LookupError):
    """The storage holds no such part (or snapshot)."""


@dataclass(frozen=True, slots=True)
class UnitArchiveHeader:
    """What retrieval says about a unit archive (see retrieval.proto UnitArchiveInfo)."""

    unit: str
    format: str
    stream_sequence: int
    embedding_model: str
    dense_dimension: int
    documents: int
    chunks: int
    created_at: str
    size: int = 0
    sha256: str = ""


@dataclass(frozen=True, slots=True)
class UnitIndexStats:
    unit: str
    documents: int
    chunks: int
    embedding_model: str
    stream_sequence: int


@dataclass(frozen=True, slots=True)
class StreamState:
    """The DOCS stream: first and last sequence it holds, and when it was created."""

    first_sequence: int
    last_sequence: int
    created: str


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    events: int
    applied: int
    failed: int
    error: str
    stream_first_sequence: int


class PartWriter(Protocol):
    """Receives one part's bytes in order; nothing is visible until `commit`."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class SnapshotStorage(Protocol):
    """Where snapshots are kept: `<snapshot id>/<part name>` objects. Blocking calls (run them in a
    worker thread)."""

    @property
    def kind(self) -> str:
        """ "local" or "s3"."""

    def writer(self, snapshot_id: str, name: str) -> PartWriter:
        """A writer for a new part."""

    def blocks(self, snapshot_id: str, name: str, block_bytes: int) -> Iterator[bytes]:
        """The part's bytes in blocks; PartMissing when it does not exist."""

    def put(self, snapshot_id: str, name: str, data: bytes) -> None:
        """Write a small part at once (atomically: whole or not at all)."""

    def get(self, snapshot_id: str, name: str) -> bytes | None:
        """A small part's bytes, or None when missing."""

    def snapshot_ids(self) -> list[str]:
        """Every snapshot id with at least one part (complete or not), in no particular order."""

    def delete(self, snapshot_id: str) -> None:
        """Remove the snapshot and all its parts (no error when already gone)."""


class UnitArchives(Protocol):
    """Retrieval's export and import of one unit's index."""

    async def export_unit(self, unit: str) -> tuple[UnitArchiveHeader, AsyncIterator[bytes]]: ...

    async def import_unit(
        self, header: UnitArchiveHeader, blocks: AsyncIterator[bytes]
    ) -> UnitArchiveHeader: ...

    async def unit_stats(self, unit: str) -> UnitIndexStats: ...


class SnapshotSources(Protocol):
    """The NATS side of a snapshot: key-value buckets, the originals, the DOCS stream."""

    async def unit_ids(self) -> list[str]: ...

    async def unit_key_values(self, unit: str) -> list[KeyValueShare]: ...

    async def write_back_unit_key_values(
        self, unit: str, shares: list[KeyValueShare], *, replace_live: bool = False
    ) -> int:
        """Write the unit's share back when it is empty; with `replace_live` (a point-in-time restore),
        make the live share equal to the snapshot's."""
        ...

    async def bucket_key_values(self, bucket: str) -> KeyValueShare: ...

    async def write_back_bucket(self, share: KeyValueShare) -> int: ...

    async def originals(self, unit: str) -> list[OriginalEntry]: ...

    async def docs_stream(self) -> StreamState: ...

    async def ingest_ack_floor(self, unit: str) -> int | None:
        """Highest DOCS sequence at or below which every event of `unit` was handled by ingest."""
        ...

    async def first_sequence_stored_at_or_after(self, moment: datetime) -> int | None:
        """The DOCS stream's first sequence stored at or after `moment`; None when there is none."""
        ...

    async def unit_events(
        self, unit: str, *, from_sequence: int, to_sequence: int, limit: int
    ) -> tuple[list[StoredEvent], int]:
        """The unit's document events in [from_sequence, to_sequence], oldest first: at most `limit`
        of them, and how many there are."""
        ...


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One document event as the DOCS stream holds it (what a point-in-time restore skips)."""

    sequence: int
    stored_at: str
    kind: str
    document_id: str
    version: int
    source: str


class EventReplayer(Protocol):
    """Asks ingest to replay a unit's document events and waits for the outcome."""

    async def replay(self, unit: str, *, from_sequence: int, to_sequence: int) -> ReplayOutcome: ...


class SnapshotAudit(Protocol):
    """Appends snapshot events to the audit trail (or logs them where there is none)."""

    async def record(
        self,
        action: str,
        outcome: str,
        *,
        actor: str,
        unit: str = "",
        target: str = "",
        reason: str = "",
        client_address: str = "",
        details: Mapping[str, str] | None = None,
    ) -> None: ...
