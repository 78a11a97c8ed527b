"""Hundreds of document events per unit — duplicates, versions out of order, deletes, re-creates
and malformed events — while the ingest process is SIGKILLed twice mid-stream. Afterwards every
unit's index is exactly the expected final state and every malformed event is dead-lettered."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from stack.launcher import Stack, StackPorts
from tests.support import ingest_settled, unique_unit
from trolyao.messaging import DEADLETTER_STREAM, connect
from trolyao.rpc import sync_channel
from trolyao.v1 import retrieval_pb2, retrieval_pb2_grpc

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(900)]

UNITS = 4
DOCUMENTS_PER_UNIT = 25
EVENTS_PER_UNIT = 160
MALFORMED_PER_UNIT = 6
SETTLE_TIMEOUT_SECONDS = 420.0


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        data_dir=tmp_path_factory.mktemp("chaos"),
        ports=StackPorts.free(),
        api_key="tly_chaos_" + secrets.token_urlsafe(16),
        # Lexical search only: this test is about delivery, not ranking, and stays fast.
        extra_env={
            "TROLYAO_RETRIEVAL_EMBEDDER": "none",
            "TROLYAO_INGEST_MAX_BACKOFF_SECONDS": "2",
            # A killed consumer's in-flight messages come back after ack_wait.
            "TROLYAO_INGEST_ACK_WAIT_SECONDS": "4",
        },
    )
    stack.start()
    yield stack
    stack.stop()


@dataclass(frozen=True)
class Operation:
    unit: str
    document_id: str
    version: int
    delete: bool

    def subject(self) -> str:
        return f"docs.{self.unit}.{'delete' if self.delete else 'upsert'}"

    def payload(self) -> bytes:
        body: dict[str, object] = {
            "schema_version": 1,
            "event_id": f"{self.unit}-{self.document_id}-{self.version}",
            "unit": self.unit,
            "document_id": self.document_id,
            "version": self.version,
            "source": "chaos-test",
        }
        if not self.delete:
            body["text"] = text_of(self.document_id, self.version)
            body["metadata"] = {"title": f"Văn bản {self.document_id}"}
        return json.dumps(body, ensure_ascii=False).encode()


def text_of(document_id: str, version: int) -> str:
    return f"Văn bản {document_id} phiên bản số {version}. Quy định về thời hạn xử lý hồ sơ thứ {version}."


def plan_unit(unit: str, rng: random.Random) -> tuple[list[Operation], dict[str, int]]:
    """Random operations with unique versions per document; returns them and the expected state."""
    operations: list[Operation] = []
    versions: dict[str, list[int]] = {f"d{i}": [] for i in range(DOCUMENTS_PER_UNIT)}
    for _ in range(EVENTS_PER_UNIT):
        document_id = rng.choice(list(versions))
        version = len(versions[document_id]) + 1
        versions[document_id].append(version)
        operations.append(Operation(unit, document_id, version, delete=rng.random() < 0.25))
    # duplicates: the same event delivered again later
    operations += rng.sample(operations, k=EVENTS_PER_UNIT // 5)
    rng.shuffle(operations)
    newest: dict[str, Operation] = {}
    for operation in operations:
        if operation.document_id not in newest or operation.version > newest[operation.document_id].version:
            newest[operation.document_id] = operation
    expected = {doc: op.version for doc, op in newest.items() if not op.delete}
    return operations, expected


def malformed(unit: str) -> list[tuple[str, bytes]]:
    return [
        (f"docs.{unit}.upsert", b"{this is not json"),
        (f"docs.{unit}.upsert", json.dumps({"document_id": "x", "text": "thiếu phiên bản"}).encode()),
        (
            f"docs.{unit}.upsert",
            json.dumps({"unit": "other", "document_id": "x", "version": 1, "text": "t"}).encode(),
        ),
        (f"docs.{unit}.upsert", json.dumps({"document_id": "x", "version": 1}).encode()),
        (f"docs.{unit}.delete", json.dumps({"document_id": "", "version": 3}).encode()),
        (
            f"docs.{unit}.upsert",
            json.dumps({"document_id": "y", "version": 1, "schema_version": 99, "text": "t"}).encode(),
        ),
    ]


async def publish_all(nats_url: str, messages: list[tuple[str, bytes]], on_progress: object) -> None:
    client = await connect(nats_url, name="chaos-publisher")
    js = client.jetstream()
    for index, (subject, payload) in enumerate(messages):
        await js.publish(subject, payload)
        if callable(on_progress):
            await on_progress(index)
    await client.drain()


async def consumer_settled(nats_url: str, units: list[str]) -> bool:
    client = await connect(nats_url, name="chaos-probe")
    try:
        return await ingest_settled(client.jetstream(), units)
    finally:
        await client.close()


async def dead_letters(nats_url: str, unit: str) -> list[dict[str, object]]:
    client = await connect(nats_url, name="chaos-dlq")
    js = client.jetstream()
    subscription = await js.subscribe(
        f"deadletter.docs.{unit}", stream=DEADLETTER_STREAM, ordered_consumer=True
    )
    letters: list[dict[str, object]] = []
    try:
        while True:
            message = await subscription.next_msg(timeout=1.0)
            letters.append(json.loads(message.data))
    except TimeoutError:
        pass
    await client.close()
    return letters


def test_index_ends_exactly_right_despite_crashes_duplicates_and_disorder(
    chaos_stack: Stack, tmp_path: Path
) -> None:
    rng = random.Random(20261127)
    units = [unique_unit("chaos") for _ in range(UNITS)]
    expected: dict[str, dict[str, int]] = {}
    messages: list[tuple[str, bytes]] = []
    for unit in units:
        operations, expected[unit] = plan_unit(unit, rng)
        messages += [(op.subject(), op.payload()) for op in operations]
        messages += malformed(unit)
    rng.shuffle(messages)
    kill_points = {len(messages) // 3: "first", 2 * len(messages) // 3: "second"}
    kills = []

    async def on_progress(index: int) -> None:
        if index in kill_points:
            await asyncio.sleep(0.3)  # let ingest be mid-stream
            chaos_stack.kill("ingest")
            kills.append(kill_points[index])
            await asyncio.sleep(0.2)
            chaos_stack.restart("ingest")

    asyncio.run(publish_all(chaos_stack.nats_url, messages, on_progress))
    assert kills == ["first", "second"]

    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while not asyncio.run(consumer_settled(chaos_stack.nats_url, units)):
        assert time.monotonic() < deadline, "ingest never caught up"
        time.sleep(0.5)

    for unit in units:
        retrieval = retrieval_pb2_grpc.RetrievalServiceStub(
            sync_channel(chaos_stack.retrieval_address(unit), service_token=chaos_stack.service_token)
        )
        listed = retrieval.ListDocuments(retrieval_pb2.ListDocumentsRequest(unit=unit))
        indexed = {document.document_id: document.version for document in listed.documents}
        assert indexed == expected[unit], f"unit {unit}: index differs from the expected final state"
        stats = retrieval.GetUnitStats(retrieval_pb2.GetUnitStatsRequest(unit=unit))
        assert stats.chunks == sum(document.chunk_count for document in listed.documents), (
            "stale chunks remain"
        )
        for document_id, version in expected[unit].items():
            chunks = retrieval.GetDocumentChunks(
                retrieval_pb2.GetDocumentChunksRequest(unit=unit, document_id=document_id)
            )
            assert [chunk.text for chunk in chunks.chunks] == [text_of(document_id, version)]
        for document_id in {f"d{i}" for i in range(DOCUMENTS_PER_UNIT)} - set(expected[unit]):
            with pytest.raises(grpc.RpcError) as missing:
                retrieval.GetDocumentChunks(
                    retrieval_pb2.GetDocumentChunksRequest(unit=unit, document_id=document_id)
                )
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND

        letters = asyncio.run(dead_letters(chaos_stack.nats_url, unit))
        codes = sorted(str(letter["code"]) for letter in letters)
        assert codes == sorted(
            [
                "malformed_json",
                "missing_version",
                "unit_mismatch",
                "missing_content",
                "invalid_document_id",
                "unsupported_schema_version",
            ]
        ), codes
        assert all(letter["message"] and letter["payload"] for letter in letters)
