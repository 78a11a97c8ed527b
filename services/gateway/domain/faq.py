"""FAQ entries curated by a unit, and how each becomes a document in the ingest pipeline (no I/O).

An entry `faq_id` is the document `faq-<faq_id>`: a one-entry FAQ sheet (header row "Câu hỏi",
"Trả lời", "Câu hỏi khác"..., "Chủ đề", "Căn cứ") that ingest's FAQ-sheet parser turns into one FAQ
chunk, so curated answers travel the same path as every other document (versions, status,
snapshots) and retrieval prefers them when they match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

FAQ_DOCUMENT_PREFIX = "faq-"
FAQ_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_FAQ_ID = re.compile(FAQ_ID_PATTERN)

HEADER_QUESTION = "Câu hỏi"
HEADER_ANSWER = "Trả lời"
HEADER_ALTERNATIVE = "Câu hỏi khác"
HEADER_CATEGORY = "Chủ đề"
HEADER_BASIS = "Căn cứ"


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One curated question with its answer, alternative phrasings and legal basis."""

    unit: str
    faq_id: str
    question: str
    answer: str
    alternative_questions: tuple[str, ...] = field(default_factory=tuple)
    category: str = ""
    basis: str = ""
    version: int = 0
    created_at: str = ""
    updated_at: str = ""

    @property
    def document_id(self) -> str:
        """The document this entry is indexed as."""
        return faq_document_id(self.faq_id)


def faq_document_id(faq_id: str) -> str:
    """`faq-<faq_id>`: the document id of an FAQ entry."""
    return FAQ_DOCUMENT_PREFIX + faq_id


def is_valid_faq_id(faq_id: str) -> bool:
    """Lower-case letters, digits and hyphens (it is part of a document id and a storage key)."""
    return bool(_FAQ_ID.match(faq_id))


def faq_sheet_rows(entry: FaqEntry) -> list[list[str]]:
    """Header and the one row of the entry's FAQ sheet, in the columns ingest recognises."""
    header = [HEADER_QUESTION, HEADER_ANSWER]
    row = [entry.question, entry.answer]
    for alternative in entry.alternative_questions:
        header.append(HEADER_ALTERNATIVE)
        row.append(alternative)
    if entry.category:
        header.append(HEADER_CATEGORY)
        row.append(entry.category)
    if entry.basis:
        header.append(HEADER_BASIS)
        row.append(entry.basis)
    return [header, row]


class FaqStore(Protocol):
    """The curated entries of each unit (a NATS KV bucket in production)."""

    async def get(self, unit: str, faq_id: str) -> FaqEntry | None:
        """The entry, or None."""
        ...

    async def put(self, entry: FaqEntry) -> None:
        """Create or replace the entry."""
        ...

    async def delete(self, unit: str, faq_id: str) -> bool:
        """Forget the entry; False when there was none."""
        ...

    async def list(self, unit: str) -> list[FaqEntry]:
        """Every entry of the unit, by id."""
        ...


__all__ = [
    "FAQ_DOCUMENT_PREFIX",
    "FAQ_ID_PATTERN",
    "FaqEntry",
    "FaqStore",
    "faq_document_id",
    "faq_sheet_rows",
    "is_valid_faq_id",
]
