"""The telemetry kernel in one process, with OpenTelemetry's in-memory span exporter and metric reader.

NATS header propagation against the real nats-server, gRPC context propagation through the
interceptors `trolyao.rpc` installs (sync and asyncio, client and server), content kept out of
spans, the ask-outcome and snapshot-age metrics, trace ids in every log record, and settings.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import time
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
import nats
import pytest
from nats.js.api import StreamConfig
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from pydantic import ValidationError

from services.gateway.settings import GatewaySettings
from services.ingest.settings import IngestSettings
from services.ops.settings import OpsSettings
from services.retrieval.adapters.telemetry import SEARCH_METHODS, TracedAnswering
from services.retrieval.domain.model import Answer
from services.retrieval.settings import RetrievalSettings
from stack.launcher import StackPorts
from trolyao import logs
from trolyao.messaging import subject_template
from trolyao.rpc import async_channel, build_async_server, build_sync_server, sync_channel
from trolyao.settings import DEFAULT_METRICS_PORTS, CommonSettings
from trolyao.telemetry import Telemetry, configure_telemetry, record_ask_outcome, record_snapshot_taken
from trolyao.telemetry.component_tracing import traced_component
from trolyao.telemetry.event_tracing import consume_span, uninstrument_jetstream_publish
from trolyao.v1 import retrieval_pb2

pytestmark = pytest.mark.timeout(60)

ECHO_SERVICE = "trolyao.test.Echo"
ECHO_METHOD = f"/{ECHO_SERVICE}/Say"
SNAPSHOT_AGE_SECONDS = 120.0
AGE_TOLERANCE_SECONDS = 5.0

# The spans must survive the service-token check (trolyao/service_auth.py) around them.
SERVICE_TOKEN = "telemetry-test-token"


@pytest.fixture(scope="module")
def telemetry() -> Iterator[Telemetry]:
    """This test process's telemetry, in memory (configured once: OpenTelemetry is process-wide)."""
    handle = configure_telemetry(
        service="observability-tests",
        settings=CommonSettings(telemetry_traces_exporter="memory", telemetry_metrics_exporter="memory"),
    )
    if handle.memory_spans is None or handle.memory_metrics is None:
        pytest.skip("telemetry was configured earlier in this process without in-memory exporters")
    yield handle
    uninstrument_jetstream_publish()
    handle.shutdown()


def finished(telemetry: Telemetry) -> Sequence[ReadableSpan]:
    assert telemetry.memory_spans is not None
    return telemetry.memory_spans.get_finished_spans()


def metric_points(telemetry: Telemetry, name: str) -> list[Any]:
    assert telemetry.memory_metrics is not None
    data = telemetry.memory_metrics.get_metrics_data()
    return [
        point
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


# --------------------------------------------------------------------------- NATS


def test_subject_templates_name_the_unit_without_one_name_per_unit() -> None:
    assert subject_template("docs.cuc-bao-chi.upsert") == ("docs.{unit}.upsert", "cuc-bao-chi")
    assert subject_template("deadletter.docs.vu-phap-che") == ("deadletter.docs.{unit}", "vu-phap-che")
    assert subject_template("questions.u1.q-1") == ("questions.{unit}.{question_id}", "u1")
    assert subject_template("$KV.units.u1") == ("$KV.units.u1", None)


def test_trace_context_crosses_nats_in_the_headers(telemetry: Telemetry, nats_server: str) -> None:
    suffix = secrets.token_hex(4)
    subject = f"obs-{suffix}.events"

    async def scenario() -> tuple[dict[str, str], str, str]:
        client = await nats.connect(nats_server)
        try:
            js = client.jetstream()
            await js.add_stream(StreamConfig(name=f"OBS_{suffix}", subjects=[subject]))
            kv = await js.create_key_value(bucket=f"obs_{suffix}")
            tracer = trace.get_tracer("test")
            with tracer.start_as_current_span("request") as request:
                await js.publish(subject, b"{}", headers={"Nats-Msg-Id": suffix})
                await kv.put("key", b"value")
                request_trace = f"{request.get_span_context().trace_id:032x}"
            subscription = await js.pull_subscribe(subject, durable=f"obs_{suffix}")
            (message,) = await subscription.fetch(1, timeout=5)
            with consume_span(message, consumer="obs") as span:
                consumer_trace = f"{span.get_span_context().trace_id:032x}"
            await message.ack()
            return dict(message.headers or {}), request_trace, consumer_trace
        finally:
            await client.close()

    headers, request_trace, consumer_trace = asyncio.run(scenario())
    assert headers["Nats-Msg-Id"]
    assert headers["traceparent"].split("-")[1] == request_trace
    assert consumer_trace == request_trace

    spans = finished(telemetry)
    publish = [s for s in spans if s.name == f"publish {subject}"]
    process = [s for s in spans if s.name == f"process {subject}"]
    assert len(publish) == 1 and len(process) == 1
    assert publish[0].kind is trace.SpanKind.PRODUCER
    assert process[0].kind is trace.SpanKind.CONSUMER
    assert process[0].parent is not None and process[0].parent.span_id == publish[0].context.span_id
    assert not [s for s in spans if s.name.startswith("publish $")], "KV writes are not traced"


# --------------------------------------------------------------------------- gRPC


def _echo_unit(request: retrieval_pb2.AskRequest, _context: object) -> retrieval_pb2.AskResponse:
    return retrieval_pb2.AskResponse(answered=True, answer=request.unit)


def _echo_handler(behavior: Any) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        ECHO_SERVICE,
        {
            "Say": grpc.unary_unary_rpc_method_handler(
                behavior,
                request_deserializer=retrieval_pb2.AskRequest.FromString,
                response_serializer=retrieval_pb2.AskResponse.SerializeToString,
            )
        },
    )


def _client_and_server(spans: Sequence[ReadableSpan], unit: str) -> tuple[ReadableSpan, ReadableSpan]:
    mine = [
        s
        for s in spans
        if s.name == ECHO_METHOD and s.attributes and s.attributes.get("trolyao.unit") == unit
    ]
    client = [s for s in mine if s.kind is trace.SpanKind.CLIENT]
    server = [s for s in mine if s.kind is trace.SpanKind.SERVER]
    assert len(client) == 1 and len(server) == 1, [s.name for s in mine]
    return client[0], server[0]


def test_sync_grpc_server_continues_the_callers_trace(telemetry: Telemetry) -> None:
    unit = f"sync-{secrets.token_hex(3)}"
    server, _health, port = build_sync_server(
        listen="127.0.0.1:0",
        register=lambda s: s.add_generic_rpc_handlers((_echo_handler(_echo_unit),)),
        service_names=[],
        service_token=SERVICE_TOKEN,
        max_workers=2,
    )
    server.start()
    try:
        channel = sync_channel(f"127.0.0.1:{port}", service_token=SERVICE_TOKEN)
        call = channel.unary_unary(
            ECHO_METHOD,
            request_serializer=retrieval_pb2.AskRequest.SerializeToString,
            response_deserializer=retrieval_pb2.AskResponse.FromString,
        )
        assert call(retrieval_pb2.AskRequest(unit=unit, question="?"), timeout=5).answer == unit
        channel.close()
    finally:
        server.stop(0)
    client, served = _client_and_server(finished(telemetry), unit)
    assert served.parent is not None and served.parent.span_id == client.context.span_id
    assert served.context.trace_id == client.context.trace_id


def test_async_grpc_server_continues_the_callers_trace_and_measures_calls(telemetry: Telemetry) -> None:
    unit = f"aio-{secrets.token_hex(3)}"

    async def echo(request: retrieval_pb2.AskRequest, context: object) -> retrieval_pb2.AskResponse:
        return _echo_unit(request, context)

    async def scenario() -> None:
        server, _health, port = await build_async_server(
            listen="127.0.0.1:0",
            register=lambda s: s.add_generic_rpc_handlers((_echo_handler(echo),)),
            service_names=[],
            service_token=SERVICE_TOKEN,
        )
        await server.start()
        channel = async_channel(f"127.0.0.1:{port}", service_token=SERVICE_TOKEN)
        try:
            call = channel.unary_unary(
                ECHO_METHOD,
                request_serializer=retrieval_pb2.AskRequest.SerializeToString,
                response_deserializer=retrieval_pb2.AskResponse.FromString,
            )
            reply = await call(retrieval_pb2.AskRequest(unit=unit, question="?"), timeout=5)
            assert reply.answer == unit
        finally:
            await channel.close()
            await server.stop(0)

    asyncio.run(scenario())
    client, served = _client_and_server(finished(telemetry), unit)
    assert served.parent is not None and served.parent.span_id == client.context.span_id
    durations = [
        point
        for point in metric_points(telemetry, "rpc.server.duration")
        if point.attributes.get("rpc.service") == ECHO_SERVICE
    ]
    assert durations and all(point.attributes["rpc.grpc.status_code"] == "OK" for point in durations)


# --------------------------------------------------------------------------- retrieval spans


class _FakeEngine:
    def ask(
        self,
        unit: str,
        question: str,
        history: Sequence[tuple[str, str]] = (),
        *,
        abstain_below: float | None = None,
    ) -> Answer:
        return Answer(answered=True, text="30 ngày", confidence=0.9, source="extractive")

    def rebuild_unit_model(self, unit: str, chunks: object) -> str:
        return "forwarded"


class _FakeStore:
    def search_sparse(self, unit: str, vector: object, *, limit: int, kind: object = None) -> list[int]:
        return [1, 2]


def attributes_of(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_answer_span_records_the_outcome_and_keeps_the_question_out(telemetry: Telemetry) -> None:
    unit = f"ans-{secrets.token_hex(3)}"
    question = f"Câu hỏi bí mật {secrets.token_hex(3)}?"
    engine = TracedAnswering(_FakeEngine())
    store = traced_component(_FakeStore(), "vector_store", SEARCH_METHODS)

    engine.ask(unit, question)
    assert store.search_sparse(unit, {"secret": 1.0}, limit=5) == [1, 2]
    assert engine.rebuild_unit_model(unit, []) == "forwarded"
    telemetry.trace_content = True
    try:
        engine.ask(unit, question)
    finally:
        telemetry.trace_content = False

    spans = [(span, attributes_of(span)) for span in finished(telemetry)]
    answers = [found for span, found in spans if span.name == "answer" and found["trolyao.unit"] == unit]
    assert len(answers) == 2
    quiet, verbose = answers
    assert quiet["trolyao.answer.answered"] is True
    assert question not in str(quiet)
    assert verbose["trolyao.question.text"] == question
    (search,) = [
        found
        for span, found in spans
        if span.name == "vector_store.search_sparse" and found.get("trolyao.unit") == unit
    ]
    assert search["trolyao.results"] == 2 and search["trolyao.limit"] == 5
    assert "secret" not in str(search)


# --------------------------------------------------------------------------- metrics


def test_ask_outcomes_count_answered_and_abstained_per_unit(telemetry: Telemetry) -> None:
    unit = f"rate-{secrets.token_hex(3)}"
    for answered in (True, True, False):
        record_ask_outcome(
            unit=unit, answered=answered, source="extractive" if answered else "none", seconds=0.1
        )
    counts = {
        point.attributes["outcome"]: point.value
        for point in metric_points(telemetry, "trolyao.ask.outcomes")
        if point.attributes.get("unit") == unit
    }
    assert counts == {"answered": 2, "abstained": 1}


def test_snapshot_age_hook(telemetry: Telemetry) -> None:
    unit = f"snap-{secrets.token_hex(3)}"
    record_snapshot_taken(unit=unit, taken_at=time.time() - SNAPSHOT_AGE_SECONDS)
    (age,) = [
        p for p in metric_points(telemetry, "trolyao.snapshot.age") if p.attributes.get("scope") == unit
    ]
    assert SNAPSHOT_AGE_SECONDS <= age.value < SNAPSHOT_AGE_SECONDS + AGE_TOLERANCE_SECONDS


# --------------------------------------------------------------------------- logs and settings


def test_every_log_record_in_a_span_carries_trace_and_span_ids(telemetry: Telemetry) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        logs.configure_logging(service="observability-tests", log_format="json")
        stream = io.StringIO()
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
        with trace.get_tracer("test").start_as_current_span("work") as span:
            logs.get_logger("observability-tests").info("structured_record", unit="u1")
            logging.getLogger("some.library").warning("plain %s record", "stdlib")
        trace_id = f"{span.get_span_context().trace_id:032x}"
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert all(f'"trace_id": "{trace_id}"' in line and '"span_id": ' in line for line in lines)


def test_settings_take_standard_otel_names_and_reject_unknown_exporters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    settings = CommonSettings()
    assert settings.telemetry_traces_exporter == "otlp"
    assert settings.telemetry_otlp_protocol == "http/protobuf"
    assert settings.telemetry_metrics_exporter == "prometheus"
    assert settings.trace_content is False
    monkeypatch.setenv("TROLYAO_TELEMETRY_TRACES_EXPORTER", "console,memory")
    assert CommonSettings().telemetry_traces_exporter == "console,memory"
    monkeypatch.setenv("TROLYAO_TELEMETRY_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ValidationError, match="telemetry_traces_exporter"):
        CommonSettings()


def test_services_without_http_serve_metrics_on_distinct_default_ports() -> None:
    """Ingest lag, dead letters and snapshot age are visible with no setting (README lists the ports);
    `make run` and the test stacks move a taken default to a free port."""
    defaults = {
        "retrieval": RetrievalSettings.model_fields["telemetry_metrics_port"].default,
        "ingest": IngestSettings.model_fields["telemetry_metrics_port"].default,
        "ops": OpsSettings.model_fields["telemetry_metrics_port"].default,
        "gateway": GatewaySettings.model_fields["telemetry_metrics_port"].default,
    }
    assert defaults == DEFAULT_METRICS_PORTS and len(set(defaults.values())) == len(defaults)
    assert all(port > 0 for port in defaults.values())
    ports = StackPorts()
    assert ports.metrics_urls()["ingest"] == f"http://127.0.0.1:{DEFAULT_METRICS_PORTS['ingest']}/metrics"
    free = StackPorts.free()
    chosen = {free.retrieval_metrics, free.ingest_metrics, free.ops_metrics, free.gateway_metrics}
    chosen.add(free.gateway)
    assert len(chosen) == 5
