"""Answers in the console as staff should read them (issue 16): only the sources an answer rests on,
named as people name documents; how sure the assistant is, in words; a one-click "wrong answer" that
reaches the calibration report; and a passage panel that follows the newest answer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.console.conftest import StaffDirectory, log_in
from tests.console.knowledge import (
    ADVERTISING,
    ADVERTISING_QUESTION,
    LICENCE,
    LICENCE_QUESTION,
    SEVERAL_DOCUMENTS,
)
from tests.console.test_console import shot

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(240)]

# The console's confidence bands (chat.js): below LOW_BELOW "thấp", from HIGH_FROM "cao".
LOW_BELOW = 0.65
HIGH_FROM = 0.8
BAND_WORDS = {"low": "Độ tin cậy thấp", "medium": "Độ tin cậy trung bình", "high": "Độ tin cậy cao"}
# Shares words with the licensing regulation's Điều 6 without being answered by it.
WEAK_QUESTION = "Báo điện tử cần giấy tờ gì?"
LOW_THRESHOLD_MARGIN = 0.05


def band(answer: dict[str, object]) -> str:
    confidence = float(answer["confidence"])  # type: ignore[arg-type]
    if answer["answer_source"] == "faq" or confidence >= HIGH_FROM:
        return "high"
    return "low" if confidence < LOW_BELOW else "medium"


def ask_in_console(page: Page, question: str) -> Locator:
    """Ask in the chat; the answer's card (this one, not whichever is last later on)."""
    answers = page.get_by_test_id("answer")
    before = answers.count()
    page.get_by_label(re.compile("Câu hỏi cho trợ lý")).fill(question)
    page.get_by_role("button", name="Gửi câu hỏi").click()
    answer = answers.nth(before)
    expect(answer).to_have_attribute("data-answered", re.compile("true|false"))
    return answer


def test_an_answer_cites_only_its_sources_by_name_says_how_sure_and_takes_a_wrong_mark(
    page: Page, console_url: str, staff: StaffDirectory, screenshot_dir: Path
) -> None:
    unit = staff.new_unit()
    staff.put_documents(unit, SEVERAL_DOCUMENTS)
    expected = staff.ask(unit, LICENCE_QUESTION)
    sources = [c for c in expected["citations"] if c["role"] == "answer"]  # type: ignore[union-attr]
    related = [c for c in expected["citations"] if c["role"] == "related"]  # type: ignore[union-attr]
    assert expected["answered"] is True and len(sources) == 1, expected
    account = staff.create("unit_editor", [unit])
    log_in(page, console_url, account)

    first = ask_in_console(page, LICENCE_QUESTION)
    expect(first).to_have_attribute("data-answered", "true")
    # Only the source is listed as such, named by title and article; related documents apart.
    cited = first.get_by_test_id("citation")
    expect(cited).to_have_count(1)
    expect(cited).to_have_text(re.compile(r"^Quy chế cấp phép báo chí điện tử, (Chương II, )?Điều 5"))
    expect(first.get_by_test_id("related-citation")).to_have_count(len(related))
    assert LICENCE.document_id not in cited.inner_text()
    # Confidence in words, in the band the API's figure falls in.
    expect(first).to_have_attribute("data-confidence", band(expected))
    expect(first.get_by_test_id("confidence")).to_contain_text(BAND_WORDS[band(expected)])

    # The passage panel shows the source; a new answer replaces it with the new answer's source.
    cited.click()
    expect(page.get_by_role("heading", name=LICENCE.title)).to_be_visible()
    expect(page.locator(".chunk.cited")).to_contain_text("30 ngày")
    second = ask_in_console(page, ADVERTISING_QUESTION)
    expect(second).to_have_attribute("data-answered", "true")
    expect(second.get_by_test_id("citation").first).to_contain_text("05/2024/TT-BTTTT")
    expect(second.get_by_test_id("citation").first).to_contain_text("Điều 3")
    expect(page.get_by_role("heading", name=ADVERTISING.title)).to_be_visible()
    expect(page.locator(".chunk.cited")).to_contain_text("20% diện tích")
    expect(page.get_by_role("heading", name=LICENCE.title)).to_have_count(0)
    shot(page, screenshot_dir, "hoi-thu-tro-ly")

    # One click marks the answer wrong; it is confirmed on the card and counted by the reports.
    second.get_by_role("button", name="Câu trả lời sai").click()
    expect(second.get_by_test_id("mark-wrong")).to_have_attribute("aria-pressed", "true")
    expect(second.get_by_role("status")).to_contain_text("Đã ghi nhận: câu trả lời sai")
    reports = f"/v1/units/{unit}/reports"
    rate = staff.http.get(f"{reports}/answer-rate", headers=staff.bootstrap).json()
    assert rate["not_helpful"] == 1, rate
    calibration = staff.http.get(f"{reports}/calibration", headers=staff.bootstrap).json()
    assert calibration["rated"] == 1, calibration


def test_an_abstention_hints_the_closest_content_and_a_weak_answer_says_check_the_source(
    page: Page, console_url: str, staff: StaffDirectory
) -> None:
    unit = staff.new_unit()
    staff.put_documents(unit, SEVERAL_DOCUMENTS)
    abstained = staff.ask(unit, WEAK_QUESTION)
    assert abstained["answered"] is False, abstained
    confidence = float(abstained["confidence"])  # type: ignore[arg-type]
    assert LOW_THRESHOLD_MARGIN < confidence < LOW_BELOW, abstained
    account = staff.create("unit_admin", [unit])
    log_in(page, console_url, account)

    # Under an abstention: no sources, only the hint of the nearest content.
    answer = ask_in_console(page, WEAK_QUESTION)
    expect(answer).to_have_attribute("data-answered", "false")
    expect(answer.get_by_test_id("citation")).to_have_count(0)
    expect(answer.get_by_test_id("related-citation")).to_have_count(0)
    expect(answer.get_by_test_id("closest-citation")).to_have_count(1)
    expect(answer).to_contain_text("Nội dung gần nhất")
    expect(answer.get_by_test_id("confidence")).to_contain_text("Trợ lý không trả lời")

    # The unit lowers its threshold: the same question is now answered, and flagged as unsure.
    lowered = staff.http.put(
        f"/v1/units/{unit}/answer-threshold",
        json={"min_confidence": confidence - LOW_THRESHOLD_MARGIN},
        headers=staff.bootstrap,
    )
    assert lowered.status_code == 200, lowered.text
    weak = ask_in_console(page, WEAK_QUESTION)
    expect(weak).to_have_attribute("data-answered", "true")
    expect(weak).to_have_attribute("data-confidence", "low")
    expect(weak.get_by_test_id("confidence")).to_contain_text("Độ tin cậy thấp")
    expect(weak.get_by_test_id("confidence")).to_contain_text("hãy kiểm tra nguồn")
    expect(weak.get_by_test_id("citation")).to_have_count(1)
