"""Listings leave nothing behind on NATS (issue 14, finding 4): thousands of document and FAQ
listings by a read-only key keep every bucket's consumer count where it was, always return the
whole list (never a start-up race's `[]`), and never answer 500; JetStream refusing → 503."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from nats.js.errors import ServiceUnavailableError

from services.gateway.entrypoints.errors import install_error_handlers
from stack.launcher import Stack
from tests.security.conftest import settled
from trolyao.messaging import DOC_STATUS_BUCKET, FAQ_ENTRIES_BUCKET, UNITS_BUCKET, connect

pytestmark = [pytest.mark.stack, pytest.mark.timeout(240)]

DOCUMENTS = 12
FAQ_ENTRIES = 3
# Five times the stream's default consumer limit (1,000), which the old listings filled in ~980
# calls; the figure. 16 at a time, they took 39 s on a shared two-core machine.
LISTINGS = 5000
CONCURRENT_REQUESTS = 16
WATCHED_BUCKETS = (DOC_STATUS_BUCKET, FAQ_ENTRIES_BUCKET, UNITS_BUCKET)


async def _consumer_counts(nats_url: str) -> dict[str, int]:
    client = await connect(nats_url, name="security-consumers")
    try:
        js = client.jetstream()
        return {
            bucket: (await js.stream_info(f"KV_{bucket}")).state.consumer_count for bucket in WATCHED_BUCKETS
        }
    finally:
        await client.drain()


async def _list_many(base_url: str, key: str, paths: list[str]) -> tuple[Counter[int], Counter[int]]:
    """Status codes and listed lengths of GETting every path, CONCURRENT_REQUESTS at a time."""
    statuses: Counter[int] = Counter()
    lengths: Counter[int] = Counter()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60.0
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                reply = await client.get(queue.get_nowait())
                statuses[reply.status_code] += 1
                if reply.status_code == 200:
                    body = reply.json()
                    lengths[len(body.get("documents", body.get("entries", [])))] += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENT_REQUESTS)))
    return statuses, lengths


def test_thousands_of_listings_leave_no_consumer_and_never_fail(
    admin: httpx.Client, new_unit: Callable[[], str], security_stack: Stack
) -> None:
    unit = new_unit()
    for number in range(DOCUMENTS):
        reply = admin.put(
            f"/v1/units/{unit}/documents/vb-{number}",
            json={"title": f"Văn bản {number}", "text": f"Điều 1. Nội dung\nVăn bản số {number} của đơn vị."},
        )
        assert reply.status_code == 202, reply.text
    for number in range(FAQ_ENTRIES):
        reply = admin.post(
            f"/v1/units/{unit}/faq", json={"question": f"Câu hỏi {number}?", "answer": f"Trả lời {number}."}
        )
        assert reply.status_code == 201, reply.text
    assert settled(admin, unit, f"vb-{DOCUMENTS - 1}")["status"] == "indexed"
    reader = admin.post("/v1/api-keys", json={"name": "chỉ đọc", "units": [unit], "scopes": ["read"]})
    assert reader.status_code == 201, reader.text
    before = asyncio.run(_consumer_counts(security_stack.nats_url))
    paths = [f"/v1/units/{unit}/documents", f"/v1/units/{unit}/faq"] * (LISTINGS // 2)
    statuses, lengths = asyncio.run(_list_many(security_stack.gateway_url, reader.json()["api_key"], paths))
    assert statuses == Counter({200: LISTINGS}), statuses
    assert lengths == Counter({DOCUMENTS + FAQ_ENTRIES: LISTINGS // 2, FAQ_ENTRIES: LISTINGS // 2}), lengths
    assert asyncio.run(_consumer_counts(security_stack.nats_url)) == before
    snapshot = admin.post("/v1/snapshots", json={"unit": unit})
    assert snapshot.status_code < 500, snapshot.text


def test_jetstream_refusing_is_a_503_with_a_vietnamese_reason() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/v1/units/u/documents")
    async def refused() -> None:
        raise ServiceUnavailableError(code=503, description="maximum consumers limit reached")

    reply = TestClient(app).get("/v1/units/u/documents")
    assert reply.status_code == 503
    assert reply.json()["code"] == "dependency_unavailable"
    assert "thử lại" in reply.json()["detail"]
