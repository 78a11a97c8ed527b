"""No exception from one event stops the ingest consumer (issue 14, finding 3): the real consumer
and handlers on a real nats-server of their own, with a retrieval double that fails like a bug
would on one document. That event and a poison one are dead-lettered, the next one is indexed."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import nats.errors
import pytest

from services.ingest.entrypoints.consumer import DocumentEventConsumer
from services.ingest.settings import IngestSettings
from tests.security.conftest import upsert_event
from tests.support import own_nats_server, real_ingest_handlers, unique_unit
from trolyao.docstatus import read_status
from trolyao.documents import Chunk, DocumentMetadata
from trolyao.messaging import (
    DOC_STATUS_BUCKET,
    connect,
    deadletter_subject,
    ensure_layout,
    status_subject,
    upsert_subject,
)

pytestmark = pytest.mark.timeout(60)

BUG_DOCUMENT = "gay-loi"
BLIP_DOCUMENT = "chap-chon"  # NATS times out once while it is handled: retried, then indexed
SETTLE_SECONDS = 30.0


class BuggyRetrieval:
    """Indexes every document but one, on which it raises what no handler expects."""

    def __init__(self) -> None:
        self.indexed: list[str] = []
        self.blipped = False

    async def index_document(
        self, *, unit: str, document_id: str, chunks: Sequence[Chunk], metadata: DocumentMetadata, **_: Any
    ) -> tuple[str, int]:
        if document_id == BUG_DOCUMENT:
            raise ZeroDivisionError("a bug")
        if document_id == BLIP_DOCUMENT and not self.blipped:
            self.blipped = True
            raise nats.errors.TimeoutError
        self.indexed.append(document_id)
        return "indexed", len(chunks)

    async def delete_document(self, **_: Any) -> str:
        return "deleted"


@pytest.fixture(scope="module")
def own_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with own_nats_server(tmp_path_factory.mktemp("isolation-nats")) as url:
        yield url


def test_an_exception_and_a_poison_event_cost_one_event_each(own_nats: str) -> None:
    unit = unique_unit("iso")
    received: list[tuple[str, dict[str, Any]]] = []

    async def scenario() -> None:
        client = await connect(own_nats, name="isolation-test")
        js = client.jetstream()
        await ensure_layout(js)
        retrieval = BuggyRetrieval()
        handlers = await real_ingest_handlers(js, retrieval)
        consumer = DocumentEventConsumer(
            js=js, handlers=handlers, settings=IngestSettings(batch_size=1, ack_wait_seconds=3)
        )

        async def record(message: Any) -> None:
            received.append((message.subject, json.loads(message.data)))

        await client.subscribe(deadletter_subject(unit), cb=record)
        await client.subscribe(status_subject(unit), cb=record)
        running = asyncio.create_task(consumer.run())
        text = "Điều 1. Phạm vi\nQuy chế này áp dụng cho cán bộ.\n"
        await js.publish(upsert_subject(unit), upsert_event(unit, BUG_DOCUMENT, 1, text=text))
        await js.publish(upsert_subject(unit), b"{khong phai json")
        await js.publish(upsert_subject(unit), upsert_event(unit, "sau-do", 1, text=text))
        await js.publish(upsert_subject(unit), upsert_event(unit, BLIP_DOCUMENT, 1, text=text))
        deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
        while {"sau-do", BLIP_DOCUMENT} - set(retrieval.indexed) or len(received) < 5:
            assert asyncio.get_running_loop().time() < deadline, received
            await asyncio.sleep(0.05)
        assert not running.done(), "the consumer stopped"
        bug_status = await read_status(await js.key_value(DOC_STATUS_BUCKET), unit, BUG_DOCUMENT)
        assert bug_status is not None and (bug_status.status, bug_status.code) == ("failed", "internal_error")
        consumer.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, timeout=10)
        await client.drain()

    asyncio.run(scenario())
    letters = sorted(body["code"] for subject, body in received if subject == deadletter_subject(unit))
    assert letters == ["internal_error", "malformed_json"]
    outcomes = [body for subject, body in received if subject == status_subject(unit)]
    assert sorted((o["documentId"], o.get("code") or o.get("outcome")) for o in outcomes) == [
        (BLIP_DOCUMENT, "indexed"),
        (BUG_DOCUMENT, "internal_error"),
        ("sau-do", "indexed"),
    ]
    assert all("a bug" not in json.dumps(body) for _, body in received)
