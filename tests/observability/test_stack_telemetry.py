"""Telemetry of the whole stack, running as separate processes.

One trace runs from the gateway's HTTP request through the NATS event, the ingest consumer and
retrieval's indexing; an ask is one trace from the gateway into retrieval's answer and search
steps; the answer-rate counters move with each ask; logs carry the trace id; no question text or
document content is in any span.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.observability.conftest import METRICS_HEADERS, ObservedStack
from tests.support import unique_unit
from trolyao.messaging import connect, upsert_subject
from trolyao.telemetry.span_files import RecordedSpan

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(120)]

INDEX_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.25
DOCUMENT_ID = "quy-che-cap-phep"
TITLE = "Quy chế cấp phép báo chí điện tử"
SECRET_PHRASE = "hồ sơ hợp lệ gồm tờ khai số 7"
DOCUMENT = (
    "Điều 1. Phạm vi điều chỉnh\n"
    "Quy chế này quy định việc cấp giấy phép hoạt động báo chí điện tử.\n\n"
    "Điều 2. Thời hạn giải quyết\n"
    f"1. Thời hạn cấp giấy phép hoạt động báo chí điện tử là 30 ngày kể từ ngày nhận đủ {SECRET_PHRASE}.\n"
)
QUESTION = "Thời hạn cấp giấy phép hoạt động báo chí điện tử là bao lâu?"
OFF_TOPIC_QUESTION = "Giá vé máy bay đi Đà Nẵng tháng sau là bao nhiêu?"

UPSERT_ROUTE = "PUT /v1/units/{unit}/documents/{document_id}"
ASK_ROUTE = "POST /v1/units/{unit}/ask"
INDEX_RPC = "/trolyao.v1.RetrievalService/IndexDocument"
ASK_RPC = "/trolyao.v1.RetrievalService/Ask"
ASK_OUTCOMES = "trolyao_ask_outcomes"


@pytest.fixture(scope="module")
def client(observed_stack: ObservedStack) -> Iterator[httpx.Client]:
    with observed_stack.client() as http:
        yield http


@pytest.fixture(scope="module")
def indexed_unit(client: httpx.Client) -> str:
    """A fresh unit with one document uploaded through the gateway and indexed."""
    unit = unique_unit("obs")
    assert client.put(f"/v1/units/{unit}", json={"name": "Đơn vị kiểm thử quan sát"}).status_code == 201
    reply = client.put(f"/v1/units/{unit}/documents/{DOCUMENT_ID}", json={"title": TITLE, "text": DOCUMENT})
    assert reply.status_code == 202, reply.text
    deadline = time.monotonic() + INDEX_TIMEOUT_SECONDS
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        status = client.get(f"/v1/units/{unit}/documents/{DOCUMENT_ID}").json()
        if status.get("status") in ("indexed", "failed"):
            break
        time.sleep(POLL_SECONDS)
    assert status.get("status") == "indexed", status
    return unit


def _one(spans: list[RecordedSpan], **wanted: object) -> RecordedSpan:
    found = [span for span in spans if all(getattr(span, key) == value for key, value in wanted.items())]
    assert len(found) == 1, f"expected one span with {wanted}, found {len(found)}: {[s.name for s in spans]}"
    return found[0]


def _trace_of(spans: list[RecordedSpan], *, route: str, unit: str) -> list[RecordedSpan]:
    roots = [
        span
        for span in spans
        if span.kind == "SERVER" and span.name == route and span.attributes.get("trolyao.unit") == unit
    ]
    if not roots:
        return []
    trace_id = roots[-1].trace_id
    return [span for span in spans if span.trace_id == trace_id]


def _assert_no_content(spans: list[RecordedSpan], *texts: str) -> None:
    for span in spans:
        for key, value in span.attributes.items():
            for text in texts:
                assert text not in str(value), f"{span.service} {span.name} {key} carries content"


def test_upload_is_one_trace_from_gateway_through_nats_and_ingest_to_retrieval(
    observed_stack: ObservedStack, indexed_unit: str
) -> None:
    def complete(spans: list[RecordedSpan]) -> bool:
        trace = _trace_of(spans, route=UPSERT_ROUTE, unit=indexed_unit)
        return any(s.service == "trolyao-retrieval" and s.name == INDEX_RPC for s in trace) and any(
            s.kind == "CONSUMER" for s in trace
        )

    trace = _trace_of(observed_stack.wait_for_spans(complete), route=UPSERT_ROUTE, unit=indexed_unit)

    http = _one(trace, service="trolyao-gateway", kind="SERVER", name=UPSERT_ROUTE)
    publish = _one(trace, service="trolyao-gateway", kind="PRODUCER", name="publish docs.{unit}.upsert")
    consume = _one(trace, service="trolyao-ingest", kind="CONSUMER", name="process docs.{unit}.upsert")
    index_call = _one(trace, service="trolyao-ingest", kind="CLIENT", name=INDEX_RPC)
    index_served = _one(trace, service="trolyao-retrieval", kind="SERVER", name=INDEX_RPC)

    assert http.parent_span_id is None
    by_id = {span.span_id: span for span in trace}
    ancestor = by_id.get(publish.parent_span_id or "")
    while ancestor is not None and ancestor is not http:
        ancestor = by_id.get(ancestor.parent_span_id or "")
    assert ancestor is http, "the publish span must descend from the HTTP request"
    assert consume.parent_span_id == publish.span_id, "ingest continues the trace from the NATS headers"
    assert index_call.parent_span_id == consume.span_id
    assert index_served.parent_span_id == index_call.span_id, "retrieval continues it from gRPC metadata"

    assert publish.attributes["messaging.destination.name"] == f"docs.{indexed_unit}.upsert"
    for span in (http, publish, consume, index_call, index_served):
        assert span.attributes["trolyao.unit"] == indexed_unit
    assert consume.attributes["trolyao.outcome"] == "indexed"
    assert index_served.attributes["trolyao.document.id"] == DOCUMENT_ID
    _assert_no_content(trace, SECRET_PHRASE, TITLE)


def test_ask_is_one_trace_from_gateway_into_retrieval_answer_and_search(
    observed_stack: ObservedStack, client: httpx.Client, indexed_unit: str
) -> None:
    reply = client.post(f"/v1/units/{indexed_unit}/ask", json={"question": QUESTION})
    assert reply.status_code == 200, reply.text

    def complete(spans: list[RecordedSpan]) -> bool:
        trace = _trace_of(spans, route=ASK_ROUTE, unit=indexed_unit)
        return any(s.name == "answer" for s in trace) and any(s.name == ASK_RPC for s in trace)

    trace = _trace_of(observed_stack.wait_for_spans(complete), route=ASK_ROUTE, unit=indexed_unit)

    http = _one(trace, service="trolyao-gateway", kind="SERVER", name=ASK_ROUTE)
    call = _one(trace, service="trolyao-gateway", kind="CLIENT", name=ASK_RPC)
    served = _one(trace, service="trolyao-retrieval", kind="SERVER", name=ASK_RPC)
    answer = _one(trace, service="trolyao-retrieval", name="answer")
    searches = [span for span in trace if span.name.startswith("vector_store.search_")]

    assert call.parent_span_id == http.span_id
    assert served.parent_span_id == call.span_id
    assert answer.parent_span_id == served.span_id
    assert searches and all(span.parent_span_id == answer.span_id for span in searches)
    assert answer.attributes["trolyao.unit"] == indexed_unit
    assert answer.attributes["trolyao.answer.answered"] == reply.json()["answered"]
    _assert_no_content(trace, QUESTION, "Thời hạn cấp giấy phép")


def _ask_outcomes(metrics_text: str, unit: str) -> dict[str, float]:
    counts = {"answered": 0.0, "abstained": 0.0}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != ASK_OUTCOMES:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("unit") == unit:
                counts[sample.labels["outcome"]] += sample.value
    return counts


def test_answer_rate_counters_change_after_asks(client: httpx.Client, indexed_unit: str) -> None:
    before = _ask_outcomes(client.get("/metrics", headers=METRICS_HEADERS).text, indexed_unit)
    outcomes = [
        client.post(f"/v1/units/{indexed_unit}/ask", json={"question": question}).json()["answered"]
        for question in (QUESTION, OFF_TOPIC_QUESTION, OFF_TOPIC_QUESTION)
    ]
    scrape = client.get("/metrics", headers=METRICS_HEADERS)
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    after = _ask_outcomes(scrape.text, indexed_unit)

    assert after["answered"] - before["answered"] == outcomes.count(True)
    assert after["abstained"] - before["abstained"] == outcomes.count(False)
    assert outcomes.count(False) >= 2, "an off-topic question must be abstained"
    assert 'http_target="/v1/units/{unit}/ask"' in scrape.text, "per-route request metrics"


def _samples(metrics_text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == name
    }


def test_retrieval_and_ingest_serve_their_metrics(observed_stack: ObservedStack, indexed_unit: str) -> None:
    retrieval = httpx.get(observed_stack.retrieval_metrics_url, timeout=10.0).text
    points = _samples(retrieval, "trolyao_vector_store_points")
    assert points.get((("unit", indexed_unit),), 0.0) >= 1.0
    assert "rpc_server_duration_seconds_count" in retrieval

    deadline = time.monotonic() + INDEX_TIMEOUT_SECONDS
    ingest = ""
    while time.monotonic() < deadline:
        ingest = httpx.get(observed_stack.ingest_metrics_url, timeout=10.0).text
        if "trolyao_ingest_pending" in ingest:
            break
        time.sleep(POLL_SECONDS)
    assert _samples(ingest, "trolyao_ingest_pending"), "ingest lag gauge"
    latency = _samples(ingest, "trolyao_ingest_event_to_searchable_duration_seconds_count")
    assert any(dict(labels).get("unit") == indexed_unit for labels in latency), latency


def _wait_for_sample(url: str, name: str, labels: tuple[tuple[str, str], ...]) -> float:
    deadline = time.monotonic() + INDEX_TIMEOUT_SECONDS
    samples: dict[tuple[tuple[str, str], ...], float] = {}
    while time.monotonic() < deadline:
        samples = _samples(httpx.get(url, timeout=10.0).text, name)
        if labels in samples:
            return samples[labels]
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{name}{dict(labels)} never appeared at {url}: {samples}")


async def _publish_poison(nats_url: str, unit: str) -> None:
    client = await connect(nats_url, name="observability-test")
    try:
        await client.jetstream().publish(upsert_subject(unit), b"{not json")
    finally:
        await client.close()


def test_lag_dead_letters_and_snapshot_age_are_visible_out_of_the_box(
    observed_stack: ObservedStack, client: httpx.Client
) -> None:
    """No metrics setting at all (issue 16): ingest and ops serve theirs on their default ports."""
    stack = observed_stack.stack
    assert "TELEMETRY_METRICS_PORT" not in " ".join(stack.extra_env)
    urls = stack.ports.metrics_urls()
    assert set(urls) == {"gateway", "retrieval", "ingest", "ops"}
    unit = unique_unit("obsdl")
    assert client.put(f"/v1/units/{unit}", json={"name": "Đơn vị thư chết"}).status_code == 201
    asyncio.run(_publish_poison(stack.nats_url, unit))
    assert _wait_for_sample(urls["ingest"], "trolyao_ingest_dead_letters", (("unit", unit),)) >= 1
    assert _samples(httpx.get(urls["ingest"], timeout=10.0).text, "trolyao_ingest_pending"), "ingest lag"
    assert client.post("/v1/snapshots", json={"unit": unit}).status_code == 201
    age = _wait_for_sample(urls["ops"], "trolyao_snapshot_age_seconds", (("scope", unit),))
    assert 0 <= age < INDEX_TIMEOUT_SECONDS


def test_log_records_carry_the_trace_id(observed_stack: ObservedStack, indexed_unit: str) -> None:
    trace = _trace_of(observed_stack.spans(), route=UPSERT_ROUTE, unit=indexed_unit)
    assert trace
    trace_id = trace[0].trace_id
    for service in ("gateway", "ingest", "retrieval"):
        log_text = observed_stack.stack.log_path(service).read_text(encoding="utf-8", errors="replace")
        assert f"trace_id={trace_id}" in log_text, f"{service}'s log has no record of the upload trace"
    ingest_log = observed_stack.stack.log_path("ingest").read_text(encoding="utf-8", errors="replace")
    assert SECRET_PHRASE not in ingest_log
