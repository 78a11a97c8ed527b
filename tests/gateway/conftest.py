"""Fixtures for the gateway's tests against the real stack (the session `running_stack`).

Every test isolates by unique unit ids; credentials are unit-scoped API keys issued through the
gateway's own `POST /v1/api-keys` with the stack's bootstrap (ministry admin) key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from stack.launcher import Stack
from tests.support import unique_unit

HTTP_TIMEOUT_SECONDS = 60.0
INDEX_TIMEOUT_SECONDS = 180.0
POLL_SECONDS = 0.25

REPORT_DOCUMENT = (
    "Điều 1. Doanh thu\n"
    "Doanh thu năm 2023 của công ty đạt 1.200 tỷ đồng, tăng 12% so với năm trước.\n\n"
    "Điều 2. Lợi nhuận\n"
    "Lợi nhuận sau thuế năm 2023 của công ty đạt 150 tỷ đồng.\n\n"
    "Điều 3. Thời hạn cấp phép\n"
    "Thời hạn cấp giấy phép hoạt động báo chí điện tử là 30 ngày kể từ ngày nhận đủ hồ sơ hợp lệ.\n"
)
FAQ_QUESTION = "Lệ phí cấp giấy phép báo điện tử là bao nhiêu?"
FAQ_ANSWER = "Lệ phí cấp giấy phép báo điện tử là 500.000 đồng cho mỗi giấy phép."


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wait_until_settled(client: httpx.Client, path: str) -> dict[str, object]:
    """Poll a document (`queued`) or FAQ (`pending`) status until it is settled."""
    deadline = time.monotonic() + INDEX_TIMEOUT_SECONDS
    last: dict[str, object] = {}
    while time.monotonic() < deadline:
        reply = client.get(path)
        if reply.status_code == 200:
            last = reply.json()
            if last["status"] not in ("queued", "pending"):  # documents, FAQ entries
                return last
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{path} still pending: {last}")


@dataclass(frozen=True)
class KnowledgeUnit:
    """A unit with an indexed document and an indexed FAQ entry, and keys scoped to it."""

    unit: str
    document_id: str
    faq_id: str
    read_key: str
    write_key: str


@pytest.fixture(scope="session")
def gateway_url(running_stack: Stack) -> str:
    return running_stack.gateway_url


@pytest.fixture(scope="session")
def admin(running_stack: Stack) -> Iterator[httpx.Client]:
    """A client holding the bootstrap (ministry admin) key."""
    with httpx.Client(
        base_url=running_stack.gateway_url,
        headers=bearer(running_stack.api_key),
        timeout=HTTP_TIMEOUT_SECONDS,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def new_unit(admin: httpx.Client) -> Callable[[str], str]:
    """Create a fresh unit and return its id."""

    def create(prefix: str = "gw") -> str:
        unit = unique_unit(prefix)
        admin.put(f"/v1/units/{unit}", json={"name": f"Đơn vị kiểm thử {unit}"}).raise_for_status()
        return unit

    return create


@pytest.fixture(scope="session")
def issue_key(admin: httpx.Client) -> Callable[..., str]:
    """Issue an API key scoped to the given units and scopes."""

    def issue(units: list[str], scopes: list[str]) -> str:
        reply = admin.post("/v1/api-keys", json={"name": "kiểm thử", "units": units, "scopes": scopes})
        assert reply.status_code == 201, reply.text
        return str(reply.json()["api_key"])

    return issue


@pytest.fixture(scope="session")
def knowledge_unit(
    admin: httpx.Client, new_unit: Callable[[str], str], issue_key: Callable[..., str]
) -> KnowledgeUnit:
    """One unit with a report (Điều 1–3) and an FAQ entry, both indexed; shared by the session."""
    unit = new_unit("kb")
    admin.put(
        f"/v1/units/{unit}/documents/bao-cao-2023",
        json={"title": "Báo cáo tài chính 2023", "text": REPORT_DOCUMENT},
    ).raise_for_status()
    faq = admin.post(
        f"/v1/units/{unit}/faq",
        json={
            "question": FAQ_QUESTION,
            "answer": FAQ_ANSWER,
            "alternative_questions": ["Phí cấp phép báo điện tử"],
        },
    )
    assert faq.status_code == 201, faq.text
    faq_id = str(faq.json()["faq_id"])
    assert wait_until_settled(admin, f"/v1/units/{unit}/documents/bao-cao-2023")["status"] == "indexed"
    assert wait_until_settled(admin, f"/v1/units/{unit}/faq/{faq_id}")["status"] == "indexed"
    return KnowledgeUnit(
        unit=unit,
        document_id="bao-cao-2023",
        faq_id=faq_id,
        read_key=issue_key([unit], ["read"]),
        write_key=issue_key([unit], ["read", "write"]),
    )
