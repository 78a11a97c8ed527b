"""Document events as ingest understands them, and the rules a well-formed event must meet.

Raw NATS payloads are decoded here once (proto3 JSON mapping of trolyao.v1 events); anything that
breaks the contract becomes a `PoisonMessage` with a stable code and a Vietnamese explanation, and
goes to the dead-letter subject instead of being dropped or retried forever.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from google.protobuf import json_format

from trolyao.conversions import metadata_from_proto
from trolyao.document_ids import InvalidDocumentId, canonical_document_id
from trolyao.documents import DocumentMetadata
from trolyao.messaging import UNIT_ID_PATTERN
from trolyao.v1 import events_pb2

SUPPORTED_SCHEMA_VERSIONS = {0, 1}
MICROSECONDS = 1_000_000


class PoisonMessage(Exception):
    """An event that can never be processed; it is dead-lettered with this reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class UpsertDocument:
    event_id: str
    unit: str
    document_id: str
    version: int
    content_hash: str
    metadata: DocumentMetadata
    text: str | None
    data: bytes | None
    object_name: str
    filename: str
    media_type: str
    source: str
    reindex: bool = False


@dataclass(frozen=True, slots=True)
class DeleteDocument:
    event_id: str
    unit: str
    document_id: str
    version: int
    source: str


def decode_event(subject: str, payload: bytes) -> UpsertDocument | DeleteDocument:
    """Turn a `docs.<unit>.<action>` message into a command, or raise PoisonMessage."""
    parts = subject.split(".")
    if len(parts) != 3 or parts[0] != "docs" or parts[2] not in ("upsert", "delete"):
        raise PoisonMessage(
            "unknown_subject", f"Chủ đề '{subject}' không hợp lệ: cần docs.<đơn vị>.upsert hoặc .delete."
        )
    subject_unit, action = parts[1], parts[2]
    message: events_pb2.DocumentUpserted | events_pb2.DocumentDeleted = (
        events_pb2.DocumentUpserted() if action == "upsert" else events_pb2.DocumentDeleted()
    )
    try:
        json_format.Parse(payload.decode("utf-8"), message, ignore_unknown_fields=True)
    except UnicodeDecodeError as error:
        raise PoisonMessage("malformed_json", "Sự kiện không phải văn bản UTF-8.") from error
    except json_format.ParseError as error:
        raise PoisonMessage(
            "malformed_json", f"Sự kiện không đúng định dạng JSON của hợp đồng sự kiện: {error}"
        ) from error
    if message.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        raise PoisonMessage(
            "unsupported_schema_version",
            f"Phiên bản lược đồ {message.schema_version} chưa được hỗ trợ.",
        )
    unit = message.unit or subject_unit
    if unit != subject_unit:
        raise PoisonMessage(
            "unit_mismatch", f"Đơn vị trong sự kiện ('{unit}') khác đơn vị của chủ đề ('{subject_unit}')."
        )
    if not UNIT_ID_PATTERN.match(unit):
        raise PoisonMessage("invalid_unit", f"Mã đơn vị '{unit}' không hợp lệ.")
    try:
        document_id = canonical_document_id(message.document_id)
    except InvalidDocumentId as error:
        raise PoisonMessage("invalid_document_id", error.message) from error
    version = message.version or _version_from_time(message.occurred_at)
    if version <= 0:
        raise PoisonMessage(
            "missing_version", "Sự kiện cần có 'version' (số nguyên dương) hoặc 'occurred_at' (RFC 3339)."
        )
    if isinstance(message, events_pb2.DocumentDeleted):
        return DeleteDocument(
            event_id=message.event_id,
            unit=unit,
            document_id=document_id,
            version=version,
            source=message.source,
        )
    content = message.WhichOneof("content")
    if content is None:
        raise PoisonMessage(
            "missing_content",
            "Sự kiện cập nhật văn bản cần một trong các trường text, data hoặc object_name.",
        )
    text = message.text if content == "text" else None
    data = message.data if content == "data" else None
    content_hash = message.content_hash or _hash_of(text, data, message.object_name)
    return UpsertDocument(
        event_id=message.event_id,
        unit=unit,
        document_id=document_id,
        version=version,
        content_hash=content_hash,
        metadata=metadata_from_proto(message.metadata),
        text=text,
        data=data,
        object_name=message.object_name if content == "object_name" else "",
        filename=message.filename,
        media_type=message.media_type,
        source=message.source,
        reindex=message.reindex,
    )


def _version_from_time(occurred_at: str) -> int:
    if not occurred_at:
        return 0
    try:
        moment = datetime.fromisoformat(occurred_at.replace("Z", "+00:00"))
    except ValueError as error:
        raise PoisonMessage("invalid_time", f"Thời điểm '{occurred_at}' không đúng RFC 3339.") from error
    return int(moment.timestamp() * MICROSECONDS)


def _hash_of(text: str | None, data: bytes | None, object_name: str) -> str:
    if text is not None:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    if data is not None:
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return "object:" + object_name
