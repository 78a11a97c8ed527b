"""Test questions from a spreadsheet, the way units keep such lists (no I/O).

The first non-empty row is the header; columns are recognised by their Vietnamese (or English)
names, with or without diacritics: "Mã", "Câu hỏi", "Đáp án mong đợi", "Văn bản", "Điều/Khoản",
"Phải từ chối", "Không dấu". Every other row is one question; a bad row is reported with its line
number and reason and the good rows are kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.gateway.domain.quality import (
    InvalidTestQuestion,
    TestQuestion,
    generated_question_id,
    validate_test_question,
)
from trolyao.vietnamese import fold_diacritics

MAX_SHEET_ROWS = 5000
_NOT_WORD = re.compile(r"[^a-z0-9]+")

COLUMN_ID = "question_id"
COLUMN_QUESTION = "question"
COLUMN_EXPECTED = "expected_answer"
COLUMN_DOCUMENT = "expected_document_id"
COLUMN_SECTION = "expected_section"
COLUMN_MUST_REFUSE = "must_refuse"
COLUMN_IGNORE_DIACRITICS = "ignore_diacritics"

# Header text (diacritics folded, punctuation removed) -> column.
_HEADERS = {
    "ma": COLUMN_ID,
    "ma cau hoi": COLUMN_ID,
    "id": COLUMN_ID,
    "question id": COLUMN_ID,
    "cau hoi": COLUMN_QUESTION,
    "question": COLUMN_QUESTION,
    "dap an": COLUMN_EXPECTED,
    "dap an mong doi": COLUMN_EXPECTED,
    "tra loi mong doi": COLUMN_EXPECTED,
    "cau tra loi mong doi": COLUMN_EXPECTED,
    "expected answer": COLUMN_EXPECTED,
    "van ban": COLUMN_DOCUMENT,
    "ma van ban": COLUMN_DOCUMENT,
    "van ban trich dan": COLUMN_DOCUMENT,
    "van ban mong doi": COLUMN_DOCUMENT,
    "expected document id": COLUMN_DOCUMENT,
    "dieu khoan": COLUMN_SECTION,
    "dieu": COLUMN_SECTION,
    "expected section": COLUMN_SECTION,
    "phai tu choi": COLUMN_MUST_REFUSE,
    "tu choi": COLUMN_MUST_REFUSE,
    "must refuse": COLUMN_MUST_REFUSE,
    "khong dau": COLUMN_IGNORE_DIACRITICS,
    "so khop khong dau": COLUMN_IGNORE_DIACRITICS,
    "ignore diacritics": COLUMN_IGNORE_DIACRITICS,
}
_TRUE = frozenset({"x", "co", "1", "true", "yes", "dung", "phai"})
_FALSE = frozenset({"", "0", "khong", "false", "no", "sai"})


class UnreadableSheet(ValueError):
    """The sheet as a whole cannot be imported; the message is Vietnamese."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row left out of the import: its line number in the sheet and why."""

    line: int
    reason: str


def _column_name(header: str) -> str:
    return _NOT_WORD.sub(" ", fold_diacritics(header)).strip()


def _flag(value: str, column: str) -> bool:
    folded = _column_name(value)
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    label = "Phải từ chối" if column == COLUMN_MUST_REFUSE else "Không dấu"
    raise InvalidTestQuestion(f"Cột «{label}» chỉ nhận «có»/«x» hoặc để trống, không nhận «{value}».")


def _columns(header: Sequence[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, text in enumerate(header):
        column = _HEADERS.get(_column_name(text))
        if column is not None and column not in columns:
            columns[column] = index
    if COLUMN_QUESTION not in columns:
        raise UnreadableSheet(
            "Không tìm thấy cột «Câu hỏi» ở dòng tiêu đề (dòng đầu tiên có dữ liệu). Các cột được nhận: "
            "Mã, Câu hỏi, Đáp án mong đợi, Văn bản, Điều/Khoản, Phải từ chối, Không dấu."
        )
    return columns


def questions_from_rows(
    rows: Sequence[tuple[int, Sequence[str]]],
) -> tuple[list[TestQuestion], list[RowProblem]]:
    """(good questions, bad rows) from numbered rows; the first non-empty row is the header."""
    filled = [
        (line, [cell.strip() for cell in cells]) for line, cells in rows if any(c.strip() for c in cells)
    ]
    if not filled:
        raise UnreadableSheet("Tệp không có dòng dữ liệu nào.")
    if len(filled) - 1 > MAX_SHEET_ROWS:
        raise UnreadableSheet(f"Tệp có quá {MAX_SHEET_ROWS} câu hỏi; hãy chia thành nhiều tệp.")
    columns = _columns(filled[0][1])
    good: list[TestQuestion] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for line, cells in filled[1:]:

        def cell(column: str, cells: Sequence[str] = cells) -> str:
            index = columns.get(column)
            return cells[index] if index is not None and index < len(cells) else ""

        try:
            question = cell(COLUMN_QUESTION)
            if not question:
                raise InvalidTestQuestion("Thiếu nội dung câu hỏi.")
            item = validate_test_question(
                TestQuestion(
                    question_id=cell(COLUMN_ID).lower() or generated_question_id(question),
                    question=question,
                    expected_answer=cell(COLUMN_EXPECTED),
                    expected_document_id=cell(COLUMN_DOCUMENT),
                    expected_section=cell(COLUMN_SECTION),
                    must_refuse=_flag(cell(COLUMN_MUST_REFUSE), COLUMN_MUST_REFUSE),
                    ignore_diacritics=_flag(cell(COLUMN_IGNORE_DIACRITICS), COLUMN_IGNORE_DIACRITICS),
                )
            )
        except InvalidTestQuestion as error:
            problems.append(RowProblem(line=line, reason=str(error)))
            continue
        if item.question_id in seen:
            problems.append(
                RowProblem(
                    line=line,
                    reason=f"Trùng câu hỏi (mã {item.question_id}) với dòng {seen[item.question_id]}.",
                )
            )
            continue
        seen[item.question_id] = line
        good.append(item)
    return good, problems


__all__ = ["MAX_SHEET_ROWS", "RowProblem", "UnreadableSheet", "questions_from_rows"]
