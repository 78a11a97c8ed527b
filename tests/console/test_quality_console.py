"""The test-question page ("Bộ câu hỏi kiểm tra") in Chromium against the real stack: the unit's
tested rate against the 90% line with the last run's regressions, and the ministry table showing
both rates per unit."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import StaffDirectory, log_in
from tests.console.test_console import shot

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(240)]

DOCUMENT_ID = "tb-tat-song-2g"
FIRST_TEXT = "Từ 15/9/2024 sẽ tắt sóng 2G theo quy định. Các nhà mạng cần có phương án hỗ trợ người dân."
SECOND_TEXT = "Từ 1/10/2024 sẽ tắt sóng 2G theo quy định. Các nhà mạng cần có phương án hỗ trợ người dân."
DATE_QUESTION = "Khi nào sẽ tắt sóng 2G theo quy định?"  # the wording today's engine answers
RUN_TIMEOUT_SECONDS = 120.0


def latest_run(staff: StaffDirectory, unit: str, *, after: str = "") -> dict[str, object]:
    """The newest finished run of the unit newer than `after`, waiting for it."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        runs = staff.http.get(f"/v1/units/{unit}/test-runs", headers=staff.bootstrap).json()["runs"]
        done = [run for run in runs if run["status"] == "done" and str(run["run_id"]) > after]
        if done:
            return dict(done[0])
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
    assert staff.http.post(f"/v1/units/{unit}/test-runs", headers=staff.bootstrap).status_code == 202
    first = latest_run(staff, unit)
    assert first["correct"] == 1
    staff.put_document(unit, DOCUMENT_ID, title="Thông báo tắt sóng 2G", text=SECOND_TEXT)
    second = latest_run(staff, unit, after=str(first["run_id"]))  # triggered by the change
    assert second["regression_count"] == 1

    account = staff.create("ministry_admin", [])
    log_in(page, console_url, account)
    page.get_by_label("Đơn vị", exact=True).select_option(unit)
    page.get_by_role("link", name="Bộ câu hỏi kiểm tra").click()
    expect(page.get_by_role("heading", name="Bộ câu hỏi kiểm tra", level=1)).to_be_visible()
    rate = page.get_by_test_id("tested-rate")
    expect(rate).to_contain_text("0%")
    expect(rate).to_contain_text("chưa đủ để kết luận")  # one question is a sample, not a verdict
    regression = page.get_by_test_id("regressions").locator('li[data-question="tat-song-2g"]')
    expect(regression).to_contain_text(DATE_QUESTION)
    expect(regression).to_contain_text(re.compile(rf"{DOCUMENT_ID} \(phiên bản \d+\)"))
    expect(page.get_by_test_id("test-results").locator('tr[data-question="tat-song-2g"]')).to_have_attribute(
        "data-verdict", re.compile("wrong|refused")
    )
    shot(page, screenshot_dir, "bo-cau-hoi-kiem-tra")

    page.get_by_role("link", name="Tỉ lệ trả lời").click()
    expect(page.get_by_test_id("tested-rate")).to_contain_text("1 câu")
    row = page.get_by_test_id("ministry-table").locator(f'tr[data-unit="{unit}"]')
    expect(row).to_contain_text("0% / 1 câu")
