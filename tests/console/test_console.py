"""The web console end to end: Debian's headless Chromium against the real stack.

Enrolment and login with computed TOTP codes; asking and opening a citation; answering a knowledge
gap and then seeing the same question answered from the chat; uploading files and seeing them
indexed; restoring a unit from a snapshot with a step-up code. Screenshots of the main pages are
written along the way (`make screenshots` keeps them under docs/console/).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from tests.console.conftest import Authenticator, StaffDirectory, log_in
from tests.console.knowledge import LICENCE_QUESTION, SEVERAL_DOCUMENTS

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(180)]

INDEX_WAIT_MS = 120_000
GAP_QUESTION = "Số điện thoại đường dây nóng của Cục là gì?"
GAP_ANSWER = "Đường dây nóng của Cục là 024 3822 0000, trực trong giờ hành chính."


def shot(page: Page, directory: Path, name: str) -> None:
    page.screenshot(path=str(directory / f"{name}.png"), full_page=False)


def test_enrolment_shows_qr_and_recovery_codes_then_login_asks_a_code(
    page: Page, console_url: str, staff: StaffDirectory, screenshot_dir: Path
) -> None:
    unit = staff.new_unit()
    account = staff.create("unit_admin", [unit], enrol=False)

    page.goto(console_url)
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    shot(page, screenshot_dir, "dang-nhap")
    page.get_by_label("Tên đăng nhập").fill(account.username)
    page.get_by_label("Mật khẩu").fill(account.password)
    page.get_by_role("button", name="Tiếp tục").click()

    # First login of an admin: enrol the authenticator from the QR code (or the manual key).
    expect(page.get_by_role("heading", name="Đăng ký ứng dụng xác thực")).to_be_visible()
    qr = page.get_by_role("img", name="Mã QR đăng ký ứng dụng xác thực")
    expect(qr).to_be_visible()
    assert qr.evaluate("image => image.naturalWidth") > 0, "the QR code image must load"
    page.get_by_text("Không quét được? Nhập khóa thủ công").click()
    secret = page.get_by_test_id("otp-secret").get_attribute("data-secret")
    assert secret
    shot(page, screenshot_dir, "dang-ky-otp")
    account.authenticator = Authenticator(secret)
    page.get_by_label("Mã 6 chữ số đang hiện trong ứng dụng").fill(account.authenticator.code())
    page.get_by_role("button", name="Xác nhận").click()

    # The ten recovery codes, shown once; going on needs the "saved" tick.
    codes = page.get_by_test_id("recovery-codes").locator("li")
    expect(codes).to_have_count(10)
    proceed = page.get_by_role("button", name="Vào bảng điều khiển")
    expect(proceed).to_be_disabled()
    page.get_by_label("Tôi đã lưu các mã khôi phục ở nơi an toàn").check()
    proceed.click()
    expect(page.get_by_text(f"{account.username} · Quản trị đơn vị")).to_be_visible()

    # From now on a login asks for the code from the app.
    page.get_by_role("button", name="Đăng xuất").click()
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    page.get_by_label("Tên đăng nhập").fill(account.username)
    page.get_by_label("Mật khẩu").fill(account.password)
    page.get_by_role("button", name="Tiếp tục").click()
    expect(page.get_by_role("heading", name="Nhập mã xác thực")).to_be_visible()
    page.get_by_label("Mã OTP").fill("000000" if account.authenticator.code() != "000000" else "111111")
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("alert")).to_contain_text("không đúng")
    page.get_by_label("Mã OTP").fill(account.authenticator.code())
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("button", name="Đăng xuất")).to_be_visible()


def test_asking_shows_answer_with_citation_that_opens_the_passage(
    page: Page, phone_page: Page, console_url: str, staff: StaffDirectory, screenshot_dir: Path
) -> None:
    unit = staff.new_unit()
    staff.put_documents(unit, SEVERAL_DOCUMENTS)
    account = staff.create("unit_admin", [unit])
    log_in(page, console_url, account)

    page.get_by_label(re.compile("Câu hỏi cho trợ lý")).fill(LICENCE_QUESTION)
    page.get_by_role("button", name="Gửi câu hỏi").click()
    answer = page.get_by_test_id("answer").last
    expect(answer).to_have_attribute("data-answered", "true")
    expect(answer).to_contain_text("30 ngày")
    expect(answer.get_by_role("meter", name="Độ tin cậy")).to_be_visible()

    answer.get_by_test_id("citation").first.click()
    cited = page.locator(".chunk.cited")
    expect(cited).to_contain_text("30 ngày kể từ ngày nhận đủ hồ sơ hợp lệ")
    expect(cited).to_contain_text("Điều 5")
    expect(page.get_by_role("heading", name="Quy chế cấp phép báo chí điện tử")).to_be_visible()

    answer.get_by_role("button", name="Hữu ích", exact=True).click()
    expect(answer.get_by_role("status")).to_contain_text("đã ghi nhận")

    # The same page on a narrow phone: the menu becomes a row of tabs, nothing overflows sideways.
    log_in(phone_page, console_url, account)
    phone_page.get_by_label(re.compile("Câu hỏi cho trợ lý")).fill(LICENCE_QUESTION)
    phone_page.get_by_role("button", name="Gửi câu hỏi").click()
    expect(phone_page.get_by_test_id("answer").last).to_have_attribute("data-answered", "true")
    overflow = phone_page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"page is {overflow}px wider than the phone screen"
    shot(phone_page, screenshot_dir, "dien-thoai-hoi-thu")


def test_answering_a_knowledge_gap_makes_the_chat_answer_it(
    page: Page, console_url: str, staff: StaffDirectory, screenshot_dir: Path
) -> None:
    unit = staff.new_unit()  # no knowledge yet: the assistant can only abstain
    assert staff.ask(unit, GAP_QUESTION)["answered"] is False
    account = staff.create("unit_admin", [unit])
    log_in(page, console_url, account)

    page.get_by_role("link", name="Câu hỏi cần bổ sung").click()
    gap = page.get_by_test_id("gap").filter(has_text=GAP_QUESTION)
    expect(gap).to_be_visible()
    gap.get_by_role("button", name="Viết câu trả lời").click()
    gap.get_by_label("Câu trả lời", exact=True).fill(GAP_ANSWER)
    shot(page, screenshot_dir, "cau-hoi-can-bo-sung")
    gap.get_by_role("button", name="Lưu thành câu hỏi thường gặp").click()
    expect(gap.get_by_text("Đã thành câu hỏi thường gặp")).to_be_visible(timeout=INDEX_WAIT_MS)

    gap.get_by_role("button", name="Hỏi thử ngay").click()
    question = page.get_by_label(re.compile("Câu hỏi cho trợ lý"))
    expect(question).to_have_value(GAP_QUESTION)
    page.get_by_role("button", name="Gửi câu hỏi").click()
    answer = page.get_by_test_id("answer").last
    expect(answer).to_have_attribute("data-answered", "true")
    expect(answer).to_have_attribute("data-source", "faq")
    expect(answer).to_contain_text("024 3822 0000")
    # An FAQ source is named by its question, and an approved answer reads as sure.
    expect(answer.get_by_test_id("citation")).to_have_text(f"Câu hỏi thường gặp: {GAP_QUESTION}")
    expect(answer.get_by_test_id("confidence")).to_contain_text("đã được đơn vị duyệt")


def test_uploading_files_shows_progress_and_indexed_status(
    page: Page, console_url: str, staff: StaffDirectory, screenshot_dir: Path, tmp_path: Path
) -> None:
    unit = staff.new_unit()
    staff.put_documents(unit, SEVERAL_DOCUMENTS)
    account = staff.create("unit_admin", [unit])
    report = tmp_path / "Báo cáo tháng 6.txt"
    report.write_text("Điều 1. Doanh thu\nDoanh thu tháng 6 đạt 120 tỷ đồng.\n", encoding="utf-8")
    notes = tmp_path / "huong-dan.md"
    notes.write_text("# Hướng dẫn\n\nNộp hồ sơ trực tuyến qua Cổng dịch vụ công.\n", encoding="utf-8")
    page_file = tmp_path / "tiep-cong-dan.html"
    page_file.write_text(
        "<html><head><title>Quy trình tiếp công dân</title></head>"
        "<body><p>Tiếp công dân vào sáng thứ Năm hằng tuần.</p></body></html>",
        encoding="utf-8",
    )
    empty = tmp_path / "rong.txt"
    empty.write_bytes(b"")
    log_in(page, console_url, account)

    page.get_by_role("link", name="Văn bản").click()
    expect(page.get_by_test_id("dropzone")).to_be_visible()
    page.locator("#doc-files").set_input_files([str(report), str(notes), str(page_file), str(empty)])
    uploads = page.get_by_role("list", name="Tệp đang tải lên")
    expect(uploads.locator('li[data-status="indexed"]')).to_have_count(3, timeout=INDEX_WAIT_MS)
    expect(uploads.locator('li[data-file="rong.txt"]')).to_have_attribute("data-status", "failed")

    table = page.get_by_test_id("documents-table")
    row = table.locator('tr[data-document="bao-cao-thang-6"]')
    expect(row).to_have_attribute("data-status", "indexed")
    expect(row).to_contain_text("Đã lập chỉ mục")
    expect(table.locator('tr[data-document="huong-dan"]')).to_have_attribute("data-status", "indexed")
    # Each upload keeps the document's own title (first heading, HTML <title>); the file name only
    # names a document that has none (the report starts with its first article).
    titles = {
        "huong-dan": "Hướng dẫn",
        "tiep-cong-dan": "Quy trình tiếp công dân",
        "bao-cao-thang-6": "Báo cáo tháng 6",
    }
    for document_id, title in titles.items():
        title_cell = table.locator(f'tr[data-document="{document_id}"] td').first
        expect(title_cell.locator("div").first).to_have_text(title)
    shot(page, screenshot_dir, "van-ban")

    # Reindex from the kept original, then view its passages.
    row.get_by_role("button", name="Lập chỉ mục lại").click()
    expect(page.get_by_text("Đã lập chỉ mục lại")).to_be_visible(timeout=INDEX_WAIT_MS)
    table.locator('tr[data-document="bao-cao-thang-6"]').get_by_role("button", name="Xem").click()
    expect(page.get_by_test_id("passages")).to_contain_text("120 tỷ đồng")


def test_dashboard_marks_units_under_the_bar(
    page: Page, console_url: str, staff: StaffDirectory, screenshot_dir: Path
) -> None:
    unit = staff.new_unit()
    assert staff.ask(unit, GAP_QUESTION)["answered"] is False  # nothing known yet
    staff.put_documents(unit, SEVERAL_DOCUMENTS)
    assert staff.ask(unit, LICENCE_QUESTION)["answered"] is True  # 1 of 2: 50% < 90%
    account = staff.create("ministry_admin", [])
    log_in(page, console_url, account)
    page.get_by_label("Đơn vị", exact=True).select_option(unit)
    page.get_by_role("link", name="Tỉ lệ trả lời").click()
    expect(page.get_by_test_id("answer-rate")).to_contain_text("50%")
    expect(page.get_by_test_id("answer-rate")).to_contain_text("Dưới ngưỡng 90%")
    expect(page.locator("svg.chart .target")).to_have_count(1)
    row = page.get_by_test_id("ministry-table").locator(f'tr[data-unit="{unit}"]')
    expect(row).to_have_class(re.compile("below"))
    expect(row).to_contain_text("Dưới 90%")
    expect(row.locator("td").nth(3)).not_to_have_text("…")  # documents counted
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, screenshot_dir, "ti-le-tra-loi")
    page.get_by_role("button", name="Tỉ lệ trả lời").click()  # sort by rate, ascending
    expect(page.get_by_role("columnheader", name="Tỉ lệ trả lời")).to_have_attribute(
        "aria-sort", "descending"
    )


@pytest.mark.timeout(300)  # a snapshot, a verification and a restore of a unit with four documents
def test_restoring_a_unit_asks_for_a_code_and_reports(
    page: Page, console_url: str, staff: StaffDirectory, screenshot_dir: Path
) -> None:
    unit = staff.new_unit()
    staff.put_documents(unit, SEVERAL_DOCUMENTS)
    account = staff.create("ministry_admin", [])
    assert account.authenticator is not None
    log_in(page, console_url, account)
    page.get_by_label("Đơn vị", exact=True).select_option(unit)
    page.get_by_role("link", name="Sao lưu & khôi phục").click()
    page.get_by_role("button", name=re.compile("^Chụp đơn vị")).click()
    expect(page.get_by_role("alert").filter(has_text="Đã chụp")).to_be_visible(timeout=INDEX_WAIT_MS)

    page.get_by_label("Chỉ bản chụp có đơn vị đang chọn").check()
    # Wait for the filtered list: one row, this unit's snapshot. One row alone is not enough — the
    # list asked for when the page opened, before the snapshot was taken, can hold a single older
    # snapshot of another test's unit, and a click there is thrown away by the filter's redraw.
    rows = page.get_by_test_id("snapshots-table").locator("tbody tr")
    expect(rows).to_have_count(1, timeout=INDEX_WAIT_MS)
    expect(rows.first).to_contain_text(f"Đơn vị thử {unit}", timeout=INDEX_WAIT_MS)
    expect(rows).to_have_count(1)
    snapshot_row = rows.first
    expect(snapshot_row).to_contain_text("Thủ công")
    snapshot_row.get_by_role("button", name="Kiểm tra").click()
    # Verifying reads every part back and checks its digest: seconds on a loaded machine.
    expect(snapshot_row).to_contain_text("Nguyên vẹn", timeout=INDEX_WAIT_MS)
    snapshot_row.get_by_role("button", name="Khôi phục…").click()
    dialog = page.get_by_role("dialog", name="Khôi phục từ bản chụp")
    dialog.get_by_label("Mã OTP (xác nhận lại danh tính)").fill(account.authenticator.code())
    # The preview (nothing is skipped without a point in time) and the restore share one OTP code.
    dialog.get_by_role("button", name="Xem sự kiện sẽ bị bỏ qua").click()
    expect(dialog.get_by_test_id("restore-preview")).to_contain_text(
        "bỏ qua 0 sự kiện", timeout=INDEX_WAIT_MS
    )
    dialog.get_by_role("button", name="Khôi phục", exact=True).click()

    report = page.get_by_test_id("restore-report")
    expect(report).to_be_visible(timeout=INDEX_WAIT_MS)
    unit_row = report.locator(f'tr[data-unit="{unit}"]')
    expect(unit_row).to_contain_text("Đầy đủ")
    shot(page, screenshot_dir, "khoi-phuc")
    assert staff.ask(unit, LICENCE_QUESTION)["answered"] is True, "the restored unit answers again"


def test_a_page_picked_while_another_loads_is_the_one_that_stays(
    page: Page, console_url: str, staff: StaffDirectory
) -> None:
    """Choosing a unit and then a menu entry before the first page's module arrives: the page
    asked for last stays, and the earlier one, arriving late, does not draw over it."""
    unit = staff.new_unit()
    account = staff.create("ministry_admin", [])
    # Hold the dashboard's module (the admin's home page) until the snapshots page is shown.
    held: list[Route] = []
    page.route(re.compile(r"/views/dashboard\.js$"), lambda route: held.append(route))
    log_in(page, console_url, account)
    page.get_by_label("Đơn vị", exact=True).select_option(unit)
    page.get_by_role("link", name="Sao lưu & khôi phục").click()
    heading = page.get_by_role("heading", name="Sao lưu & khôi phục", level=1)
    expect(heading).to_be_visible()
    assert held, "the dashboard's module was requested and held"
    for route in held:
        route.continue_()
    # Once the late module has loaded (the page's own import of it resolves after the console's),
    # whatever it was going to draw has been drawn.
    page.evaluate(
        "async (src) => { await import(src); await new Promise((done) => setTimeout(done, 50)); }",
        held[0].request.url,
    )
    expect(heading).to_be_visible()
    expect(page.get_by_role("heading", name="Tỉ lệ trả lời", level=1)).to_have_count(0)
    expect(page.get_by_role("checkbox", name="Chỉ bản chụp có đơn vị đang chọn")).to_be_visible()


# The whole console (every page's modules, compressed) must stay far below a framework bundle.
MAX_CONSOLE_TRANSFER_BYTES = 60_000


def test_every_page_works_on_a_phone_and_the_console_stays_light(
    phone_page: Page, console_url: str, staff: StaffDirectory, screenshot_dir: Path
) -> None:
    errors: list[str] = []
    phone_page.on("pageerror", lambda error: errors.append(str(error)))
    phone_page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    phone_page.on(
        "response", lambda response: errors.append(response.url) if response.status >= 400 else None
    )
    unit = staff.new_unit()
    account = staff.create("ministry_admin", [])
    log_in(phone_page, console_url, account)
    phone_page.get_by_label("Đơn vị", exact=True).select_option(unit)
    pages = {
        "Tỉ lệ trả lời": "Tỉ lệ trả lời",
        "Câu hỏi cần bổ sung": "Câu hỏi cần bổ sung",
        "Bộ câu hỏi kiểm tra": "Bộ câu hỏi kiểm tra",
        "Văn bản": "Văn bản của",
        "Sao lưu & khôi phục": "Sao lưu & khôi phục",
        "Nhật ký kiểm toán": "Nhật ký kiểm toán",
        "Tài khoản & vai trò": "Tài khoản & vai trò",
        "Hỏi thử trợ lý": "Hỏi thử trợ lý",
    }
    for link, heading in pages.items():
        phone_page.get_by_role("link", name=link, exact=True).click()
        expect(
            phone_page.get_by_role("heading", name=re.compile("^" + re.escape(heading)), level=1)
        ).to_be_visible()
        # Measure the page as it ends up, not while its reports are loading (the loaded KPIs were
        # what overflowed, and only when they arrived before the measurement).
        expect(phone_page.locator("main p.muted", has_text=re.compile("^Đang tải"))).to_have_count(
            0, timeout=15_000
        )
        overflow = phone_page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{link}: {overflow}px wider than the phone"

    # The audit trail already holds this admin's own login.
    phone_page.get_by_role("link", name="Nhật ký kiểm toán", exact=True).click()
    phone_page.get_by_label("Người thực hiện").fill(f"user:{account.username}")
    phone_page.get_by_role("button", name="Lọc").click()
    expect(phone_page.get_by_role("table", name="Sự kiện kiểm toán")).to_contain_text("Đăng nhập (OTP)")
    shot(phone_page, screenshot_dir, "dien-thoai-nhat-ky")

    # Accounts: create one; the initial password is shown once.
    phone_page.get_by_role("link", name="Tài khoản & vai trò", exact=True).click()
    phone_page.get_by_role("button", name="Tạo tài khoản").click()
    dialog = phone_page.get_by_role("dialog", name="Tạo tài khoản")
    dialog.get_by_label("Tên đăng nhập").fill(f"bt.{account.username[3:]}")
    dialog.get_by_label("Họ và tên").fill("Biên tập viên thử")
    dialog.get_by_role("button", name="Tạo tài khoản").click()
    expect(phone_page.get_by_test_id("initial-password")).not_to_be_empty()
    phone_page.get_by_role("button", name="Đã ghi lại").click()
    expect(phone_page.get_by_test_id("accounts-table")).to_contain_text("Biên tập viên thử")

    transferred = phone_page.evaluate(
        """() => performance.getEntriesByType("resource").concat(performance.getEntriesByType("navigation"))
            .filter((entry) => new URL(entry.name).pathname.startsWith("/console"))
            .reduce((sum, entry) => sum + entry.encodedBodySize, 0)"""
    )
    assert 0 < transferred <= MAX_CONSOLE_TRANSFER_BYTES, f"the console transferred {transferred} bytes"
    assert not errors, errors
