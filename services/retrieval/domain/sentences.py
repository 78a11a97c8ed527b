"""Cutting a chunk's text into the sentences and clauses an answer is composed from."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? … or ; followed by space and a capital / digit / list marker; a line
# break always ends one (legal text puts each khoản and điểm on its own line), and so does an
# inline list item ("…năm 2024: - Doanh thu …. - Lợi nhuận …"): each item is its own sentence.
# A colon inside a line does not ("thông báo cho sinh viên về: Thời khóa biểu …" is one sentence).
_SENTENCE_END = re.compile(
    r"(?<=[.!?…;])\s+(?=[\"“(\[]?[A-ZÀ-ỸĐ0-9a-zđ]\)?)|(?<=[.!?…;:])\s+(?=[-–•+]\s)|\n+"
)
# How a list item starts: a dash or bullet, a letter or number with a bracket or dot.
LIST_ITEM = re.compile(r"^(?:[-–•+]\s|[a-zđ]\)\s|\d{1,2}[.)]\s)")
# Abbreviations that end with a dot but do not end a sentence.
_ABBREVIATION_TAIL = re.compile(
    r"(?:\b(?:TP|Tp|ThS|TS|PGS|GS|BS|Th|St|Mr|Mrs|Dr|v\.v|tr|nd|ng)\.|\b[A-Z]\.)$"
)
MIN_SENTENCE_CHARS = 2


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of a chunk with its character span in the chunk's text."""

    index: int
    text: str
    start: int
    end: int


def _continues_clause(text: str, at: int) -> bool:
    """Whether the text after a ";" goes on with the same sentence ("…đại trà; đáp ứng mục tiêu…")
    rather than opening a new one (a capital, a digit, a list marker such as "b)")."""
    following = text[at : at + 2]
    return bool(following) and following[0].islower() and not following.endswith(")")


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of `text`, in order, with spans; never empty for non-blank text."""
    pieces: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()]
        inline = "\n" not in match.group(0)
        if inline and _ABBREVIATION_TAIL.search(candidate):
            continue
        if inline and candidate.endswith(";") and _continues_clause(text, match.end()):
            continue
        pieces.append((start, match.start()))
        start = match.end()
    pieces.append((start, len(text)))
    sentences: list[Sentence] = []
    for begin, end in pieces:
        raw = text[begin:end]
        stripped = raw.strip()
        if len(stripped) < MIN_SENTENCE_CHARS:
            continue
        offset = begin + (len(raw) - len(raw.lstrip()))
        sentences.append(Sentence(len(sentences), stripped, offset, offset + len(stripped)))
    return sentences


__all__ = ["LIST_ITEM", "Sentence", "split_sentences"]
