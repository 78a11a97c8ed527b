"""The test-question page ("Bộ câu hỏi kiểm tra") in Chromium against the real stack: the unit's
tested rate against the 90% line with the last run's regressions; the dashboard and the ministry
table showing the answered, tested and helpful rates per unit (a handful of questions or ratings
is shown as a sample, not a verdict); and promoting an unanswered question from the gap list,
which makes an FAQ entry and a test question (checked through the API)."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import StaffDirectory, log_in
from tests.console.test_console import shot

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(240)]

DOCUMENT_ID = "tb-tat-song-2g"
FIRST_TEXT = "Từ 15/9/2024 sẽ tắt sóng 2G theo quy định. Các nhà mạng cần có phương án hỗ trợ người dân."
SECOND_TEXT = "Từ 1/10/2024 sẽ tắt sóng 2G theo quy định. Các nhà mạng cần có phương án hỗ trợ người dân."
DATE_QUESTION = "Khi nào tắt sóng 2G?"
# Questions whose expected answers the unit's knowledge does not hold (wrong in every run, so never a
# regression): with them the rate rests on six answerable questions and the page gives a verdict.
NEVER_RIGHT = (
    ("Khi nào tắt sóng 3G?", "31/12/2030"),
    ("Nhà mạng nào tắt sóng 2G trước?", "Viettel"),
    ("Có bao nhiêu thuê bao 2G?", "3 triệu thuê bao"),
    ("Ai tặng điện thoại 4G cho hộ nghèo?", "Quỹ dịch vụ viễn thông công ích"),
    ("Mỗi hộ được hỗ trợ bao nhiêu tiền?", "500.000 đồng"),
)
GAP_QUESTION = "Bộ phận một cửa làm việc lúc mấy giờ?"
GAP_ANSWER = "Bộ phận một cửa làm việc từ 7 giờ 30 đến 17 giờ, thứ Hai đến thứ Sáu."
RUN_TIMEOUT_SECONDS = 120.0
INDEX_WAIT_MS = 120_000


def finished_run(
    staff: StaffDirectory, unit: str, *, after: str = "", run_id: str = "", trigger: str = ""
) -> dict[str, object]:
    """The oldest finished run of the unit newer than `after` (that run, or of that trigger, if
    given), waiting for it. Run ids start with the run's start in epoch milliseconds."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        runs = staff.http.get(f"/v1/units/{unit}/test-runs", headers=staff.bootstrap).json()["runs"]
        done = [
            run
            for run in runs
            if run["status"] == "done"
            and str(run["run_id"]) > after
            and run["run_id"] == (run_id or run["run_id"])
            and run["trigger"] == (trigger or run["trigger"])
        ]
        if done:
            return dict(done[-1])  # runs are listed newest first
        time.sleep(0.5)
    raise AssertionError(f"no finished run after {after!r}")


def test_the_unit_page_shows_the_tested_rate_and_the_regression_and_the_table_both_rates(
    page: Page, console_url: str, staff: StaffDirectory, screenshot_dir: Path
) -> None:
    unit = staff.new_unit()
    staff.put_document(unit, DOCUMENT_ID, title="Thông báo tắt sóng 2G", text=FIRST_TEXT)
    reply = staff.http.put(
        f"/v1/units/{unit}/test-questions/tat-song-2g",
        json={"question": DATE_QUESTION, "expected_answer": "15/9/2024"},
        headers=staff.bootstrap,
    )
    assert reply.status_code == 201, reply.text
    for index, (question, expected) in enumerate(NEVER_RIGHT):
        reply = staff.http.put(
            f"/v1/units/{unit}/test-questions/chua-co-{index}",
            json={"question": question, "expected_answer": expected},
            headers=staff.bootstrap,
        )
        assert reply.status_code == 201, reply.text
    started = staff.http.post(f"/v1/units/{unit}/test-runs", headers=staff.bootstrap)
    assert started.status_code == 202, started.text
    first = finished_run(staff, unit, run_id=started.json()["run_id"])
    assert (first["correct"], first["answerable"]) == (1, 6), first
    replaced = staff.put_document(unit, DOCUMENT_ID, title="Thông báo tắt sóng 2G", text=SECOND_TEXT)
    # A run of the first upload's change may come after the manual one: wait for one started after
    # the replacement was indexed.
    indexed_ms = int(datetime.fromisoformat(str(replaced["updated_at"])).timestamp() * 1000)
    second = finished_run(staff, unit, after=f"{indexed_ms}", trigger="change")
    assert second["regression_count"] == 1
    # A citizen's question, answered (the answered rate is 100%) and rated not helpful by staff.
    asked = staff.ask(unit, DATE_QUESTION)
    assert asked["answered"] is True, asked
    rated = staff.http.post(
        f"/v1/units/{unit}/feedback",
        json={"question_id": asked["question_id"], "helpful": False},
        headers=staff.bootstrap,
    )
    assert rated.status_code == 202, rated.text

    account = staff.create("ministry_admin", [])
    log_in(page, console_url, account)
    page.get_by_label("Đơn vị", exact=True).select_option(unit)
    page.get_by_role("link", name="Bộ câu hỏi kiểm tra").click()
    expect(page.get_by_role("heading", name="Bộ câu hỏi kiểm tra", level=1)).to_be_visible()
    rate = page.get_by_test_id("tested-rate")
    expect(rate).to_contain_text("0%")
    expect(rate).to_contain_text("Dưới ngưỡng 90%")  # six answerable questions: a verdict
    regression = page.get_by_test_id("regressions").locator('li[data-question="tat-song-2g"]')
    expect(regression).to_contain_text(DATE_QUESTION)
    expect(regression).to_contain_text(re.compile(rf"{DOCUMENT_ID} \(phiên bản \d+\)"))
    expect(page.get_by_test_id("test-results").locator('tr[data-question="tat-song-2g"]')).to_have_attribute(
        "data-verdict", re.compile("wrong|refused")
    )
    shot(page, screenshot_dir, "bo-cau-hoi-kiem-tra")

    page.get_by_role("link", name="Tỉ lệ trả lời").click()
    expect(page.get_by_test_id("answer-rate")).to_contain_text("100%")
    expect(page.get_by_test_id("answer-rate")).to_contain_text("Đạt ngưỡng 90%")
    # The answered rate meets the bar; the tested rate says the unit does not.
    tested = page.get_by_test_id("tested-rate")
    expect(tested).to_contain_text("0%")
    expect(tested).to_contain_text("Dưới ngưỡng 90%")
    expect(tested).to_contain_text("6 câu")
    helpful = page.get_by_test_id("helpful-rate")
    expect(helpful).to_contain_text("0%")
    expect(helpful).to_contain_text("chỉ 1 đánh giá — chưa đủ để kết luận")
    row = page.get_by_test_id("ministry-table").locator(f'tr[data-unit="{unit}"]')
    expect(row.locator("td").nth(1)).to_have_text("100%")  # answered
    expect(row.locator("td[data-tested]")).to_contain_text("0%")
    expect(row.locator("td[data-tested]")).to_contain_text("Dưới ngưỡng 90%")
    expect(row.locator("td[data-helpful]")).to_contain_text("0%")
    shot(page, screenshot_dir, "ti-le-tra-loi-ba-ti-le")


def test_a_unit_without_test_questions_says_so_instead_of_a_green_figure(
    page: Page, console_url: str, staff: StaffDirectory
) -> None:
    unit = staff.new_unit()
    staff.put_document(unit, DOCUMENT_ID, title="Thông báo tắt sóng 2G", text=FIRST_TEXT)
    assert staff.ask(unit, DATE_QUESTION)["answered"] is True  # answered rate 100%
    account = staff.create("ministry_admin", [])
    log_in(page, console_url, account)
    page.get_by_label("Đơn vị", exact=True).select_option(unit)
    page.get_by_role("link", name="Tỉ lệ trả lời").click()
    expect(page.get_by_test_id("answer-rate")).to_contain_text("100%")
    expect(page.get_by_test_id("tested-rate")).to_contain_text("Chưa có câu hỏi kiểm tra")
    expect(page.get_by_test_id("tested-rate").locator(".badge.ok")).to_have_count(0)
    expect(page.get_by_test_id("helpful-rate")).to_contain_text("chưa có đánh giá")
    row = page.get_by_test_id("ministry-table").locator(f'tr[data-unit="{unit}"]')
    expect(row.locator("td[data-tested]")).to_contain_text("Chưa có câu hỏi kiểm tra")


def test_promoting_an_unanswered_question_makes_an_faq_entry_and_a_test_question(
    page: Page, console_url: str, staff: StaffDirectory, screenshot_dir: Path
) -> None:
    unit = staff.new_unit()  # no knowledge yet: the assistant can only abstain
    assert staff.ask(unit, GAP_QUESTION)["answered"] is False
    account = staff.create("unit_admin", [unit])
    log_in(page, console_url, account)

    page.get_by_role("link", name="Câu hỏi cần bổ sung").click()
    gap = page.get_by_test_id("gap").filter(has_text=GAP_QUESTION)
    gap.get_by_role("button", name="Viết câu trả lời").click()
    gap.get_by_label("Câu trả lời", exact=True).fill(GAP_ANSWER)
    expect(gap.get_by_label("Thêm vào bộ câu hỏi kiểm tra")).to_be_checked()
    gap.get_by_label("Đáp án mong đợi khi kiểm tra").fill("7 giờ 30")
    gap.get_by_role("button", name="Lưu thành câu hỏi thường gặp").click()
    expect(gap.get_by_text("Đã lưu thành câu hỏi thường gặp và câu hỏi kiểm tra")).to_be_visible(
        timeout=INDEX_WAIT_MS
    )

    entries = staff.http.get(f"/v1/units/{unit}/faq", headers=staff.bootstrap).json()["entries"]
    (entry,) = entries
    assert (entry["question"], entry["answer"], entry["status"]) == (GAP_QUESTION, GAP_ANSWER, "indexed")
    listed = staff.http.get(f"/v1/units/{unit}/test-questions", headers=staff.bootstrap).json()
    (test_question,) = listed["questions"]
    assert test_question["question_id"] == entry["faq_id"]
    assert test_question["question"] == GAP_QUESTION
    assert (test_question["expected_answer"], test_question["expected_document_id"]) == (
        "7 giờ 30",
        f"faq-{entry['faq_id']}",
    )
    # The FAQ's indexing is a knowledge change: its run passes the new test question.
    run = finished_run(staff, unit, trigger="change")
    assert (run["correct"], run["answerable"]) == (1, 1), run
    page.get_by_role("link", name="Bộ câu hỏi kiểm tra").click()
    rate = page.get_by_test_id("tested-rate")
    expect(rate).to_contain_text("100%")
    expect(rate).to_contain_text("chỉ 1 câu — chưa đủ để kết luận")
    expect(page.get_by_test_id("test-questions")).to_contain_text(GAP_QUESTION)
    shot(page, screenshot_dir, "nang-cau-hoi-thanh-cau-kiem-tra")
