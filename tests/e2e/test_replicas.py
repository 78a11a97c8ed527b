"""Stateless services side by side: two gateways and two ingest consumers against one NATS and
one retrieval — every document is indexed exactly once (no lost and no doubled work)."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from stack.launcher import Stack, StackPorts
from stack.natsserver import free_port
from tests.support import NO_RATE_LIMIT_ENV, unique_unit
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
        # 200 concurrent uploads through two gateways: the replicas share one rate limit, which is
        # tests/gateway/test_limits.py's subject, not this file's.
        extra_env={"TROLYAO_RETRIEVAL_EMBEDDER": "none"} | NO_RATE_LIMIT_ENV,
    )
    stack.start()
    second_gateway_port = free_port()
    stack.start_service("gateway", replica="2", env={"TROLYAO_GATEWAY_PORT": str(second_gateway_port)})
    stack.start_service("ingest", replica="2")
    yield stack, second_gateway_port
    stack.stop()


def wait_ready(urls: list[str]) -> None:
    for url in urls:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)


def test_two_gateways_and_two_ingest_consumers_index_each_document_once(
    replicated_stack: tuple[Stack, int],
) -> None:
    stack, second_port = replicated_stack
    gateways = [stack.gateway_url, f"http://127.0.0.1:{second_port}"]
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    wait_ready(gateways)
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

    channel = sync_channel(stack.retrieval_address(unit), service_token=stack.service_token)
    retrieval = retrieval_pb2_grpc.RetrievalServiceStub(channel)
    listed = retrieval.ListDocuments(retrieval_pb2.ListDocumentsRequest(unit=unit))
    assert len(listed.documents) == DOCUMENTS
    stats = retrieval.GetUnitStats(retrieval_pb2.GetUnitStatsRequest(unit=unit))
    assert stats.chunks == DOCUMENTS
    # Both replicas serve the same per-unit lanes; which one takes an event depends on who fetches
    # first (on a loaded machine one replica can take all 80), so only "once each" is asserted.
    logs = [(stack.data_dir / "logs" / f"{name}.log").read_text() for name in ("ingest", "ingest-2")]
    assert all("consumer_started" in text for text in logs)
    assert any("event_applied" in text for text in logs)


BULK_DOCUMENTS = 200
QUIET_SECONDS = 10.0  # the gateways' default test_run_quiet_seconds
MAX_WAIT_SECONDS = 120.0  # ...and test_run_max_wait_seconds
RUNS_SETTLE_SECONDS = 60.0


def test_a_bulk_import_through_two_gateways_triggers_a_few_test_runs_each_run_by_one(
    replicated_stack: tuple[Stack, int],
) -> None:
    """Issue 20: 200 documents through two gateway replicas give a few change-triggered test runs
    (debounced), never two at once for the unit (one replica claims each)."""
    stack, second_port = replicated_stack
    gateways = [stack.gateway_url, f"http://127.0.0.1:{second_port}"]
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    wait_ready(gateways)
    unit = unique_unit("bulk-runs")
    with httpx.Client(headers=headers, timeout=30) as http:
        http.put(f"{gateways[0]}/v1/units/{unit}", json={"name": "Đơn vị nhập hàng loạt"}).raise_for_status()
        http.put(
            f"{gateways[1]}/v1/units/{unit}/test-questions/lich-lam-viec",
            json={"question": "Thông báo số 7 nói về gì?", "expected_answer": "lịch làm việc"},
        ).raise_for_status()
    started = time.monotonic()

    async def upload() -> None:
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            replies = await asyncio.gather(
                *(
                    http.put(
                        f"{gateways[index % 2]}/v1/units/{unit}/documents/hl-{index}",
                        json={"title": f"Văn bản {index}", "text": f"Thông báo số {index} về lịch làm việc."},
                    )
                    for index in range(BULK_DOCUMENTS)
                )
            )
        assert all(reply.status_code == 202 for reply in replies)

    asyncio.run(upload())
    with httpx.Client(base_url=gateways[0], headers=headers, timeout=30) as http:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            documents = http.get(f"/v1/units/{unit}/documents").json()["documents"]
            if len(documents) == BULK_DOCUMENTS and all(d["status"] == "indexed" for d in documents):
                break
            time.sleep(1.0)
        indexing_seconds = time.monotonic() - started
        time.sleep(QUIET_SECONDS)
        deadline = time.monotonic() + RUNS_SETTLE_SECONDS
        runs: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            runs = http.get(f"/v1/units/{unit}/test-runs").json()["runs"]
            if runs and all(run["status"] == "done" for run in runs):
                time.sleep(QUIET_SECONDS)  # no further run is pending
                again = http.get(f"/v1/units/{unit}/test-runs").json()["runs"]
                if again == runs:
                    break
            time.sleep(1.0)
    change_runs = sorted(
        (run for run in runs if run["trigger"] == "change"), key=lambda run: str(run["run_id"])
    )
    allowed = 2 + int(indexing_seconds // MAX_WAIT_SECONDS)
    assert 1 <= len(change_runs) <= allowed, (indexing_seconds, runs)
    for earlier, later in itertools.pairwise(change_runs):
        assert str(earlier["finished_at"]) <= str(later["started_at"]), "two runs of the unit at once"
