"""One unit's bulk import must not stall the others (issue 21), through the launcher's stack with
the lexical engine: a neighbour's single change is indexed before half of a unit's backlog, a
gateway upload overtakes its own unit's queued bulk events, and bulk uploads past the unit's quota
are refused with 429 while interactive ones go through and every accepted one is indexed."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from stack.launcher import Stack, StackPorts
from tests.support import FAST_STACK_ENV, started, unique_unit
from trolyao.messaging import bulk_upsert_subject, connect, upsert_subject

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

BACKLOG = 300
BULK_BACKLOG = 200
BULK_LIMIT = 5  # the gateway's per-unit bulk quota in this module's stack
STARTED = 10  # outcomes of a backlog seen before the other change is published: ingest is busy with it
OUTCOME_TIMEOUT_SECONDS = 300.0
# Each of the backlog's documents is a few articles long, so indexing one is real work.
ARTICLE = (
    "Điều {n}. Quy định về hồ sơ số {n}\n"
    "Cơ quan tiếp nhận hồ sơ trong giờ hành chính; hồ sơ hợp lệ được giải quyết trong {n} ngày làm việc. "
    "Người nộp hồ sơ được nhận phiếu hẹn và tra cứu tình trạng trên cổng dịch vụ công.\n"
)


def backlog_text(index: int) -> str:
    return "".join(ARTICLE.format(n=index * 10 + article) for article in range(1, 6))


def upsert(unit: str, document_id: str, text: str, *, source: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 1,
            "eventId": f"{unit}-{document_id}-{secrets.token_hex(4)}",
            "unit": unit,
            "documentId": document_id,
            "version": 1,
            "source": source,
            "metadata": {"title": document_id},
            "text": text,
        }
    ).encode()


async def publish_backlog(js: JetStreamContext, unit: str, count: int, *, bulk: bool) -> None:
    """A unit's library: on the bulk lane as `trolyao import` sends it, or on the ordinary subject
    as a unit's own system syncing everything would."""
    subject, source = (
        (bulk_upsert_subject(unit), "bulk-import") if bulk else (upsert_subject(unit), "portal-sync")
    )
    for index in range(count):
        await js.publish(subject, upsert(unit, f"kho-{index}", backlog_text(index), source=source))


@pytest.fixture(scope="module")
def fair_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        data_dir=tmp_path_factory.mktemp("fair-ingest"),
        ports=StackPorts.free(),
        api_key="tly_fair_" + secrets.token_urlsafe(16),
        extra_env={
            **FAST_STACK_ENV,
            "TROLYAO_INGEST_QUEUE_POLL_SECONDS": "0.5",
            "TROLYAO_GATEWAY_BULK_BACKLOG_LIMIT": str(BULK_LIMIT),
        },
    )
    with started(stack):
        yield stack


class OutcomeLog:
    """Every outcome on `status.docs.<unit>` of the watched units, in the order ingest sent them."""

    def __init__(self) -> None:
        self.order: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

    async def on_status(self, message: Msg) -> None:
        body = json.loads(message.data)
        self.order.append((str(body.get("unit")), str(body.get("documentId"))))
        self.changed.set()

    def done(self, unit: str) -> int:
        return sum(1 for outcome_unit, _ in self.order if outcome_unit == unit)

    def done_before(self, unit: str, document: tuple[str, str]) -> int:
        """How many of `unit`'s outcomes came before `document`'s."""
        position = self.order.index(document)
        return sum(1 for outcome_unit, _ in self.order[:position] if outcome_unit == unit)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async def waiting() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(waiting(), timeout=OUTCOME_TIMEOUT_SECONDS)


def test_a_neighbours_single_document_is_indexed_before_half_of_a_backlog(fair_stack: Stack) -> None:
    unit_a, unit_b = unique_unit("fair-a"), unique_unit("fair-b")

    async def scenario() -> OutcomeLog:
        outcomes = OutcomeLog()
        client = await connect(fair_stack.nats_url, name="fair-probe")
        js = client.jetstream()
        for unit in (unit_a, unit_b):
            await client.subscribe(f"status.docs.{unit}", cb=outcomes.on_status)
        # Unit B has kept its documents in sync for a while (ingest knows it)...
        await js.publish(
            upsert_subject(unit_b), upsert(unit_b, "b-cu", "Quy chế tiếp công dân.", source="portal-sync")
        )
        await outcomes.wait_for(lambda: outcomes.done(unit_b) == 1)
        # ...when unit A's own system syncs its whole library on the ordinary subject...
        await publish_backlog(js, unit_a, BACKLOG, bulk=False)
        # ...ingest is well into it when unit B publishes one new document.
        await outcomes.wait_for(lambda: outcomes.done(unit_a) >= STARTED)
        await js.publish(
            upsert_subject(unit_b),
            upsert(unit_b, "b-0", "Thông báo lịch tiếp công dân.", source="portal-sync"),
        )
        await outcomes.wait_for(lambda: outcomes.done(unit_a) == BACKLOG and outcomes.done(unit_b) == 2)
        await client.close()
        return outcomes

    outcomes = asyncio.run(scenario())
    ahead = outcomes.done_before(unit_a, (unit_b, "b-0"))
    assert ahead < BACKLOG // 2, f"unit B waited for {ahead} of unit A's {BACKLOG} documents"


def test_a_gateway_upload_overtakes_its_units_queued_bulk_events(fair_stack: Stack) -> None:
    unit = unique_unit("fair-bulk")
    headers = {"Authorization": f"Bearer {fair_stack.api_key}"}
    httpx.put(
        f"{fair_stack.gateway_url}/v1/units/{unit}", json={"name": "Đơn vị nhập kho"}, headers=headers
    ).raise_for_status()

    async def scenario() -> OutcomeLog:
        outcomes = OutcomeLog()
        client = await connect(fair_stack.nats_url, name="fair-bulk-probe")
        js = client.jetstream()
        await client.subscribe(f"status.docs.{unit}", cb=outcomes.on_status)
        # What `trolyao import` publishes: the whole library on the bulk lane...
        await publish_backlog(js, unit, BULK_BACKLOG, bulk=True)
        # ...and while it is being indexed, a person uploads one document in the console.
        await outcomes.wait_for(lambda: outcomes.done(unit) >= STARTED)
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            reply = await http.put(
                f"{fair_stack.gateway_url}/v1/units/{unit}/documents/can-gap",
                json={
                    "title": "Thông báo khẩn",
                    "text": "Ngày mai cơ quan nghỉ làm việc để phòng chống bão.",
                },
            )
        assert reply.status_code == 202, reply.text
        await outcomes.wait_for(lambda: outcomes.done(unit) == BULK_BACKLOG + 1)
        await client.close()
        return outcomes

    outcomes = asyncio.run(scenario())
    ahead = outcomes.done_before(unit, (unit, "can-gap"))
    assert ahead < BULK_BACKLOG // 2, f"the upload waited for {ahead} of {BULK_BACKLOG} bulk events"


def test_a_units_queue_and_its_estimate_are_shown_while_it_imports(fair_stack: Stack) -> None:
    unit = unique_unit("fair-queue")
    headers = {"Authorization": f"Bearer {fair_stack.api_key}"}
    http = httpx.Client(base_url=fair_stack.gateway_url, headers=headers, timeout=30)
    http.put(f"/v1/units/{unit}", json={"name": "Đơn vị có hàng đợi"}).raise_for_status()
    assert http.get(f"/v1/units/{unit}/queue").json()["waiting"] == 0

    async def scenario() -> tuple[dict[str, object], dict[str, object]]:
        outcomes = OutcomeLog()
        client = await connect(fair_stack.nats_url, name="fair-queue-probe")
        js = client.jetstream()
        await client.subscribe(f"status.docs.{unit}", cb=outcomes.on_status)
        await publish_backlog(js, unit, BACKLOG, bulk=True)
        seen: dict[str, object] = {}
        while not seen and outcomes.done(unit) < BACKLOG:
            queue = http.get(f"/v1/units/{unit}/queue").json()
            if queue["waiting"] > 0 and queue["eta_seconds"] is not None:
                seen = queue
            await asyncio.sleep(0.2)
        listing = http.get(f"/v1/units/{unit}/documents").json()["queue"]
        await outcomes.wait_for(lambda: outcomes.done(unit) == BACKLOG)
        await client.close()
        return seen, listing

    seen, listing = asyncio.run(scenario())
    assert seen, "the queue never showed the backlog with an estimate"
    assert seen["bulk"] == seen["waiting"] and str(seen["message"]).startswith("Đang xử lý")
    assert "dự kiến xong sau" in str(seen["message"])
    assert listing is not None and listing["unit"] == unit

    def drained() -> bool:
        return bool(http.get(f"/v1/units/{unit}/queue").json()["waiting"] == 0)

    for _ in range(100):
        if drained():
            break
        time.sleep(0.2)
    assert drained(), "the queue still shows changes after every outcome"
    http.close()


def wait_indexed(http: httpx.Client, unit: str, document_ids: list[str]) -> dict[str, str]:
    deadline = time.monotonic() + OUTCOME_TIMEOUT_SECONDS
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        listing = http.get(f"/v1/units/{unit}/documents").json()["documents"]
        states = {d["document_id"]: d["status"] for d in listing}
        if all(states.get(document_id) == "indexed" for document_id in document_ids):
            break
        time.sleep(0.25)
    return states


def test_bulk_uploads_past_the_quota_get_429_interactive_ones_go_through_and_none_is_dropped(
    fair_stack: Stack,
) -> None:
    unit = unique_unit("fair-quota")
    headers = {"Authorization": f"Bearer {fair_stack.api_key}"}
    http = httpx.Client(base_url=fair_stack.gateway_url, headers=headers, timeout=30)
    http.put(f"/v1/units/{unit}", json={"name": "Đơn vị có hạn mức"}).raise_for_status()

    def put(document_id: str, *, bulk: bool) -> httpx.Response:
        return http.put(
            f"/v1/units/{unit}/documents/{document_id}",
            params={"bulk": "true"} if bulk else None,
            json={"title": document_id, "text": f"Thông báo {document_id} về lịch tiếp công dân."},
        )

    fair_stack.kill("ingest")  # nothing drains: the backlog stays where the test puts it
    try:
        for index in range(BULK_LIMIT):
            reply = put(f"kho-{index}", bulk=True)
            assert reply.status_code == 202, reply.text
            accepted = reply.json()
            assert (accepted["status"], accepted["queue_lane"]) == ("queued", "bulk")
            assert accepted["queue_position"] == index + 1
        refused = put("kho-qua-han-muc", bulk=True)
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["Retry-After"]) >= 1
        problem = refused.json()
        assert problem["code"] == "bulk_backlog_full"
        assert f"hạn mức {BULK_LIMIT}" in problem["detail"] and "không bị mất" in problem["detail"]
        person = put("can-gap", bulk=False)  # a person's upload is never held by the bulk quota
        assert person.status_code == 202, person.text
        assert (person.json()["queue_lane"], person.json()["queue_position"]) == ("interactive", 1)
        shown = http.get(f"/v1/units/{unit}/documents/kho-3").json()
        assert (shown["status"], shown["queue_lane"], shown["queue_position"]) == ("queued", "bulk", 4)
        assert shown["queue"]["unit"] == unit
        listed = {d["document_id"]: d for d in http.get(f"/v1/units/{unit}/documents").json()["documents"]}
        assert listed["kho-4"]["queue_position"] == BULK_LIMIT
        assert "kho-qua-han-muc" not in listed  # refused before anything was recorded
    finally:
        fair_stack.restart("ingest")
    everything = [f"kho-{index}" for index in range(BULK_LIMIT)] + ["can-gap"]
    states = wait_indexed(http, unit, everything)
    assert all(states.get(document_id) == "indexed" for document_id in everything), states
    # The bulk backlog drained (now read from ingest's own bulk lane): bulk uploads are taken again.
    again = put("kho-qua-han-muc", bulk=True)
    assert again.status_code == 202, again.text
    assert wait_indexed(http, unit, ["kho-qua-han-muc"]).get("kho-qua-han-muc") == "indexed"
    http.close()
