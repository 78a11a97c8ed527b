"""A data dir from before per-unit lanes: the old single `ingest` durable on `docs.>` has handled
part of the stream. Ingest starts on it, opens the units' lanes where the old consumer stood (what
it acknowledged is not handled again), handles the rest, and deletes the old consumer. Real
nats-server and the real consumer, with a recording retrieval double."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import nats.js.errors
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from services.ingest.entrypoints.consumer import DocumentEventConsumer
from services.ingest.settings import IngestSettings
from tests.security.conftest import upsert_event
from tests.support import ingest_settled, own_nats_server, real_ingest_handlers, unique_unit
from trolyao.documents import Chunk, DocumentMetadata
from trolyao.messaging import (
    DOCS_STREAM,
    INGEST_DURABLE,
    bulk_upsert_subject,
    connect,
    ensure_layout,
    upsert_subject,
)

pytestmark = pytest.mark.timeout(60)

SETTLE_SECONDS = 30.0
TEXT = "Điều 1. Phạm vi\nQuy chế này áp dụng cho cán bộ.\n"


class RecordingRetrieval:
    def __init__(self) -> None:
        self.indexed: list[str] = []

    async def index_document(
        self, *, unit: str, document_id: str, chunks: Sequence[Chunk], metadata: DocumentMetadata, **_: Any
    ) -> tuple[str, int]:
        self.indexed.append(f"{unit}/{document_id}")
        return "indexed", len(chunks)

    async def delete_document(self, **_: Any) -> str:
        return "deleted"


@pytest.fixture(scope="module")
def own_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with own_nats_server(tmp_path_factory.mktemp("takeover-nats")) as url:
        yield url


def test_lanes_take_over_from_the_old_single_consumer(own_nats: str) -> None:
    units = [unique_unit("old-a"), unique_unit("old-b")]

    async def scenario() -> tuple[list[str], bool]:
        client = await connect(own_nats, name="takeover-test")
        js = client.jetstream()
        await ensure_layout(js)
        # What an older ingest left behind: its durable consumer, having handled the first events.
        old = await js.pull_subscribe(
            "docs.>",
            durable=INGEST_DURABLE,
            stream=DOCS_STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, filter_subject="docs.>"),
        )
        for unit in units:
            await js.publish(upsert_subject(unit), upsert_event(unit, "da-xu-ly", 1, text=TEXT))
        for message in await old.fetch(len(units), timeout=5):
            await message.ack_sync()
        await old.unsubscribe()
        for unit in units:
            await js.publish(upsert_subject(unit), upsert_event(unit, "moi", 1, text=TEXT))
            await js.publish(bulk_upsert_subject(unit), upsert_event(unit, "nhap-kho", 1, text=TEXT))

        retrieval = RecordingRetrieval()
        handlers = await real_ingest_handlers(js, retrieval)
        consumer = DocumentEventConsumer(
            js=js, handlers=handlers, settings=IngestSettings(discovery_seconds=0.2, ack_wait_seconds=3)
        )
        running = asyncio.create_task(consumer.run())
        deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
        while len(retrieval.indexed) < 2 * len(units) or not await ingest_settled(js, units):
            assert asyncio.get_running_loop().time() < deadline, retrieval.indexed
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # anything handled twice would show by now
        try:
            await js.consumer_info(DOCS_STREAM, INGEST_DURABLE)
            old_left = True
        except nats.js.errors.NotFoundError:
            old_left = False
        consumer.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, timeout=10)
        await client.drain()
        return retrieval.indexed, old_left

    indexed, old_left = asyncio.run(scenario())
    assert sorted(indexed) == sorted(f"{unit}/{name}" for unit in units for name in ("moi", "nhap-kho"))
    assert not old_left, "the old consumer was not retired"
