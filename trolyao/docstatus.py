"""Document status records (`pending` / `indexed` / `failed` / `deleted`) in the doc_status bucket.

Written by the gateway (pending, on upload) and by ingest (the outcome); read by the gateway's
GET. Writes are compare-and-set on the bucket revision and never move a document back to an older
version, so racing writers cannot lose or reorder an update.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from trolyao.document_ids import document_key
from trolyao.keyvalue import live_entries
from trolyao.messaging import SCHEMA_VERSION
from trolyao.v1 import documents_pb2, events_pb2

CAS_ATTEMPTS = 10
REINDEX_SOURCE = "reindex"
_METADATA_FIELDS = frozenset(documents_pb2.DocumentMetadata.DESCRIPTOR.fields_by_name)


@dataclass(frozen=True, slots=True)
class DocumentStatus:
    unit: str
    document_id: str
    version: int
    status: str  # pending | indexed | failed | deleted
    content_hash: str = ""
    title: str = ""
    filename: str = ""
    chunk_count: int = 0
    code: str = ""
    message: str = ""
    updated_at: str = ""
    # Where the original is kept and what was said about it: enough to rebuild the upsert event
    # (the reindex command does exactly that).
    object_name: str = ""
    media_type: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    # While pending: the ingest lane (`interactive` | `bulk`) its event waits in and the event's
    # ordinal there when published (see `trolyao.ingestqueue`); 0 when unknown (event-borne).
    queue_lane: str = ""
    queue_ordinal: int = 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


async def read_status(bucket: KeyValue, unit: str, document_id: str) -> DocumentStatus | None:
    try:
        entry = await bucket.get(document_key(unit, document_id))
    except (KeyNotFoundError, KeyDeletedError):
        return None
    if not entry.value:
        return None
    return DocumentStatus(**json.loads(entry.value))


async def write_status(bucket: KeyValue, status: DocumentStatus) -> bool:
    """Record the status unless a newer version is already recorded; True when written.

    At equal versions a final state (indexed/failed/deleted) is not replaced by `pending`.
    """
    key = document_key(status.unit, status.document_id)
    status = replace(status, updated_at=_now())
    payload = json.dumps(asdict(status), ensure_ascii=False).encode()
    for _ in range(CAS_ATTEMPTS):
        try:
            entry = await bucket.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            entry = None
        try:
            if entry is None or not entry.value:
                if entry is None:
                    await bucket.create(key, payload)
                else:
                    await bucket.update(key, payload, last=entry.revision)
                return True
            current = DocumentStatus(**json.loads(entry.value))
            if current.version > status.version:
                return False
            if (
                current.version == status.version
                and status.status == "pending"
                and current.status != "pending"
            ):
                return False
            await bucket.update(key, payload, last=entry.revision)
            return True
        except KeyWrongLastSequenceError:
            continue
        except Exception as error:  # create() lost a race: another writer created the key
            if "wrong last sequence" in str(error).lower():
                continue
            raise
    return False


async def list_statuses(bucket: KeyValue, unit: str | None = None) -> list[DocumentStatus]:
    """Every document status of a unit (every unit's when None), by unit and document id.

    Reads the unit's keys (`<unit>.>`) by subject, never another unit's records, and creates no
    consumer (see `trolyao.keyvalue`), so listings cannot exhaust the bucket's consumer limit.
    """
    entries = await live_entries(bucket, f"{unit}.>" if unit else ">")
    statuses = [DocumentStatus(**json.loads(value)) for value in entries.values() if value]
    return sorted(statuses, key=lambda status: (status.unit, status.document_id))


def reindex_event(status: DocumentStatus, *, source: str = REINDEX_SOURCE) -> events_pb2.DocumentUpserted:
    """The upsert event that rebuilds `status`'s document from its kept original (same version);
    `source` says who asked (the gateway audits the reindexes it publishes itself)."""
    event = events_pb2.DocumentUpserted(
        schema_version=SCHEMA_VERSION,
        event_id=str(uuid.uuid4()),
        unit=status.unit,
        document_id=status.document_id,
        version=status.version,
        content_hash=status.content_hash,
        occurred_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        source=source,
        object_name=status.object_name,
        filename=status.filename,
        media_type=status.media_type,
        reindex=True,
    )
    for key, value in status.metadata.items():
        if key in _METADATA_FIELDS:
            setattr(event.metadata, key, str(value))
    if status.title and not event.metadata.title:
        event.metadata.title = status.title
    return event
