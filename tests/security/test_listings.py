"""Listings leave nothing behind on NATS (issue 14, finding 4): thousands of document and FAQ
listings by a read-only key keep every bucket's consumer count where it was, always return the
whole list (never a start-up race's `[]`), and never answer 500. JetStream refusing (limits, no
leader), a listing larger than the bucket's subject index answers, or a timed-out wait → 503
problem+json with a Vietnamese reason."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from nats.js.errors import ServiceUnavailableError

from services.gateway.entrypoints.app import create_app
from services.gateway.entrypoints.errors import install_error_handlers
from services.gateway.settings import GatewaySettings
from stack.launcher import Stack
from tests.security.conftest import settled
from trolyao import keyvalue
from trolyao.messaging import DOC_STATUS_BUCKET, FAQ_ENTRIES_BUCKET, UNITS_BUCKET, connect

pytestmark = [pytest.mark.stack, pytest.mark.timeout(240)]

DOCUMENTS = 12
FAQ_ENTRIES = 3
# Five times the stream's default consumer limit (1,000), which the old listings filled in ~980
# calls; the figure. 16 at a time, they took 39 s on a shared two-core machine.
LISTINGS = 5000
CONCURRENT_REQUESTS = 16
READY_WAIT_SECONDS = 30.0
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


@pytest.mark.parametrize(
    "refusal",
    [
        ServiceUnavailableError(code=503, description="maximum consumers limit reached"),
        keyvalue.TooManyKeys("faq_entries: 100000 or more keys match u.*"),
        TimeoutError(),
    ],
    ids=["jetstream-unavailable", "too-many-keys", "timeout"],
)
def test_every_refusal_kind_is_a_503_never_a_500(refusal: Exception) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/v1/units/u/faq")
    async def refused() -> None:
        raise refusal

    reply = TestClient(app, raise_server_exceptions=False).get("/v1/units/u/faq")
    assert reply.status_code == 503, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert reply.json()["code"] == "dependency_unavailable" and reply.headers["retry-after"]


def test_a_listing_the_bucket_index_cannot_answer_is_a_503_on_the_real_gateway(
    admin: httpx.Client,
    new_unit: Callable[[], str],
    security_stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gateway's own code against the stack's NATS, with the listing bound forced down to 1."""
    unit = new_unit()
    created = admin.post(f"/v1/units/{unit}/faq", json={"question": "Lệ phí?", "answer": "Miễn phí."})
    assert created.status_code == 201, created.text
    environment = security_stack.environment() | security_stack.service_environment("gateway")
    for name, value in environment.items():
        if name.startswith("TROLYAO_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(keyvalue, "MAX_LISTED_KEYS", 1)
    headers = {"Authorization": f"Bearer {security_stack.api_key}"}
    with TestClient(create_app(GatewaySettings()), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + READY_WAIT_SECONDS
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        reply = client.get(f"/v1/units/{unit}/faq", headers=headers)
    assert reply.status_code == 503, reply.text
    assert reply.json()["code"] == "dependency_unavailable"
    assert "NATS JetStream" in reply.json()["detail"]
