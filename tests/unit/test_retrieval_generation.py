"""The optional generative mode: grounded model answers are used, anything else falls back.

The model is `FakeChatEndpoint`, a real OpenAI-compatible HTTP server on 127.0.0.1 that replies
with scripted completions and records what it was asked; the engine runs over a real
EdgeVectorStore (lexical only) and calls it through the real `OpenAICompatibleGenerator`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from pydantic import ValidationError

from services.retrieval.adapters.generator_openai import OpenAICompatibleGenerator
from services.retrieval.adapters.vectorstore_edge import EdgeVectorStore
from services.retrieval.bootstrap import bootstrap, build_generator
from services.retrieval.domain.answering import AnswerEngine
from services.retrieval.domain.generation import ABSTENTION_TOKEN, FallbackReason, check_grounding
from services.retrieval.domain.model import Answer, GenerationPassage, StoredChunk
from services.retrieval.settings import RetrievalSettings
from tests.support import stored_chunk, unique_unit
from trolyao.conversions import chunk_to_proto, metadata_to_proto
from trolyao.documents import Chunk, DocumentMetadata
from trolyao.v1 import retrieval_pb2, retrieval_pb2_grpc

pytestmark = pytest.mark.timeout(30)

DENSE_DIMENSION = 4
MODEL = "qwen-test"
API_KEY = "sk-test"
SHORT_TIMEOUT_SECONDS = 0.3
SLOW_REPLY_SECONDS = 10.0
RPC_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.05

REPORT = (
    "Doanh thu năm 2023 của công ty đạt 120 tỷ đồng. Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng. "
    "Số lao động bình quân là 340 người."
)
DECREE = "Nghị định này có hiệu lực thi hành từ ngày 01 tháng 7 năm 2023."
DOCUMENTS: dict[str, tuple[DocumentMetadata, list[Chunk]]] = {
    "bao-cao-2023": (DocumentMetadata(title="Báo cáo tài chính năm 2023"), [Chunk(ordinal=0, text=REPORT)]),
    "nd-13-2023": (
        DocumentMetadata(title="Nghị định bảo vệ dữ liệu cá nhân", number="13/2023/NĐ-CP"),
        [Chunk(ordinal=1, path="Điều 43", text=DECREE)],
    ),
    "hoa-giai": (
        DocumentMetadata(title="Luật Hoà giải ở cơ sở"),
        [
            Chunk(
                ordinal=0,
                text="Hoà giải viên là người được bầu làm hoà giải viên để thực hiện hoạt động hoà giải "
                "ở cơ sở. Tổ hoà giải có từ 03 hoà giải viên trở lên.",
            )
        ],
    ),
}
QUESTION = "Lợi nhuận sau thuế năm 2023 của công ty là bao nhiêu?"
OUT_OF_SCOPE_QUESTION = "Giá vàng SJC hôm nay bao nhiêu một lượng?"
# Passage order the engine sends for QUESTION: the composed quote's passage, then the next best.
REPORT_PASSAGE, DECREE_PASSAGE = 1, 2


@dataclass
class FakeChatEndpoint:
    """An OpenAI-compatible `/v1/chat/completions` server on 127.0.0.1 with scripted replies.

    `content` is the next reply's text; `status` other than 200 answers an error; `delay` holds the
    reply back (released at `stop`, so no handler thread outlives the test). Every request body and
    its Authorization header are kept in `requests`.
    """

    content: str = ""
    status: int = 200
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    _release: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append(
                    {"path": self.path, "authorization": self.headers.get("Authorization"), "body": body}
                )
                if endpoint.delay:
                    endpoint._release.wait(endpoint.delay)
                reply = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": endpoint.content},
                            "finish_reason": "stop",
                        }
                    ],
                }
                payload = json.dumps(reply if endpoint.status == 200 else {"error": "boom"}).encode()
                try:
                    self.send_response(endpoint.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True
        ).start()

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _stored(unit: str) -> list[StoredChunk]:
    return [
        stored_chunk(unit, document_id, chunk, metadata)
        for document_id, (metadata, chunks) in DOCUMENTS.items()
        for chunk in chunks
    ]


@pytest.fixture
def chat() -> Iterator[FakeChatEndpoint]:
    endpoint = FakeChatEndpoint()
    endpoint.start()
    yield endpoint
    endpoint.stop()


@dataclass
class Engines:
    """The same index answered twice: extractive only, and with the generative mode on."""

    unit: str
    extractive: AnswerEngine
    generative: AnswerEngine


@pytest.fixture
def engines(tmp_path: Path, chat: FakeChatEndpoint) -> Iterator[Engines]:
    store = EdgeVectorStore(tmp_path / "store", dense_dimension=DENSE_DIMENSION)
    generator = OpenAICompatibleGenerator(chat.url, MODEL, API_KEY, timeout=SHORT_TIMEOUT_SECONDS)
    unit = unique_unit("gen")
    built = Engines(unit, AnswerEngine(store, None), AnswerEngine(store, None, generator=generator))
    chunks = _stored(unit)
    store.upsert_chunks(unit, chunks)
    for engine in (built.extractive, built.generative):
        engine.on_document_changed(unit, added=chunks)
    yield built
    generator.close()
    store.close()


def _fallback_reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        str(getattr(record, "reason", ""))
        for record in caplog.records
        if record.getMessage() == "answer.generation_fallback"
    ]


def _assert_fell_back(answer: Answer, extractive: Answer) -> None:
    assert answer.answered
    assert answer.source == "extractive"
    assert answer.text == extractive.text
    assert answer.citations == extractive.citations
    assert answer.signals["generation_fallback"] == 1.0


def test_grounded_answer_is_used_and_its_citations_follow_the_markers(
    engines: Engines, chat: FakeChatEndpoint
) -> None:
    chat.content = (
        f"Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [{REPORT_PASSAGE}]. "
        f"Theo Điều 43, nghị định này có hiệu lực thi hành từ ngày 01 tháng 7 năm 2023 [{DECREE_PASSAGE}]."
    )
    answer = engines.generative.ask(engines.unit, QUESTION)
    extractive = engines.extractive.ask(engines.unit, QUESTION)
    assert answer.answered
    assert answer.source == "generative"
    assert answer.text == chat.content.replace(f"[{REPORT_PASSAGE}]", "[1]").replace(
        f"[{DECREE_PASSAGE}]", "[2]"
    )
    assert [(c.document_id, c.path) for c in answer.citations[:2]] == [
        ("bao-cao-2023", ""),
        ("nd-13-2023", "Điều 43"),
    ]
    assert answer.confidence == extractive.confidence
    assert answer.signals["generation_used"] == 1.0
    assert answer.signals["generation_quoted_share"] >= 0.85


def test_citations_are_reordered_to_the_cited_passages(engines: Engines, chat: FakeChatEndpoint) -> None:
    chat.content = f"Nghị định này có hiệu lực thi hành từ ngày 01 tháng 7 năm 2023 [{DECREE_PASSAGE}]."
    answer = engines.generative.ask(engines.unit, QUESTION)
    assert answer.source == "generative"
    assert answer.text == "Nghị định này có hiệu lực thi hành từ ngày 01 tháng 7 năm 2023 [1]."
    assert answer.citations[0].document_id == "nd-13-2023"
    assert answer.citations[0].snippet == DECREE
    assert "bao-cao-2023" in {c.document_id for c in answer.citations[1:]}


def test_invented_sentence_falls_back_to_the_extractive_answer(
    engines: Engines, chat: FakeChatEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    chat.content = (
        f"Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [{REPORT_PASSAGE}]. "
        f"Công ty sẽ chia cổ tức 30% cho mọi cổ đông vào quý sau [{REPORT_PASSAGE}]."
    )
    with caplog.at_level(logging.WARNING, logger="services.retrieval.domain.generation"):
        answer = engines.generative.ask(engines.unit, QUESTION)
    _assert_fell_back(answer, engines.extractive.ask(engines.unit, QUESTION))
    assert _fallback_reasons(caplog) == [FallbackReason.UNGROUNDED]


def test_sentence_quoted_from_a_passage_it_does_not_cite_falls_back(
    engines: Engines, chat: FakeChatEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    chat.content = f"Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [{DECREE_PASSAGE}]."
    with caplog.at_level(logging.WARNING, logger="services.retrieval.domain.generation"):
        answer = engines.generative.ask(engines.unit, QUESTION)
    _assert_fell_back(answer, engines.extractive.ask(engines.unit, QUESTION))
    assert _fallback_reasons(caplog) == [FallbackReason.UNGROUNDED]


def test_marker_of_a_passage_that_was_not_shown_falls_back(
    engines: Engines, chat: FakeChatEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    chat.content = "Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [7]."
    with caplog.at_level(logging.WARNING, logger="services.retrieval.domain.generation"):
        answer = engines.generative.ask(engines.unit, QUESTION)
    _assert_fell_back(answer, engines.extractive.ask(engines.unit, QUESTION))
    assert _fallback_reasons(caplog) == [FallbackReason.UNKNOWN_PASSAGE]


@pytest.mark.parametrize(
    ("status", "delay"), [(500, 0.0), (200, SLOW_REPLY_SECONDS)], ids=["server-error", "timeout"]
)
def test_endpoint_failure_or_timeout_falls_back(
    engines: Engines,
    chat: FakeChatEndpoint,
    caplog: pytest.LogCaptureFixture,
    status: int,
    delay: float,
) -> None:
    chat.content = f"Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [{REPORT_PASSAGE}]."
    chat.status, chat.delay = status, delay
    with caplog.at_level(logging.WARNING, logger="services.retrieval.domain.generation"):
        answer = engines.generative.ask(engines.unit, QUESTION)
    _assert_fell_back(answer, engines.extractive.ask(engines.unit, QUESTION))
    assert _fallback_reasons(caplog) == [FallbackReason.GENERATOR_FAILED]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (ABSTENTION_TOKEN, FallbackReason.MODEL_ABSTAINED),
        ("", FallbackReason.EMPTY),
        ("Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng.", FallbackReason.UNCITED_TEXT),
        ("Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [1]. " * 30, FallbackReason.TOO_LONG),
    ],
    ids=["abstention-token", "empty", "no-marker", "over-length"],
)
def test_unusable_reply_falls_back(
    engines: Engines,
    chat: FakeChatEndpoint,
    caplog: pytest.LogCaptureFixture,
    content: str,
    reason: FallbackReason,
) -> None:
    chat.content = content
    with caplog.at_level(logging.WARNING, logger="services.retrieval.domain.generation"):
        answer = engines.generative.ask(engines.unit, QUESTION)
    _assert_fell_back(answer, engines.extractive.ask(engines.unit, QUESTION))
    assert _fallback_reasons(caplog) == [reason]


def test_request_carries_the_question_and_the_numbered_passages(
    engines: Engines, chat: FakeChatEndpoint
) -> None:
    chat.content = ABSTENTION_TOKEN
    engines.generative.ask(engines.unit, QUESTION)
    [request] = chat.requests
    body = request["body"]
    assert request["path"] == "/v1/chat/completions"
    assert request["authorization"] == f"Bearer {API_KEY}"
    assert body["model"] == MODEL
    assert body["temperature"] == 0
    assert body["max_tokens"] > 0
    system, user = body["messages"]
    assert system["role"] == "system"
    assert ABSTENTION_TOKEN in system["content"]
    assert "trích nguyên văn" in system["content"]
    assert user["role"] == "user"
    assert QUESTION in user["content"]
    assert f"[{REPORT_PASSAGE}] «Báo cáo tài chính năm 2023»\n{REPORT}" in user["content"]
    decree_heading = f"[{DECREE_PASSAGE}] «Nghị định bảo vệ dữ liệu cá nhân» (13/2023/NĐ-CP, Điều 43)"
    assert f"{decree_heading}\n{DECREE}" in user["content"]


def test_abstention_stays_with_the_verifier(engines: Engines, chat: FakeChatEndpoint) -> None:
    chat.content = f"Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [{REPORT_PASSAGE}]."
    answer = engines.generative.ask(engines.unit, OUT_OF_SCOPE_QUESTION)
    assert not answer.answered
    assert answer.source == "none"
    assert chat.requests == []


PASSAGES = [
    GenerationPassage(number=1, text=REPORT, title="Báo cáo tài chính năm 2023"),
    GenerationPassage(
        number=2,
        text=DECREE,
        title="Nghị định bảo vệ dữ liệu cá nhân",
        document_number="13/2023/NĐ-CP",
        path="Điều 43",
    ),
]


@pytest.mark.parametrize(
    "text",
    [
        "Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [1].",
        "Loi nhuan sau thue nam 2023 dat 15 ty dong [1].",
        "Theo Điều 43, nghị định này có hiệu lực thi hành từ ngày 01 tháng 7 năm 2023 [2].",
        "Doanh thu năm 2023 của công ty đạt 120 tỷ đồng [1]. Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [1].",
        "Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng. [1][2]",
        "Doanh thu đạt 120 tỷ đồng, lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [1, 2].",
        "[2] Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [1].",
    ],
    ids=[
        "verbatim",
        "unaccented",
        "connective-and-path",
        "two-sentences",
        "markers-after-stop",
        "list-marker",
        "leading-marker",
    ],
)
def test_grounding_rule_accepts_quotes(text: str) -> None:
    check = check_grounding(text, PASSAGES)
    assert check.failure is None, check


@pytest.mark.parametrize(
    "text",
    [
        "Lợi nhuận của công ty tăng mạnh nhờ doanh thu năm 2023 [1].",
        "Doanh thu năm 2023 của công ty đạt 150 tỷ đồng theo báo cáo [1].",
        "Có [1].",
        "Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [1]. Nghị định có hiệu lực ngay [2].",
        "[2] Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [2].",
    ],
    ids=["recombined-words", "changed-amount", "short-unquoted", "one-bad-sentence", "wrong-passage"],
)
def test_grounding_rule_rejects_what_is_not_quoted(text: str) -> None:
    assert check_grounding(text, PASSAGES).failure is FallbackReason.UNGROUNDED


def test_every_marker_is_checked_wherever_it_stands() -> None:
    for text in (
        "[9] Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [1].",
        "Lợi nhuận sau thuế năm 2023 [1]. [0]",
    ):
        assert check_grounding(text, PASSAGES).failure is FallbackReason.UNKNOWN_PASSAGE


@pytest.mark.parametrize(
    "text",
    [
        "Doanh thu năm 2023 của công ty không đạt 120 tỷ đồng [1].",
        "Doanh thu năm 2022 của công ty đạt 120 tỷ đồng [1].",
    ],
    ids=["inserted-negation", "changed-year"],
)
def test_one_changed_number_or_negation_is_rejected_despite_a_high_quoted_share(text: str) -> None:
    check = check_grounding(text, PASSAGES)
    assert check.failure is FallbackReason.UNGROUNDED
    assert check.quoted_share >= 0.85


def test_generative_mode_is_off_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("GENERATOR", "GENERATOR_URL", "GENERATOR_MODEL"):
        monkeypatch.delenv(f"TROLYAO_RETRIEVAL_{name}", raising=False)
    settings = RetrievalSettings(data_dir=tmp_path)
    assert settings.generator == "none"
    assert build_generator(settings) is None
    monkeypatch.setenv("TROLYAO_RETRIEVAL_GENERATOR", "openai")
    with pytest.raises(ValidationError, match="GENERATOR_URL"):
        RetrievalSettings(data_dir=tmp_path)


def test_env_configuration_turns_generation_on_through_the_grpc_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, chat: FakeChatEndpoint
) -> None:
    monkeypatch.setenv("TROLYAO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TROLYAO_RETRIEVAL_LISTEN", "127.0.0.1:0")
    monkeypatch.setenv("TROLYAO_RETRIEVAL_EMBEDDER", "none")
    monkeypatch.setenv("TROLYAO_RETRIEVAL_GENERATOR", "openai")
    monkeypatch.setenv("TROLYAO_RETRIEVAL_GENERATOR_URL", chat.url + "/v1")
    monkeypatch.setenv("TROLYAO_RETRIEVAL_GENERATOR_MODEL", MODEL)
    chat.content = f"Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [{REPORT_PASSAGE}]."
    app = bootstrap(RetrievalSettings())
    port = app.start()
    unit = unique_unit("gen")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
            for document_id, (metadata, chunks) in DOCUMENTS.items():
                stub.IndexDocument(
                    retrieval_pb2.IndexDocumentRequest(
                        unit=unit,
                        document_id=document_id,
                        version=1,
                        content_hash=document_id,
                        metadata=metadata_to_proto(metadata),
                        chunks=[chunk_to_proto(chunk) for chunk in chunks],
                    ),
                    timeout=RPC_TIMEOUT_SECONDS,
                )
            reply = stub.Ask(
                retrieval_pb2.AskRequest(unit=unit, question=QUESTION), timeout=RPC_TIMEOUT_SECONDS
            )
    finally:
        app.stop(grace=0.5)
    assert reply.answered
    assert reply.answer_source == "generative"
    assert reply.answer == "Lợi nhuận sau thuế năm 2023 đạt 15 tỷ đồng [1]."
    assert reply.citations[0].document_id == "bao-cao-2023"
    assert chat.requests[0]["authorization"] is None
