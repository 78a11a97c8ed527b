"""The edge of ingest's event contract: a raw `docs.<unit>.<action>` NATS message → a command.

The payload is the proto3 JSON mapping of the trolyao.v1 events; it is parsed here, once, and the
domain's rules (`domain/events.py`) judge the plain values. Anything that breaks the contract
raises `PoisonMessage`, which the consumer dead-letters.
"""

from __future__ import annotations

from google.protobuf import json_format

from services.ingest.domain.events import (
    EVENT_FIELD_MAX_CHARS,
    SUPPORTED_SCHEMA_VERSIONS,
    DeleteDocument,
    DocumentRef,
    PoisonMessage,
    UpsertDocument,
    check_field_lengths,
    check_metadata,
    check_object_owner,
    hash_of,
    version_from_time,
)
from trolyao.conversions import metadata_from_proto
from trolyao.document_ids import InvalidDocumentId, canonical_document_id
from trolyao.messaging import BULK_SEGMENT, UNIT_ID_PATTERN
from trolyao.v1 import events_pb2


def decode_event(subject: str, payload: bytes) -> UpsertDocument | DeleteDocument:
    """Turn a `docs.<unit>[.bulk].<action>` message into a command, or raise PoisonMessage."""
    parts = subject.split(".")
    if len(parts) == 4 and parts[2] == BULK_SEGMENT:
        del parts[2]  # docs.<unit>.bulk.<action>: the same event on the bulk lane
    if len(parts) != 3 or parts[0] != "docs" or parts[2] not in ("upsert", "delete"):
        raise PoisonMessage(
            "unknown_subject",
            f"Chủ đề '{subject}' không hợp lệ: cần docs.<đơn vị>.upsert|delete "
            "hoặc docs.<đơn vị>.bulk.upsert|delete.",
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
    version = message.version or version_from_time(message.occurred_at)
    if version <= 0:
        raise PoisonMessage(
            "missing_version", "Sự kiện cần có 'version' (số nguyên dương) hoặc 'occurred_at' (RFC 3339)."
        )
    document = DocumentRef(unit=unit, document_id=document_id, version=version)
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
            document=document,
        )
    check_field_lengths({name: getattr(message, name) for name in EVENT_FIELD_MAX_CHARS}, document)
    metadata = metadata_from_proto(message.metadata)
    check_metadata(metadata, document)
    if content == "object_name":
        check_object_owner(message.object_name, document)
    text = message.text if content == "text" else None
    data = message.data if content == "data" else None
    content_hash = message.content_hash or hash_of(text, data, message.object_name)
    return UpsertDocument(
        event_id=message.event_id,
        unit=unit,
        document_id=document_id,
        version=version,
        content_hash=content_hash,
        metadata=metadata,
        text=text,
        data=data,
        object_name=message.object_name if content == "object_name" else "",
        filename=message.filename,
        media_type=message.media_type,
        source=message.source,
        reindex=message.reindex,
    )
