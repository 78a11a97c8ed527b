"""Value types that cross service boundaries: a document's metadata and its chunks.

They mirror `proto/trolyao/v1/documents.proto`; `trolyao.conversions` maps between the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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
