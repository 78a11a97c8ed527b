"""FAQ sheets: find the question and answer columns of a table and read its entries (no I/O).

A header row (among the first few) names the columns, in Vietnamese or English, with or without
diacritics: "Câu hỏi" / "Question", "Trả lời" / "Câu trả lời" / "Answer". Further question columns
("Câu hỏi khác", "Cách hỏi khác") add alternative phrasings; "Chủ đề" / "Lĩnh vực", "STT" / "Mã"
and "Căn cứ" / "Nguồn" columns are kept in the entry's `extra`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.ingest.domain.model import FaqEntry
from trolyao.vietnamese import fold_diacritics, normalize_text

HEADER_SEARCH_ROWS = 10
EXTRA_CATEGORY = "category"
EXTRA_FAQ_ID = "faq_id"
EXTRA_BASIS = "basis"

_QUESTION_HEADERS = ("cau hoi", "noi dung cau hoi", "hoi", "question", "questions", "q", "cach hoi khac")
_ANSWER_HEADERS = (
    "tra loi",
    "cau tra loi",
    "noi dung tra loi",
    "giai dap",
    "dap",
    "answer",
    "answers",
    "a",
    "huong dan tra loi",
)
_EXTRA_HEADERS: dict[str, tuple[str, ...]] = {
    EXTRA_CATEGORY: ("chu de", "linh vuc", "nhom", "nhom cau hoi", "category", "topic"),
    EXTRA_FAQ_ID: ("stt", "so thu tu", "ma", "ma cau hoi", "id", "no"),
    EXTRA_BASIS: ("can cu", "can cu phap ly", "nguon", "van ban", "source", "reference"),
}
_NON_WORD = re.compile(r"[^\w\s]+")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class FaqColumns:
    """Where a sheet keeps its questions (main one first), answers and extra fields."""

    header_row: int
    questions: tuple[int, ...]
    answer: int
    extras: tuple[tuple[str, int], ...]


def _header_key(cell: str) -> str:
    folded = fold_diacritics(cell)
    folded = re.sub(r"\(.*?\)", " ", folded)
    return _WHITESPACE.sub(" ", _NON_WORD.sub(" ", folded)).strip()


def _matches(key: str, names: Sequence[str]) -> bool:
    return any(key == name or (len(name) > 2 and key.startswith(name + " ")) for name in names)


def find_faq_columns(rows: Sequence[tuple[int, Sequence[str]]]) -> FaqColumns | None:
    """The header row and columns of an FAQ table, or None when the table is not one."""
    for row_number, cells in rows[:HEADER_SEARCH_ROWS]:
        keys = [_header_key(cell) for cell in cells]
        answers = [index for index, key in enumerate(keys) if _matches(key, _ANSWER_HEADERS)]
        questions = [
            index
            for index, key in enumerate(keys)
            if _matches(key, _QUESTION_HEADERS) and index not in answers
        ]
        if not questions or not answers:
            continue
        extras = tuple(
            (name, index)
            for name, headers in _EXTRA_HEADERS.items()
            for index, key in enumerate(keys)
            if _matches(key, headers) and index not in questions and index not in answers
        )
        return FaqColumns(row_number, tuple(questions), answers[0], extras)
    return None


def _cell(cells: Sequence[str], index: int) -> str:
    return cells[index] if index < len(cells) else ""


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", normalize_text(text)).strip()


def read_faq_entries(
    rows: Sequence[tuple[int, Sequence[str]]], columns: FaqColumns, *, location_prefix: str = ""
) -> list[FaqEntry]:
    """The entries below the header row that have both a question and an answer.

    Each entry's `location` cites its row: "Dòng 5", or "Hỏi đáp, dòng 5" with a sheet name.
    """
    entries: list[FaqEntry] = []
    for row_number, cells in rows:
        if row_number <= columns.header_row:
            continue
        questions = tuple(
            question for index in columns.questions if (question := _one_line(_cell(cells, index)))
        )
        answer = normalize_text(_cell(cells, columns.answer))
        if not questions or not answer:
            continue
        extra = {name: value for name, index in columns.extras if (value := _one_line(_cell(cells, index)))}
        location = f"{location_prefix}, dòng {row_number}" if location_prefix else f"Dòng {row_number}"
        entries.append(FaqEntry(questions=questions, answer=answer, location=location, extra=extra))
    return entries


__all__ = ["FaqColumns", "find_faq_columns", "read_faq_entries"]
