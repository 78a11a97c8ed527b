"""Document events as ingest understands them, and the rules a well-formed event must meet.

The wire payload is decoded at the edge (`entrypoints/event_decoding.py`); the rules here work on
plain values. Anything that breaks the contract becomes a `PoisonMessage` with a stable code and a
Vietnamese explanation, and goes to the dead-letter subject instead of being dropped or retried
forever.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime

from trolyao.documents import METADATA_MAX_CHARS, DocumentMetadata, overlong_metadata_fields

SUPPORTED_SCHEMA_VERSIONS = {0, 1}
MICROSECONDS = 1_000_000
# Longest accepted value of the event's own descriptive fields (characters); metadata limits are
# `trolyao.documents.METADATA_MAX_CHARS`.
EVENT_FIELD_MAX_CHARS = {
    "event_id": 128,
    "source": 64,
    "content_hash": 128,
    "filename": 255,
    "media_type": 255,
    "object_name": 1024,
}


@dataclass(frozen=True, slots=True)
class DocumentRef:
    """Which document an event is about, once that much of it could be read."""

    unit: str
    document_id: str
    version: int


class PoisonMessage(Exception):
    """An event that can never be processed; it is dead-lettered with this reason.

    `document` names the document when the event identified it, so it can be marked failed and
    its unit told (one outcome per event on `status.docs.<unit>`).
    """

    def __init__(self, code: str, message: str, *, document: DocumentRef | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.document = document


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


def check_field_lengths(fields: Mapping[str, str], document: DocumentRef) -> None:
    for name, limit in EVENT_FIELD_MAX_CHARS.items():
        if len(fields.get(name, "")) > limit:
            raise PoisonMessage(
                "field_too_long",
                f"Trường '{name}' của sự kiện dài quá {limit} ký tự.",
                document=document,
            )


def check_metadata(metadata: DocumentMetadata, document: DocumentRef) -> None:
    overlong = overlong_metadata_fields(asdict(metadata))
    if overlong:
        limits = ", ".join(f"{name} ≤ {METADATA_MAX_CHARS[name]}" for name in overlong)
        raise PoisonMessage(
            "metadata_too_long",
            f"Thông tin mô tả văn bản dài quá giới hạn (ký tự): {limits}.",
            document=document,
        )


def check_object_owner(object_name: str, document: DocumentRef) -> None:
    """An original is named `<unit>.<encoded id>/<version>`: an event may only load its own unit's."""
    if object_name.partition(".")[0] != document.unit or "/" not in object_name:
        raise PoisonMessage(
            "object_unit_mismatch",
            f"Bản gốc '{object_name[:200]}' không thuộc đơn vị '{document.unit}'.",
            document=document,
        )


def version_from_time(occurred_at: str) -> int:
    if not occurred_at:
        return 0
    try:
        moment = datetime.fromisoformat(occurred_at.replace("Z", "+00:00"))
    except ValueError as error:
        raise PoisonMessage("invalid_time", f"Thời điểm '{occurred_at}' không đúng RFC 3339.") from error
    return int(moment.timestamp() * MICROSECONDS)


def hash_of(text: str | None, data: bytes | None, object_name: str) -> str:
    if text is not None:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    if data is not None:
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return "object:" + object_name
