"""Ingest handlers: one document event in, the unit's index updated exactly once, an outcome out.

Acknowledgement policy (applied by the consumer from what these handlers raise or return):
- success, duplicate or stale version → ack;
- `PoisonMessage` / non-retryable `IngestError` → dead-letter with the reason, status `failed`, ack;
- `RetrievalUnavailable` or a retryable `IngestError` → nak with backoff (redelivered later).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from google.protobuf import json_format
from nats.js.kv import KeyValue

from services.ingest.adapters.retrieval_client import GrpcRetrievalClient
from services.ingest.domain.events import DeleteDocument, DocumentRef, PoisonMessage, UpsertDocument
from services.ingest.domain.model import IngestError, IngestLimits, PreparedDocument, SourceDocument
from trolyao.audit import EVENT_ACTOR_PREFIX, GATEWAY_EVENT_SOURCE, audit_record
from trolyao.docstatus import DocumentStatus, read_status, write_status
from trolyao.document_ids import original_object_name
from trolyao.logs import get_logger
from trolyao.messaging import (
    SCHEMA_VERSION,
    deadletter_subject,
    status_subject,
)
from trolyao.v1 import events_pb2

log = get_logger("ingest")

Publish = Callable[[str, bytes], Awaitable[None]]
# Appends one audit record: (subject, payload, message id).
AppendAudit = Callable[[str, bytes, str], Awaitable[None]]
# A dead letter keeps at most this much of the original payload (its DOCS stream sequence finds the
# rest), so a letter always fits under the server's message size limit, whatever was sent.
MAX_DEAD_LETTER_PAYLOAD_BYTES = 256 * 1024
Prepare = Callable[[SourceDocument], PreparedDocument]


class OriginalsStore(Protocol):
    async def get(self, object_name: str) -> bytes | None: ...

    async def put(self, object_name: str, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class HandledEvent:
    outcome: str  # indexed | unchanged | stale | deleted | not_found | failed
    chunk_count: int = 0


def _metadata_fields(command: UpsertDocument) -> dict[str, str]:
    return {key: value for key, value in asdict(command.metadata).items() if value}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class IngestHandlers:
    def __init__(
        self,
        *,
        retrieval: GrpcRetrievalClient,
        status_bucket: KeyValue,
        originals: OriginalsStore,
        publish: Publish,
        prepare: Prepare,
        limits: IngestLimits,
        append_audit: AppendAudit | None = None,
    ) -> None:
        self._retrieval = retrieval
        self._status = status_bucket
        self._originals = originals
        self._publish = publish
        self._prepare = prepare
        self._limits = limits
        self._append_audit = append_audit

    async def handle(
        self, command: UpsertDocument | DeleteDocument, *, stream_sequence: int = 0, replayed: bool = False
    ) -> HandledEvent:
        """Apply one event; `stream_sequence` (its DOCS sequence) lets retrieval record how far the
        unit's index has applied the stream (where a restore's replay starts).

        An event not published by the gateway (a unit's own system, an operator import) is audited
        here, once it is applied; a replay re-applies events already audited and records nothing.
        """
        if isinstance(command, DeleteDocument):
            handled = await self._delete(command, stream_sequence)
        else:
            handled = await self._upsert(command, stream_sequence)
        if not replayed and command.source != GATEWAY_EVENT_SOURCE:
            await self._audit_event(command, handled)
        return handled

    async def _audit_event(self, command: UpsertDocument | DeleteDocument, handled: HandledEvent) -> None:
        if self._append_audit is None:
            return
        if isinstance(command, DeleteDocument):
            action = "document.deleted"
        else:
            action = "document.reindexed" if command.reindex else "document.upserted"
        subject, payload, _ = audit_record(
            actor=f"{EVENT_ACTOR_PREFIX}{command.unit}",
            action=action,
            unit=command.unit,
            target=f"document:{command.unit}/{command.document_id}",
            details={
                "document_id": command.document_id,
                "version": str(command.version),
                "outcome": handled.outcome,
                "source": command.source,
                "event_id": command.event_id,
            },
        )
        try:
            # One record per event even when JetStream redelivers it: the message id deduplicates.
            await self._append_audit(subject, payload, f"document-event:{command.event_id}")
        except Exception as error:  # the change is applied; a lost audit record must at least be loud
            log.error("audit_record_failed", unit=command.unit, action=action, error=type(error).__name__)

    async def _upsert(self, command: UpsertDocument, stream_sequence: int = 0) -> HandledEvent:
        recorded = await read_status(self._status, command.unit, command.document_id)
        if recorded is not None and recorded.version > command.version:
            log.info("event_stale", unit=command.unit, version=command.version, current=recorded.version)
            await self._publish_indexed(command.unit, command.document_id, command.version, 0, "stale")
            return HandledEvent("stale")
        source = await self._source_of(command)
        object_name = await self._keep_original(command, source)
        try:
            prepared = await asyncio.to_thread(self._prepare, source)
        except IngestError as error:
            if error.retryable:
                raise
            await self.record_failure(
                command.unit,
                command.document_id,
                command.version,
                error.code,
                error.message,
                original=DocumentStatus(
                    unit=command.unit,
                    document_id=command.document_id,
                    version=command.version,
                    status="failed",
                    content_hash=command.content_hash,
                    title=command.metadata.title,
                    filename=command.filename,
                    object_name=object_name,
                    media_type=command.media_type,
                    metadata=_metadata_fields(command),
                ),
            )
            await self.dead_letter_for(command, error.code, error.message)
            return HandledEvent("failed")
        metadata = prepared.metadata
        outcome, chunk_count = await self._retrieval.index_document(
            unit=command.unit,
            document_id=command.document_id,
            version=command.version,
            content_hash=command.content_hash,
            metadata=metadata,
            chunks=prepared.chunks,
            force=command.reindex,
            stream_sequence=stream_sequence,
        )
        if outcome in ("indexed", "unchanged"):
            await write_status(
                self._status,
                DocumentStatus(
                    unit=command.unit,
                    document_id=command.document_id,
                    version=command.version,
                    status="indexed",
                    content_hash=command.content_hash,
                    title=metadata.title,
                    filename=command.filename,
                    chunk_count=chunk_count,
                    object_name=object_name,
                    media_type=command.media_type,
                    metadata=_metadata_fields(command),
                ),
            )
        await self._publish_indexed(command.unit, command.document_id, command.version, chunk_count, outcome)
        return HandledEvent(outcome, chunk_count)

    async def _delete(self, command: DeleteDocument, stream_sequence: int = 0) -> HandledEvent:
        outcome = await self._retrieval.delete_document(
            unit=command.unit,
            document_id=command.document_id,
            version=command.version,
            stream_sequence=stream_sequence,
        )
        if outcome != "stale":
            await write_status(
                self._status,
                DocumentStatus(
                    unit=command.unit,
                    document_id=command.document_id,
                    version=command.version,
                    status="deleted",
                ),
            )
        await self._publish_indexed(command.unit, command.document_id, command.version, 0, outcome)
        return HandledEvent(outcome)

    async def _keep_original(self, command: UpsertDocument, source: SourceDocument) -> str:
        """Every original ends in the object store, so a unit can always be reindexed from it."""
        if command.object_name:
            return command.object_name
        name = original_object_name(command.unit, command.document_id, command.version)
        data = source.data if source.data is not None else (source.text or "").encode("utf-8")
        await self._originals.put(name, data)
        return name

    async def _source_of(self, command: UpsertDocument) -> SourceDocument:
        data = command.data
        if command.object_name:
            data = await self._originals.get(command.object_name)
            if data is None:
                raise PoisonMessage(
                    "original_missing",
                    f"Không tìm thấy bản gốc '{command.object_name}' trong kho lưu trữ.",
                    document=DocumentRef(command.unit, command.document_id, command.version),
                )
        filename = command.filename or ("document.txt" if command.text is not None else "")
        return SourceDocument(
            document_id=command.document_id,
            filename=filename,
            media_type=command.media_type,
            data=data,
            text=command.text,
            metadata=command.metadata,
        )

    async def record_failure(
        self,
        unit: str,
        document_id: str,
        version: int,
        code: str,
        message: str,
        *,
        original: DocumentStatus | None = None,
    ) -> None:
        """Mark the document failed with its reason (keeping where its original is, for reindex)."""
        base = original or DocumentStatus(
            unit=unit, document_id=document_id, version=version, status="failed"
        )
        await write_status(self._status, replace(base, status="failed", code=code, message=message))
        event = events_pb2.DocumentFailed(
            schema_version=SCHEMA_VERSION,
            event_id=str(uuid.uuid4()),
            unit=unit,
            document_id=document_id,
            version=version,
            code=code,
            message=message,
            occurred_at=_now(),
        )
        await self._publish(status_subject(unit), json_format.MessageToJson(event).encode())

    async def dead_letter_for(self, command: UpsertDocument, code: str, message: str) -> None:
        event = events_pb2.DocumentUpserted(
            schema_version=SCHEMA_VERSION,
            event_id=command.event_id,
            unit=command.unit,
            document_id=command.document_id,
            version=command.version,
            content_hash=command.content_hash,
            filename=command.filename,
        )
        if command.object_name:
            event.object_name = command.object_name
        payload = json_format.MessageToJson(event).encode()
        await self.dead_letter(command.unit, f"docs.{command.unit}.upsert", code, message, payload, 0)

    async def dead_letter(
        self, unit: str, subject: str, code: str, message: str, payload: bytes, sequence: int
    ) -> None:
        letter = events_pb2.DeadLettered(
            schema_version=SCHEMA_VERSION,
            original_subject=subject,
            code=code,
            message=message,
            payload=payload[:MAX_DEAD_LETTER_PAYLOAD_BYTES],
            occurred_at=_now(),
            stream_sequence=sequence,
        )
        await self._publish(deadletter_subject(unit), json_format.MessageToJson(letter).encode())
        log.warning("event_dead_lettered", unit=unit, code=code, subject=subject, sequence=sequence)

    async def _publish_indexed(
        self, unit: str, document_id: str, version: int, chunk_count: int, outcome: str
    ) -> None:
        event = events_pb2.DocumentIndexed(
            schema_version=SCHEMA_VERSION,
            event_id=str(uuid.uuid4()),
            unit=unit,
            document_id=document_id,
            version=version,
            chunk_count=chunk_count,
            occurred_at=_now(),
            outcome=outcome,
        )
        await self._publish(status_subject(unit), json_format.MessageToJson(event).encode())
        log.info("event_applied", unit=unit, outcome=outcome, chunks=chunk_count, version=version)
