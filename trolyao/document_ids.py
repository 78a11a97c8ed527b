"""A unit's document id, and every name the stack derives from it.

A document id is the unit's own id, often a legal number (`13/2023/NĐ-CP`): any text of at most
`MAX_DOCUMENT_ID_CHARS` characters, without control characters or surrounding whitespace. It is kept
in Unicode NFC, so an id typed in NFC and one sent in NFD are the same document, and shown exactly
so everywhere (statuses, listings, citations, events).

NATS KV keys and object names never carry the raw id: they carry its URL-safe base64 (unpadded),
which is made of `[A-Za-z0-9_-]` only. The encoding has not changed since ids were first encoded
this way, so every key written for an id that was already in NFC still reads back.
"""

from __future__ import annotations

import base64
import unicodedata

MAX_DOCUMENT_ID_CHARS = 200
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs"})  # control characters; lone surrogates are not UTF-8


class InvalidDocumentId(ValueError):
    """An id no document may have; `message` says why, in Vietnamese, for the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def canonical_document_id(document_id: str) -> str:
    """The id in NFC, or InvalidDocumentId when it is empty, too long or holds a control character."""
    canonical = unicodedata.normalize("NFC", document_id)
    if not canonical:
        raise InvalidDocumentId("Thiếu mã văn bản.")
    if len(canonical) > MAX_DOCUMENT_ID_CHARS:
        raise InvalidDocumentId(f"Mã văn bản dài quá {MAX_DOCUMENT_ID_CHARS} ký tự.")
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in canonical):
        raise InvalidDocumentId("Mã văn bản không được chứa ký tự điều khiển.")
    if canonical != canonical.strip():
        raise InvalidDocumentId("Mã văn bản không được bắt đầu hay kết thúc bằng khoảng trắng.")
    return canonical


def encode_document_id(document_id: str) -> str:
    """The id as it may appear in a NATS subject token, KV key or object name."""
    return base64.urlsafe_b64encode(document_id.encode("utf-8")).decode("ascii").rstrip("=")


def decode_document_id(encoded: str) -> str:
    padded = encoded + "=" * (-len(encoded) % 4)
    return base64.urlsafe_b64decode(padded).decode("utf-8")


def document_key(unit: str, document_id: str) -> str:
    """The KV key of (unit, document id): `<unit>.<encoded id>`."""
    return f"{unit}.{encode_document_id(document_id)}"


def document_id_from_key(key: str) -> tuple[str, str]:
    """(unit, document id) of a key made by `document_key`."""
    unit, _, encoded = key.partition(".")
    return unit, decode_document_id(encoded)


def original_object_name(unit: str, document_id: str, version: int) -> str:
    """The object-store name of one version's original: `<unit>.<encoded id>/<version>`."""
    return f"{document_key(unit, document_id)}/{version}"


__all__ = [
    "MAX_DOCUMENT_ID_CHARS",
    "InvalidDocumentId",
    "canonical_document_id",
    "decode_document_id",
    "document_id_from_key",
    "document_key",
    "encode_document_id",
    "original_object_name",
]
