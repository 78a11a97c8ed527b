"""Operator commands that feed the ingest pipeline through its own events.

- bulk import: a folder of files, or an evaluation `corpus.jsonl` ({"id", "title", "text"} per
  line), into one unit — each document becomes a `DocumentUpserted` event, exactly as a unit's own
  system would publish it, on the unit's bulk lane (`docs.<unit>.bulk.upsert`) so people's own
  uploads go first; the command waits for every outcome and shows a progress bar.
- reindex: rebuild one unit's (or every unit's) index from the originals in the object store, e.g.
  after a chunker or embedding-model change — it republishes each document's upsert with
  `reindex: true` on the bulk lane, so retrieval rebuilds it even though that version is already
  indexed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import mimetypes
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf import json_format
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from tqdm import tqdm

from trolyao.docstatus import DocumentStatus, list_statuses, reindex_event
from trolyao.document_ids import InvalidDocumentId, canonical_document_id, original_object_name
from trolyao.messaging import (
    DOC_STATUS_BUCKET,
    ORIGINALS_BUCKET,
    SCHEMA_VERSION,
    bulk_upsert_subject,
    connect,
    ensure_layout,
)
from trolyao.v1 import events_pb2

INLINE_LIMIT_BYTES = 512 * 1024
DEFAULT_TIMEOUT_SECONDS = 3600.0
IGNORED_NAMES = {".DS_Store", "Thumbs.db"}


@dataclass(frozen=True, slots=True)
class ImportItem:
    document_id: str
    title: str
    text: str | None = None
    data: bytes | None = None
    filename: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportReport:
    submitted: int = 0
    indexed: int = 0
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def documents_per_second(self) -> float:
        return self.submitted / self.seconds if self.seconds else 0.0


def corpus_items(path: Path) -> Iterator[ImportItem]:
    """Documents of an evaluation corpus (`corpus.jsonl`)."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                yield ImportItem(
                    document_id=str(record["id"]), title=str(record.get("title", "")), text=record["text"]
                )


def folder_items(folder: Path) -> Iterator[ImportItem]:
    """Every file below a folder; the document id is its relative path."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in IGNORED_NAMES and not path.name.startswith("."):
            relative = path.relative_to(folder).as_posix()
            yield ImportItem(
                document_id=relative.replace("/", ":"),
                title=path.stem,
                data=path.read_bytes(),
                filename=path.name,
            )


def _event(unit: str, item: ImportItem, version: int, *, source: str) -> events_pb2.DocumentUpserted:
    event = events_pb2.DocumentUpserted(
        schema_version=SCHEMA_VERSION,
        event_id=str(uuid.uuid4()),
        unit=unit,
        document_id=item.document_id,
        version=version,
        occurred_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        source=source,
        filename=item.filename,
    )
    if item.filename:
        event.media_type = mimetypes.guess_type(item.filename)[0] or ""
    event.metadata.title = item.title
    for key, value in item.metadata.items():
        if key in event.metadata.DESCRIPTOR.fields_by_name:
            setattr(event.metadata, key, value)
    if item.text is not None:
        event.text = item.text
    event.content_hash = content_hash_of(item)
    return event


def content_hash_of(item: ImportItem) -> str:
    """What ingest derives from inline content (`sha256:` of the text or bytes), set on the event so
    it names the content whether it travels inline or through the object store."""
    content = item.text.encode("utf-8") if item.text is not None else (item.data or b"")
    return "sha256:" + hashlib.sha256(content).hexdigest()


def _lookup_id(document_id: str) -> str:
    try:
        return canonical_document_id(document_id)
    except InvalidDocumentId:
        return document_id  # ingest dead-letters it with the reason


class _OutcomeWatcher:
    """Counts DocumentIndexed / DocumentFailed events for the documents we published."""

    def __init__(self, expected: dict[str, int], progress: tqdm | None) -> None:
        self.expected = expected
        self.report = ImportReport(submitted=len(expected))
        self.done = asyncio.Event()
        self._seen: set[str] = set()
        self._progress = progress

    async def on_status(self, message: Msg) -> None:
        body = json.loads(message.data)
        document_id = str(body.get("documentId", ""))
        if self.expected.get(document_id) != int(body.get("version", 0)) or document_id in self._seen:
            return
        self._seen.add(document_id)
        if "code" in body:
            self.report.failed[document_id] = f"{body['code']}: {body.get('message', '')}"
        elif body.get("outcome") == "unchanged":
            self.report.unchanged += 1
        else:
            self.report.indexed += 1
        if self._progress is not None:
            self._progress.update(1)
        if len(self._seen) == len(self.expected):
            self.done.set()


async def _publish_and_wait(
    client: NatsClient,
    unit: str,
    events: Iterable[tuple[events_pb2.DocumentUpserted, bytes | None]],
    *,
    total: int,
    show_progress: bool,
    timeout: float,
) -> ImportReport:
    js = client.jetstream()
    originals = await js.object_store(ORIGINALS_BUCKET)
    materialised = list(events)
    expected = {event.document_id: event.version for event, _ in materialised}
    progress = tqdm(total=total, unit="văn bản", desc=f"{unit}") if show_progress else None
    watcher = _OutcomeWatcher(expected, progress)
    subscription = await client.subscribe(f"status.docs.{unit}", cb=watcher.on_status)
    started = time.perf_counter()
    try:
        for event, data in materialised:
            if data is not None:
                if len(data) <= INLINE_LIMIT_BYTES:
                    event.data = data
                else:
                    name = original_object_name(unit, event.document_id, event.version)
                    await originals.put(name, data)
                    event.object_name = name
            await js.publish(
                bulk_upsert_subject(unit),
                json_format.MessageToJson(event).encode(),
                headers={"Nats-Msg-Id": event.event_id},
            )
        if expected:
            await asyncio.wait_for(watcher.done.wait(), timeout=timeout)
    finally:
        watcher.report.seconds = time.perf_counter() - started
        await subscription.unsubscribe()
        if progress is not None:
            progress.close()
    return watcher.report


async def bulk_import(
    nats_url: str,
    unit: str,
    items: Iterable[ImportItem],
    *,
    source: str = "bulk-import",
    show_progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> ImportReport:
    """Publish every item as a DocumentUpserted event and wait until each is indexed or failed."""
    client = await connect(nats_url, name="bulk-import")
    try:
        await ensure_layout(client.jetstream())
        base_version = time.time_ns() // 1000
        indexed = {
            status.document_id: status
            for status in await unit_statuses(client, unit)
            if status.status == "indexed"
        }
        events = []
        for position, item in enumerate(items):
            event = _event(unit, item, base_version + position, source=source)
            event.document_id = _lookup_id(item.document_id)  # as ingest reports it (NFC)
            # Content already indexed keeps its version, so ingest reports it `unchanged`.
            known = indexed.get(event.document_id)
            if known is not None and known.content_hash == event.content_hash:
                event.version = known.version
            events.append((event, item.data))
        return await _publish_and_wait(
            client, unit, events, total=len(events), show_progress=show_progress, timeout=timeout
        )
    finally:
        await client.drain()


async def unit_statuses(client: NatsClient, unit: str | None) -> list[DocumentStatus]:
    return await list_statuses(await client.jetstream().key_value(DOC_STATUS_BUCKET), unit)


async def reindex(
    nats_url: str, unit: str | None, *, show_progress: bool = True, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> dict[str, ImportReport]:
    """Rebuild one unit's (None: every unit's) index from the originals in the object store."""
    client = await connect(nats_url, name="reindex")
    reports: dict[str, ImportReport] = {}
    try:
        statuses = [
            status
            for status in await unit_statuses(client, unit)
            if status.status in ("indexed", "failed") and status.object_name
        ]
        by_unit: dict[str, list[DocumentStatus]] = {}
        for status in statuses:
            by_unit.setdefault(status.unit, []).append(status)
        for unit_id, unit_statuses_ in sorted(by_unit.items()):
            events = [(reindex_event(status), None) for status in unit_statuses_]
            reports[unit_id] = await _publish_and_wait(
                client, unit_id, events, total=len(events), show_progress=show_progress, timeout=timeout
            )
    finally:
        await client.drain()
    return reports


__all__ = ["ImportItem", "ImportReport", "bulk_import", "corpus_items", "folder_items", "reindex"]
