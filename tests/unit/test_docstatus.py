"""Document status records against a real nats-server: never moved back to an older version."""

from __future__ import annotations

import asyncio

from tests.support import unique_unit
from trolyao.docstatus import DocumentStatus, list_statuses, read_status, write_status
from trolyao.messaging import DOC_STATUS_BUCKET, connect, ensure_layout


def test_status_writes_keep_the_newest_version(nats_server: str) -> None:
    async def scenario() -> None:
        client = await connect(nats_server, name="test")
        js = client.jetstream()
        await ensure_layout(js)
        bucket = await js.key_value(DOC_STATUS_BUCKET)
        unit = unique_unit()
        doc = "văn bản/1|a"
        assert await write_status(bucket, DocumentStatus(unit, doc, 2, "pending"))
        assert await write_status(bucket, DocumentStatus(unit, doc, 2, "indexed", chunk_count=3))
        assert not await write_status(bucket, DocumentStatus(unit, doc, 2, "pending"))
        assert not await write_status(bucket, DocumentStatus(unit, doc, 1, "indexed"))
        current = await read_status(bucket, unit, doc)
        assert current is not None and (current.version, current.status, current.chunk_count) == (
            2,
            "indexed",
            3,
        )
        results = await asyncio.gather(
            *(write_status(bucket, DocumentStatus(unit, doc, version, "indexed")) for version in range(3, 13))
        )
        assert any(results)
        final = await read_status(bucket, unit, doc)
        assert final is not None and final.version == 12
        assert await read_status(bucket, unique_unit(), doc) is None
        await client.drain()

    asyncio.run(scenario())


def test_list_statuses_reads_one_unit_only(nats_server: str) -> None:
    async def scenario() -> None:
        client = await connect(nats_server, name="test-list")
        js = client.jetstream()
        await ensure_layout(js)
        bucket = await js.key_value(DOC_STATUS_BUCKET)
        unit, other = unique_unit(), unique_unit()
        prefixed = "x" + unit  # a unit whose id contains the other's as a substring
        for document in ("a", "b/c", "Điều 5|k"):
            await write_status(bucket, DocumentStatus(unit, document, 1, "indexed"))
        await write_status(bucket, DocumentStatus(other, "a", 1, "indexed"))
        await write_status(bucket, DocumentStatus(prefixed, "a", 1, "indexed"))
        listed = await list_statuses(bucket, unit)
        assert [(s.unit, s.document_id) for s in listed] == [(unit, "a"), (unit, "b/c"), (unit, "Điều 5|k")]
        assert await list_statuses(bucket, unique_unit()) == []
        await client.drain()

    asyncio.run(scenario())
