"""What a ministry admin sees first (issue 16): the overview of all units on landing, and an audit
page that fits a 1,366 px laptop, reads newest first, names every action in Vietnamese and shows
times as dd/mm/yyyy HH:mm in Vietnam time."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import OFFICE_LAPTOP, VIETNAM_TIME_ZONE, StaffDirectory, log_in
from tests.console.knowledge import ADVERTISING, LICENCE, LICENCE_QUESTION
from tests.console.test_console import shot

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(240)]

SHOWN_TIME = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}$")
HORIZONTAL_OVERFLOW = """() => ({
    page: document.documentElement.scrollWidth,
    tables: [...document.querySelectorAll(".table-wrap")].map((wrap) => wrap.scrollWidth - wrap.clientWidth),
})"""


def assert_fits(page: Page, width: int) -> None:
    measured = page.evaluate(HORIZONTAL_OVERFLOW)
    assert measured["page"] <= width, f"the page is {measured['page']}px wide at {width}px"
    assert all(extra <= 1 for extra in measured["tables"]), f"a table scrolls sideways: {measured}"


def test_a_ministry_admin_lands_on_all_units_and_unit_staff_on_their_unit(
    page: Page, console_url: str, staff: StaffDirectory
) -> None:
    unit = staff.new_unit("lan")
    staff.put_document(unit, LICENCE.document_id, title=LICENCE.title, text=LICENCE.text)
    staff.ask(unit, LICENCE_QUESTION)
    admin = staff.create("ministry_admin", [])
    log_in(page, console_url, admin)

    # The overview: every unit's answer rate, no unit chosen (not the alphabetically first one).
    expect(page.get_by_role("heading", name="Tỉ lệ trả lời", level=1)).to_be_visible()
    expect(page.get_by_test_id("ministry-table")).to_be_visible()
    expect(page.get_by_label("Đơn vị", exact=True)).to_have_value("")
    expect(page.get_by_test_id("answer-rate")).to_have_count(0)
    # Pages about one unit ask for one instead of showing another unit's data.
    page.get_by_role("link", name="Văn bản", exact=True).click()
    expect(page.get_by_role("main")).to_contain_text("hãy chọn một đơn vị")
    # Choosing a unit from the table opens its report.
    page.get_by_role("link", name="Tỉ lệ trả lời", exact=True).click()
    page.get_by_test_id("ministry-table").locator(f'tr[data-unit="{unit}"] button').click()
    expect(page.get_by_label("Đơn vị", exact=True)).to_have_value(unit)
    expect(page.get_by_test_id("answer-rate")).to_contain_text("100%")
    # The next login starts on all units again, whatever unit was open last.
    page.get_by_role("button", name="Đăng xuất").click()
    log_in(page, console_url, admin)
    expect(page.get_by_label("Đơn vị", exact=True)).to_have_value("")
    expect(page.get_by_test_id("ministry-table")).to_be_visible()

    # A unit's own staff land on their unit's assistant.
    editor = staff.create("unit_editor", [unit])
    page.get_by_role("button", name="Đăng xuất").click()
    log_in(page, console_url, editor)
    expect(page.get_by_role("heading", name="Hỏi thử trợ lý", level=1)).to_be_visible()
    expect(page.get_by_label(re.compile("Câu hỏi cho trợ lý"))).to_be_visible()
    expect(page.get_by_label("Đơn vị", exact=True)).to_have_value(unit)


def test_the_audit_page_fits_a_laptop_newest_first_in_vietnamese_and_vietnam_time(
    office_page: Page, console_url: str, staff: StaffDirectory, screenshot_dir: Path
) -> None:
    page = office_page
    unit = staff.new_unit("aud")
    staff.put_documents(unit, [LICENCE, ADVERTISING])  # an id with slashes makes long targets
    removed = staff.http.delete(
        f"/v1/units/{unit}/documents/{quote(ADVERTISING.document_id, safe='')}", headers=staff.bootstrap
    )
    assert removed.status_code == 202, removed.text
    deleted = staff.http.delete(f"/v1/units/{unit}", headers=staff.bootstrap)  # snapshot first
    assert deleted.status_code == 200, deleted.text
    admin = staff.create("ministry_admin", [])
    trail = staff.http.get("/v1/audit", params={"unit": unit, "limit": 1000}, headers=admin.headers)
    assert trail.status_code == 200, trail.text
    recorded = trail.json()["events"]  # oldest first
    actions = [event["action"] for event in recorded]
    assert {"unit.saved", "document.deleted", "snapshot.taken", "unit.deleted"} <= set(actions), actions

    log_in(page, console_url, admin)
    page.get_by_role("link", name="Nhật ký kiểm toán", exact=True).click()
    rows = page.get_by_role("table", name="Sự kiện kiểm toán").locator("tbody tr")
    expect(rows.first).to_be_visible()
    assert_fits(page, OFFICE_LAPTOP["width"])  # the whole day's events, whatever they hold

    page.locator("#audit-unit").fill(unit)
    page.get_by_role("button", name="Lọc").click()
    expect(rows).to_have_count(len(recorded))
    shown = rows.locator("td[data-action]").evaluate_all(
        "cells => cells.map((cell) => [cell.dataset.action, cell.firstChild.textContent])"
    )
    assert [action for action, _ in shown] == actions[::-1], "newest first"
    for action, label in shown:
        assert label != action and "_" not in label, f"{action} shown as {label!r}"
    labels = dict(shown)
    assert labels["unit.deleted"] == "Xóa đơn vị"
    assert labels["snapshot.taken"] == "Tạo bản sao lưu"

    newest = recorded[-1]
    vietnam = datetime.fromisoformat(newest["occurred_at"]).astimezone(ZoneInfo(VIETNAM_TIME_ZONE))
    first_time = rows.first.locator("td").first
    expect(first_time).to_have_text(SHOWN_TIME)
    expect(first_time).to_have_text(vietnam.strftime("%d/%m/%Y %H:%M"))
    assert_fits(page, OFFICE_LAPTOP["width"])
    shot(page, screenshot_dir, "nhat-ky-kiem-toan")
