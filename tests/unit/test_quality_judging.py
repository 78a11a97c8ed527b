"""Judging a unit's test questions, tallying runs, finding regressions and reading question sheets
(domain and sheet reader, no services)."""

from __future__ import annotations

import csv
import io
import unicodedata

import openpyxl
import pytest

from services.gateway.adapters.question_sheets import UnreadableFile, spreadsheet_rows
from services.gateway.domain import quality
from services.gateway.domain.quality_sheet import UnreadableSheet, questions_from_rows

pytestmark = pytest.mark.timeout(30)

DATE_ANSWER = "Từ 15/9/2024 sẽ tắt sóng 2G theo quy định."


def reply(
    text: str = DATE_ANSWER, *, answered: bool = True, cites: str = "tb-2g", path: str = ""
) -> quality.AssistantReply:
    return quality.AssistantReply(
        answered=answered,
        text=text if answered else "",
        confidence=0.8,
        citations=(quality.CitedSource(document_id=cites, title="Thông báo", path=path),) if answered else (),
    )


def question(**fields: object) -> quality.TestQuestion:
    base: dict[str, object] = {"question_id": "q1", "question": "Khi nào tắt sóng 2G?"}
    return quality.validate_test_question(quality.TestQuestion(**{**base, **fields}))  # type: ignore[arg-type]


def test_expected_text_is_matched_after_nfc_case_and_white_space_folding() -> None:
    decomposed = unicodedata.normalize("NFD", "TẮT   SÓNG\n2G")
    item = question(expected_answer=decomposed)
    assert quality.judge(item, reply()).verdict is quality.Verdict.RIGHT
    assert quality.judge(question(expected_answer="1/10/2024"), reply()).verdict is quality.Verdict.WRONG


def test_diacritic_insensitive_matching_is_opt_in() -> None:
    assert quality.judge(question(expected_answer="tat song 2g"), reply()).verdict is quality.Verdict.WRONG
    item = question(expected_answer="tat song 2g", ignore_diacritics=True)
    assert quality.judge(item, reply()).verdict is quality.Verdict.RIGHT


def test_a_long_answer_that_merely_contains_the_expected_text_is_too_long() -> None:
    long_answer = DATE_ANSWER + " " + "Các nhà mạng cần có phương án hỗ trợ người dân. " * 8
    assert len(long_answer) > quality.MAX_RIGHT_ANSWER_CHARS
    result = quality.judge(question(expected_answer="15/9/2024"), reply(long_answer))
    assert result.verdict is quality.Verdict.TOO_LONG and "400" in result.reason


def test_refusals_and_must_refuse_questions() -> None:
    refused = quality.judge(question(expected_answer="15/9/2024"), reply(answered=False))
    assert refused.verdict is quality.Verdict.REFUSED and refused.answer == ""
    must_refuse = question(must_refuse=True)
    assert quality.judge(must_refuse, reply(answered=False)).verdict is quality.Verdict.RIGHT
    invented = quality.judge(must_refuse, reply("Giá vé là 1.500.000 đồng."))
    assert invented.verdict is quality.Verdict.WRONG and "phải từ chối" in invented.reason


def test_expected_document_and_section_must_be_cited() -> None:
    by_document = question(expected_document_id="tb-2g")
    assert quality.judge(by_document, reply()).verdict is quality.Verdict.RIGHT
    other = quality.judge(by_document, reply(cites="tb-khac"))
    assert other.verdict is quality.Verdict.WRONG and "tb-2g" in other.reason
    by_section = question(expected_document_id="tb-2g", expected_section="Điều 2")
    assert (
        quality.judge(by_section, reply(path="Chương I > Điều 2. Lộ trình")).verdict is quality.Verdict.RIGHT
    )
    assert quality.judge(by_section, reply(path="Điều 3")).verdict is quality.Verdict.WRONG


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, "ít nhất một tiêu chí"),
        ({"question": "  "}, "Thiếu nội dung"),
        ({"must_refuse": True, "expected_answer": "x"}, "phải từ chối"),
        ({"expected_section": "Điều 2", "expected_answer": "x"}, "mã văn bản"),
        ({"question_id": "Có Dấu", "expected_answer": "x"}, "Mã câu hỏi"),
    ],
)
def test_a_question_that_cannot_be_judged_is_refused(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(quality.InvalidTestQuestion, match=reason):
        question(**fields)


def _result(
    question_id: str, verdict: quality.Verdict, *, must_refuse: bool = False
) -> quality.QuestionResult:
    return quality.QuestionResult(
        question_id=question_id,
        question=question_id,
        must_refuse=must_refuse,
        verdict=verdict,
        reason="",
        answered=verdict is not quality.Verdict.REFUSED,
        answer="",
        confidence=0.5,
        citations=(quality.CitedSource(document_id="tb-2g"),),
    )


def test_the_correct_rate_counts_wrong_too_long_and_refused_as_failures() -> None:
    V = quality.Verdict
    counts = quality.count_results(
        [
            _result("a", V.RIGHT),
            _result("b", V.RIGHT),
            _result("c", V.WRONG),
            _result("d", V.TOO_LONG),
            _result("e", V.REFUSED),
            _result("f", V.RIGHT, must_refuse=True),
            _result("g", V.WRONG, must_refuse=True),
        ]
    )
    assert (counts.answerable, counts.correct, counts.wrong, counts.refused, counts.too_long) == (
        5,
        2,
        2,
        1,
        1,
    )
    assert (counts.must_refuse, counts.must_refuse_right) == (2, 1)
    assert counts.correct_rate == pytest.approx(0.4)
    assert quality.count_results([_result("f", V.RIGHT, must_refuse=True)]).correct_rate is None


def test_regressions_are_right_before_and_not_now_with_the_cited_document_first() -> None:
    V = quality.Verdict
    before = [_result("a", V.RIGHT), _result("b", V.WRONG), _result("c", V.RIGHT), _result("d", V.RIGHT)]
    now = [_result("a", V.WRONG), _result("b", V.RIGHT), _result("c", V.RIGHT), _result("d", V.REFUSED)]
    changes = [
        quality.KnowledgeChange(document_id="a-khac", version=3, status="indexed"),
        quality.KnowledgeChange(document_id="tb-2g", version=7, status="indexed"),
    ]
    found = quality.find_regressions(before, now, previous_run_id="r1", changes=changes)
    assert [(r.question_id, r.previous_verdict, r.verdict) for r in found] == [
        ("a", V.RIGHT, V.WRONG),
        ("d", V.RIGHT, V.REFUSED),
    ]
    assert [c.document_id for c in found[0].changes] == ["tb-2g", "a-khac"]
    assert found[0].previous_run_id == "r1"


def test_pending_changes_wait_for_quiet_or_the_longest_wait_and_respect_a_live_claim() -> None:
    pending = quality.PendingChanges(unit="u", first_at=0.0, last_at=0.0, count=1)
    for moment in range(1, 50):
        pending = pending.with_change(float(moment), quality.RunTrigger.CHANGE)
    assert pending.count == 50
    assert not pending.is_due(55.0, quiet_seconds=10, max_wait_seconds=120)
    assert pending.is_due(59.0, quiet_seconds=10, max_wait_seconds=120)
    steady = quality.PendingChanges(unit="u", first_at=0.0, last_at=119.0, count=120)
    assert steady.is_due(120.0, quiet_seconds=10, max_wait_seconds=120)
    claimed = quality.PendingChanges(
        unit="u", first_at=0.0, last_at=0.0, count=1, claimed_by="other", claimed_until=100.0
    )
    assert not claimed.is_due(99.0, quiet_seconds=10, max_wait_seconds=120)
    assert claimed.is_due(101.0, quiet_seconds=10, max_wait_seconds=120)
    scheduled = quality.PendingChanges(unit="u", first_at=0, last_at=0, count=1, trigger="schedule")
    assert scheduled.with_change(1.0, quality.RunTrigger.CHANGE).trigger == "change"


HEADER = ["Mã", "Câu hỏi", "Đáp án mong đợi", "Văn bản", "Phải từ chối"]


def sheet_rows(count: int, bad: dict[int, list[str]]) -> list[list[str]]:
    """`count` data rows (sheet lines 2..count+1); rows at the lines in `bad` replaced."""
    rows = [HEADER]
    for index in range(count):
        line = index + 2
        rows.append(bad.get(line, [f"cau-{index}", f"Câu hỏi số {index}?", f"đáp án {index}", "", ""]))
    return rows


BAD_ROWS = {
    17: ["cau-x", "", "đáp án", "", ""],  # no question
    250: ["cau-y", "Câu hỏi không có tiêu chí?", "", "", ""],  # nothing to judge by
    444: ["cau-z", "Câu hỏi phải từ chối?", "", "", "có lẽ"],  # not a yes/no
}


def xlsx_bytes(rows: list[list[str]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: list[list[str]], delimiter: str = ";") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


@pytest.mark.parametrize("form", ["xlsx", "csv"])
def test_a_500_row_sheet_with_3_bad_rows_keeps_497_and_names_the_3_lines(form: str) -> None:
    rows = sheet_rows(500, BAD_ROWS)
    data = xlsx_bytes(rows) if form == "xlsx" else csv_bytes(rows)
    good, problems = questions_from_rows(spreadsheet_rows(data, filename=f"cau-hoi.{form}"))
    assert len(good) == 497
    assert [p.line for p in problems] == [17, 250, 444]
    assert "Thiếu nội dung câu hỏi" in problems[0].reason
    assert "ít nhất một tiêu chí" in problems[1].reason
    assert "có lẽ" in problems[2].reason
    assert good[0].question_id == "cau-0" and good[0].expected_answer == "đáp án 0"


def test_sheet_columns_are_found_by_name_ids_are_stable_and_duplicates_reported() -> None:
    rows = [
        ["", ""],
        ["phai tu choi", "CÂU HỎI", "Đáp án"],
        ["x", "Giá vé máy bay là bao nhiêu?", ""],
        ["", "Khi nào tắt sóng 2G?", "15/9/2024"],
        ["", "khi nào  tắt sóng 2G?", "15/9/2024"],
    ]
    good, problems = questions_from_rows(spreadsheet_rows(csv_bytes(rows, ","), filename="a.csv"))
    assert [(q.must_refuse, q.expected_answer) for q in good] == [(True, ""), (False, "15/9/2024")]
    assert good[1].question_id == quality.generated_question_id("Khi nào tắt sóng 2G?")
    assert [(p.line, "dòng 4" in p.reason) for p in problems] == [(5, True)]


def test_unreadable_sheets_are_refused_whole() -> None:
    with pytest.raises(UnreadableSheet, match="Câu hỏi"):
        questions_from_rows(spreadsheet_rows(csv_bytes([["a", "b"], ["1", "2"]]), filename="a.csv"))
    with pytest.raises(UnreadableFile):
        spreadsheet_rows(b"PK\x03\x04 not really a workbook", filename="a.xlsx")
    with pytest.raises(UnreadableFile, match="UTF-8"):
        spreadsheet_rows("Câu hỏi\nKhi nào?".encode("latin-1", "replace") + b"\xe0\xff", filename="a.csv")
