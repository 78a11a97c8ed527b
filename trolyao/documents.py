"""Value types that cross service boundaries: a document's metadata and its chunks.

They mirror `proto/trolyao/v1/documents.proto`; `trolyao.conversions` maps between the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

# The longest value each metadata field may hold (characters). Every copy of the metadata (status
# record, chunk payloads, citations) stays small, whoever sent it: the gateway refuses longer values
# (422) and ingest dead-letters an event carrying them (`metadata_too_long`).
METADATA_MAX_CHARS: Mapping[str, int] = {
    "title": 1000,
    "number": 100,
    "issuer": 300,
    "issued_date": 32,
    "effective_date": 32,
    "doc_type": 100,
    "source_url": 2048,
}


@dataclass(frozen=True, slots=True)
class DocumentMetadata:
    """What a citation shows about a document. Dates are ISO `YYYY-MM-DD` or empty."""

    title: str = ""
    number: str = ""
    issuer: str = ""
    issued_date: str = ""
    effective_date: str = ""
    doc_type: str = ""
    source_url: str = ""

    def merged_with(self, override: DocumentMetadata) -> DocumentMetadata:
        """Fields set in `override` win; empty ones keep this object's value."""
        return DocumentMetadata(
            **{name: getattr(override, name) or getattr(self, name) for name in self.__dataclass_fields__}
        )


def overlong_metadata_fields(metadata: Mapping[str, str]) -> list[str]:
    """Names of the fields longer than `METADATA_MAX_CHARS` allows (unknown names are not checked)."""
    return sorted(
        name
        for name, value in metadata.items()
        if name in METADATA_MAX_CHARS and len(value) > METADATA_MAX_CHARS[name]
    )


class ChunkKind(StrEnum):
    PASSAGE = "passage"
    FAQ = "faq"


@dataclass(frozen=True, slots=True)
class Chunk:
    """One searchable piece of a document, cut along its own structure.

    `text` is the original (Unicode-normalised) text shown and cited; `path` locates it
    ("Chương II, Điều 5, Khoản 2"); FAQ chunks carry the question(s) in `question`, one per line,
    and the curated answer in `text`.
    """

    ordinal: int
    text: str
    path: str = ""
    kind: ChunkKind = ChunkKind.PASSAGE
    question: str = ""
    extra: dict[str, str] = field(default_factory=dict)
