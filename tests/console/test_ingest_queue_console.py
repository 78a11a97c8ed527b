"""The documents page while a unit imports its library (issue 21), in Debian's headless Chromium
against the real stack: a banner tells the unit's backlog and estimated time, and a document waiting
behind the import shows its place in the unit's queue."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import StaffDirectory, log_in
from trolyao.messaging import bulk_upsert_subject, connect

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(180)]

BACKLOG = 900  # a library import on the bulk lane, under the gateway's default bulk quota (1,000)
BANNER_WAIT_MS = 30_000
QUEUE_PLACE = re.compile(r"^Thứ [\d.]+ trong hàng đợi nhập hàng loạt$")
# The estimate needs two readings of ingest's drain rate; until then the banner says it is estimating.
BANNER = re.compile(r"Đang xử lý [\d.]+ văn bản — (dự kiến xong sau \S+|đang ước tính)")
ARTICLE = (
    "Điều {n}. Quy định về hồ sơ số {n}\n"
    "Cơ quan tiếp nhận hồ sơ trong giờ hành chính; hồ sơ hợp lệ được giải quyết trong {n} ngày làm việc.\n"
)


def import_event(unit: str, index: int) -> bytes:
    """A document of the import as `trolyao import` publishes it."""
    return json.dumps(
        {
            "schemaVersion": 1,
            "eventId": f"{unit}-kho-{index}-{secrets.token_hex(4)}",
            "unit": unit,
            "documentId": f"kho-{index}",
            "version": 1,
            "source": "bulk-import",
            "metadata": {"title": f"Văn bản kho {index}"},
            "text": "".join(ARTICLE.format(n=index * 10 + article) for article in range(1, 6)),
        }
    ).encode()


async def publish_import(nats_url: str, unit: str) -> None:
    client = await connect(nats_url, name="console-import-probe")
    js = client.jetstream()
    for index in range(BACKLOG):
        await js.publish(bulk_upsert_subject(unit), import_event(unit, index))
    await client.close()


def test_the_documents_page_shows_the_backlog_banner_and_a_documents_place_in_the_queue(
    page: Page, console_url: str, staff: StaffDirectory
) -> None:
    unit = staff.new_unit("hang-doi")
    account = staff.create("unit_admin", [unit])
    log_in(page, console_url, account)
    # The library import starts, and one more document joins it through the gateway's bulk upload.
    with ThreadPoolExecutor(max_workers=1) as thread:  # Playwright's own event loop runs in this one
        thread.submit(asyncio.run, publish_import(staff.stack.nats_url, unit)).result()
    joined = staff.http.put(
        f"/v1/units/{unit}/documents/bo-sung",
        params={"bulk": "true"},
        json={"title": "Văn bản bổ sung", "text": "Quy định bổ sung về tiếp nhận hồ sơ."},
        headers=staff.bootstrap,
    )
    assert joined.status_code == 202, joined.text
    try:
        page.get_by_role("link", name="Văn bản").click()
        row = page.get_by_test_id("documents-table").locator('tr[data-document="bo-sung"]')
        place = row.get_by_test_id("queue-place")
        # Behind the import (the gateway numbered it BACKLOG + 1), less what ingest has done by now.
        expect(place).to_have_text(QUEUE_PLACE)
        expect(row).to_contain_text("Đang chờ xử lý")
        banner = page.get_by_test_id("queue-banner")
        expect(banner).to_be_visible(timeout=BANNER_WAIT_MS)
        expect(banner).to_contain_text(BANNER)
    finally:
        # Deleting the unit purges what is left of its import, so the shared stack is not kept busy.
        staff.http.delete(f"/v1/units/{unit}", params={"snapshot": "false"}, headers=staff.bootstrap)
