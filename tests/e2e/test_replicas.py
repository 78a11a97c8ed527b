"""Stateless services side by side: two gateways and two ingest consumers against one NATS and
one retrieval — every document is indexed exactly once (no lost and no doubled work)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from stack.launcher import Stack, StackPorts
from stack.natsserver import free_port
from tests.support import unique_unit
from trolyao.messaging import connect
from trolyao.rpc import sync_channel
from trolyao.v1 import retrieval_pb2, retrieval_pb2_grpc

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

DOCUMENTS = 80


@pytest.fixture(scope="module")
def replicated_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, int]]:
    stack = Stack(
        data_dir=tmp_path_factory.mktemp("replicas"),
        ports=StackPorts.free(),
        api_key="tly_replicas_" + secrets.token_urlsafe(16),
        extra_env={"TROLYAO_RETRIEVAL_EMBEDDER": "none"},
    )
    stack.start()
    second_gateway_port = free_port()
    stack.start_service("gateway", replica="2", env={"TROLYAO_GATEWAY_PORT": str(second_gateway_port)})
    stack.start_service("ingest", replica="2")
    yield stack, second_gateway_port
    stack.stop()


def test_two_gateways_and_two_ingest_consumers_index_each_document_once(
    replicated_stack: tuple[Stack, int],
) -> None:
    stack, second_port = replicated_stack
    gateways = [stack.gateway_url, f"http://127.0.0.1:{second_port}"]
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    for url in gateways:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    unit = unique_unit("replicas")
    httpx.put(
        f"{gateways[1]}/v1/units/{unit}", json={"name": "Đơn vị nhân bản"}, headers=headers
    ).raise_for_status()

    async def scenario() -> Counter[tuple[str, str]]:
        outcomes: Counter[tuple[str, str]] = Counter()
        done = asyncio.Event()
        client = await connect(stack.nats_url, name="replicas-probe")

        async def on_status(message: object) -> None:
            body = json.loads(message.data)  # type: ignore[attr-defined]
            outcomes[(str(body.get("documentId")), str(body.get("outcome", body.get("code"))))] += 1
            if sum(outcomes.values()) >= DOCUMENTS:
                done.set()

        await client.subscribe(f"status.docs.{unit}", cb=on_status)
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            replies = await asyncio.gather(
                *(
                    http.put(
                        f"{gateways[index % 2]}/v1/units/{unit}/documents/vb-{index}",
                        json={
                            "title": f"Văn bản {index}",
                            "text": f"Thông báo số {index} về lịch làm việc.",
                            "version": 1,
                        },
                    )
                    for index in range(DOCUMENTS)
                )
            )
        assert all(reply.status_code == 202 for reply in replies)
        await asyncio.wait_for(done.wait(), timeout=240)
        await asyncio.sleep(2.0)  # any doubled work would show up as a second status event by now
        await client.close()
        return outcomes

    outcomes = asyncio.run(scenario())
    assert sorted(outcomes) == sorted((f"vb-{index}", "indexed") for index in range(DOCUMENTS))
    assert set(outcomes.values()) == {1}, "a document was processed more than once"

    channel = sync_channel(f"127.0.0.1:{stack.ports.retrieval}", service_token=stack.service_token)
    retrieval = retrieval_pb2_grpc.RetrievalServiceStub(channel)
    listed = retrieval.ListDocuments(retrieval_pb2.ListDocumentsRequest(unit=unit))
    assert len(listed.documents) == DOCUMENTS
    stats = retrieval.GetUnitStats(retrieval_pb2.GetUnitStatsRequest(unit=unit))
    assert stats.chunks == DOCUMENTS
    for log_name in ("ingest", "ingest-2"):  # both consumers took a share of the work
        assert "event_applied" in (stack.data_dir / "logs" / f"{log_name}.log").read_text()
