"""`make eval`: answer quality on real Vietnamese QA data, measured through the product itself.

For each set folder (`corpus.jsonl` + `questions.jsonl`, format in ../shared/eval/README.md): a
fresh unit is created through the gateway, the corpus goes in through the ingest events (the same
path a unit's own system uses), every question is asked through `POST /v1/units/{unit}/ask`, and
the README's metrics are printed (table) and written (JSON): the headline is the concise
answered-correct rate (correct *and* at most 400 characters), with the 1,000-character figure, the
answer length (p50 / p90) and the rest beside it; every question is asked a second time with its
diacritics removed and the same metrics are reported under `unaccented`. For the legal sets the
derived "abstention under gold removal" is measured on a fixed sample of questions, in a second
unit that holds the corpus without those questions' gold documents.

Figures are held out: the engine's fitted weights (the answer verifier; with an embedder also the
reranker) are fitted on the dev questions of several of these sets, so each set is asked in its own
private stack whose retrieval runs the weights fitted *without* that set's questions
(`TROLYAO_RETRIEVAL_VERIFIER_VARIANT=without-<set>`, leave-one-set-out fits shipped by
`scripts/fit_verifier.py` in `services/retrieval/fitted/`). A set for which no such fit exists is
labelled "in-sample" in the table (today: the hybrid engine, whose reranker and verifier were not
refitted leave-one-set-out).

Only the dev questions are read; `heldout.enc` is never touched.
"""

from __future__ import annotations

import asyncio
import json
import platform
import random
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from services.ingest.entrypoints.operator_commands import ImportItem, bulk_import
from services.retrieval.domain.verifier import HELD_OUT_PREFIX, is_held_out
from services.retrieval.fitted import reranker as reranker_weights
from trolyao.vietnamese import fold_diacritics

MAX_ANSWER_CHARS = 1000
CONCISE_ANSWER_CHARS = 400
LEGAL_SETS = frozenset({"alqac-2022", "alqac-2025"})
GOLD_REMOVAL_SAMPLE = 100
GOLD_REMOVAL_SEED = 2026
ASK_CONCURRENCY = 4
ASK_TIMEOUT_SECONDS = 60.0
MRR_DEPTH = 10
HTTP_UNPROCESSABLE = 422


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    question: str
    gold_ids: tuple[str, ...]
    answers: tuple[str, ...]
    kind: str


@dataclass(frozen=True, slots=True)
class Asked:
    question: Question
    answered: bool
    answer: str
    citations: tuple[str, ...]
    latency_ms: float
    refused: bool = False


HELD_OUT = "ngoài mẫu"
IN_SAMPLE = "trong mẫu"
WEIGHTS_LEGEND = (
    f"trọng số: {HELD_OUT} = held out (every fitted weight the engine ran was fitted without this "
    f"set's questions, leave-one-set-out); {IN_SAMPLE} = in-sample (some were fitted on them)"
)


def is_held_out_run(set_name: str, embedder: str) -> bool:
    """Whether every fitted weight the engine runs for `set_name` was fitted without its questions."""
    hybrid = embedder != "none"
    verifier_held_out = is_held_out(hybrid=hybrid, set_name=set_name)
    reranker_held_out = not hybrid or set_name not in reranker_weights.FITTED_SETS
    return verifier_held_out and reranker_held_out


def held_out_environment(set_name: str, embedder: str) -> dict[str, str]:
    """The retrieval setting that answers `set_name` with weights fitted without its questions."""
    if not is_held_out(hybrid=embedder != "none", set_name=set_name):
        return {}  # no leave-one-set-out fit for this engine: the run is labelled in-sample
    return {"TROLYAO_RETRIEVAL_VERIFIER_VARIANT": HELD_OUT_PREFIX + set_name}


@dataclass
class SetReport:
    name: str
    documents: int
    questions: int
    ingest_seconds: float
    # HELD_OUT when no weight the engine ran was fitted on this set's questions, else IN_SAMPLE.
    weights: str = HELD_OUT
    metrics: dict[str, float | int | None] = field(default_factory=dict)
    # The same questions typed without diacritics.
    unaccented: dict[str, float | int | None] = field(default_factory=dict)


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def load_questions(path: Path) -> list[Question]:
    return [
        Question(
            id=str(row["id"]),
            question=str(row["question"]),
            gold_ids=tuple(str(gold) for gold in row.get("gold_ids", [])),
            answers=tuple(str(answer) for answer in row.get("answers", [])),
            kind=str(row.get("kind", "span")),
        )
        for row in load_jsonl(path)
    ]


def normalised(text: str) -> str:
    """The README's comparison form: NFC, lower-case, white space collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def is_answerable(question: Question) -> bool:
    return question.kind == "faq" or (question.kind == "span" and bool(question.answers))


def is_correct(asked: Asked) -> bool | None:
    """Correctness per the README's kinds; None for kinds that only score retrieval."""
    question = asked.question
    if question.kind == "span":
        if not question.answers:
            return not asked.answered
        if not asked.answered or len(asked.answer) > MAX_ANSWER_CHARS:
            return False
        text = normalised(asked.answer)
        return any(normalised(answer) in text for answer in question.answers)
    if question.kind == "faq":
        return asked.answered and bool(asked.citations) and asked.citations[0] in question.gold_ids
    return None


def gold_rank(asked: Asked) -> int | None:
    for rank, document_id in enumerate(asked.citations, start=1):
        if document_id in asked.question.gold_ids:
            return rank
    return None


def percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def metrics(asked: Sequence[Asked]) -> dict[str, float | int | None]:
    """The README's metrics over one set's questions."""
    answerable = [a for a in asked if is_answerable(a.question)]
    unanswerable = [a for a in asked if a.question.kind == "span" and not a.question.answers]
    answered = [a for a in asked if a.answered and is_correct(a) is not None]
    with_gold = [a for a in asked if a.question.gold_ids]
    ranks = [gold_rank(a) for a in with_gold]
    latencies = [a.latency_ms for a in asked]
    correct_answerable = sum(1 for a in answerable if is_correct(a))
    concise_answerable = sum(
        1 for a in answerable if is_correct(a) and len(a.answer) <= CONCISE_ANSWER_CHARS
    )
    wrong_answered = sum(1 for a in answered if not is_correct(a))
    lengths = [float(len(a.answer)) for a in asked if a.answered]
    return {
        "answerable": len(answerable),
        "concise_answered_correct_rate": _rate(concise_answerable, len(answerable)),
        "answered_correct_rate": _rate(correct_answerable, len(answerable)),
        "answer_chars_p50": percentile(lengths, 0.5),
        "answer_chars_p90": percentile(lengths, 0.9),
        "wrong_answer_rate": _rate(wrong_answered, len(answered)),
        "answered_rate": _rate(sum(1 for a in answerable if a.answered), len(answerable)),
        "unanswerable": len(unanswerable),
        "abstention_on_unanswerable": _rate(
            sum(1 for a in unanswerable if not a.answered), len(unanswerable)
        ),
        "recall_at_1": _rate(sum(1 for r in ranks if r is not None and r <= 1), len(with_gold)),
        "recall_at_5": _rate(sum(1 for r in ranks if r is not None and r <= 5), len(with_gold)),
        "mrr_at_10": round(
            sum(1.0 / r for r in ranks if r is not None and r <= MRR_DEPTH) / len(with_gold), 4
        )
        if with_gold
        else None,
        "refused_by_api": sum(1 for a in asked if a.refused),
        "latency_p50_ms": percentile(latencies, 0.5),
        "latency_p95_ms": percentile(latencies, 0.95),
    }


class GatewayClient:
    """The public API, as the evaluation uses it."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=ASK_TIMEOUT_SECONDS,
        )

    async def create_unit(self, unit: str, name: str) -> None:
        reply = await self._http.put(f"/v1/units/{unit}", json={"name": name})
        reply.raise_for_status()

    async def ask(self, unit: str, question: Question, *, unaccented: bool = False) -> Asked:
        """Ask one question (`unaccented`: typed without diacritics, as many users do)."""
        text = fold_diacritics(question.question) if unaccented else question.question
        started = time.perf_counter()
        reply = await self._http.post(f"/v1/units/{unit}/ask", json={"question": text})
        latency = (time.perf_counter() - started) * 1000
        if reply.status_code == HTTP_UNPROCESSABLE:
            # The API refused the question itself (e.g. an empty one in the data): not answered.
            return Asked(
                question=question,
                answered=False,
                answer="",
                citations=(),
                latency_ms=round(latency, 1),
                refused=True,
            )
        reply.raise_for_status()
        body = reply.json()
        return Asked(
            question=question,
            answered=bool(body["answered"]),
            answer=str(body.get("answer", "")),
            citations=tuple(str(citation["document_id"]) for citation in body.get("citations", [])),
            latency_ms=round(latency, 1),
        )

    async def ask_all(
        self, unit: str, questions: Sequence[Question], *, unaccented: bool = False
    ) -> list[Asked]:
        semaphore = asyncio.Semaphore(ASK_CONCURRENCY)

        async def one(question: Question) -> Asked:
            async with semaphore:
                return await self.ask(unit, question, unaccented=unaccented)

        return list(await asyncio.gather(*(one(question) for question in questions)))

    async def close(self) -> None:
        await self._http.aclose()


def corpus_import_items(rows: Sequence[dict[str, Any]]) -> list[ImportItem]:
    return [
        ImportItem(document_id=str(row["id"]), title=str(row.get("title", "")), text=str(row["text"]))
        for row in rows
    ]


async def evaluate_set(
    folder: Path,
    *,
    gateway: GatewayClient,
    nats_url: str,
    run_id: str,
    question_limit: int | None = None,
    show_progress: bool = True,
    embedder: str = "none",
) -> SetReport:
    """Ingest one set into a fresh unit through the events, ask every question, compute metrics."""
    name = folder.name
    corpus = load_jsonl(folder / "corpus.jsonl")
    questions = load_questions(folder / "questions.jsonl")[:question_limit]
    unit = f"eval-{name.lower().replace('_', '-')}-{run_id}"[:63].rstrip("-")
    await gateway.create_unit(unit, f"Đánh giá {name}")
    imported = await bulk_import(
        nats_url, unit, corpus_import_items(corpus), source="eval", show_progress=show_progress
    )
    report = SetReport(
        name=name,
        documents=len(corpus),
        questions=len(questions),
        ingest_seconds=round(imported.seconds, 1),
        weights=HELD_OUT if is_held_out_run(name, embedder) else IN_SAMPLE,
    )
    asked = await gateway.ask_all(unit, questions)
    report.metrics = metrics(asked)
    report.metrics["ingest_failed"] = len(imported.failed)
    report.unaccented = metrics(await gateway.ask_all(unit, questions, unaccented=True))
    if name in LEGAL_SETS:
        report.metrics.update(
            await _abstention_under_gold_removal(
                corpus,
                questions,
                gateway=gateway,
                nats_url=nats_url,
                unit=f"{unit[:56]}-nogold",
                show_progress=show_progress,
            )
        )
    return report


async def _abstention_under_gold_removal(
    corpus: Sequence[dict[str, Any]],
    questions: Sequence[Question],
    *,
    gateway: GatewayClient,
    nats_url: str,
    unit: str,
    show_progress: bool,
) -> dict[str, float | int | None]:
    """Derived metric: without a question's gold documents, the assistant should abstain."""
    candidates = [question for question in questions if question.gold_ids]
    sample = random.Random(GOLD_REMOVAL_SEED).sample(candidates, min(GOLD_REMOVAL_SAMPLE, len(candidates)))
    removed = {gold for question in sample for gold in question.gold_ids}
    await gateway.create_unit(unit, "Đánh giá: bỏ văn bản đúng")
    remaining = [row for row in corpus if str(row["id"]) not in removed]
    await bulk_import(
        nats_url, unit, corpus_import_items(remaining), source="eval", show_progress=show_progress
    )
    asked = await gateway.ask_all(unit, sample)
    return {
        "gold_removal_sample": len(sample),
        "abstention_under_gold_removal": _rate(sum(1 for a in asked if not a.answered), len(sample)),
    }


def machine_description() -> dict[str, str]:
    import os

    return {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


COLUMNS = (
    ("concise_answered_correct_rate", "đúng ≤400"),
    ("answered_correct_rate", "đúng ≤1000"),
    ("wrong_answer_rate", "sai"),
    ("abstention_on_unanswerable", "từ chối (không có đáp án)"),
    ("abstention_under_gold_removal", "từ chối (bỏ văn bản đúng)"),
    ("recall_at_1", "R@1"),
    ("recall_at_5", "R@5"),
    ("mrr_at_10", "MRR@10"),
    ("answer_chars_p50", "ký tự p50"),
    ("answer_chars_p90", "ký tự p90"),
    ("unaccented:concise_answered_correct_rate", "không dấu: đúng ≤400"),
    ("unaccented:wrong_answer_rate", "không dấu: sai"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p95_ms", "p95 ms"),
)


def render_table(reports: Sequence[SetReport]) -> str:
    header = ["set", "trọng số", "docs", "questions", *(label for _, label in COLUMNS)]
    rows = [header]
    for report in reports:
        cells = [report.name, report.weights, str(report.documents), str(report.questions)]
        for key, _ in COLUMNS:
            source, _, name = key.rpartition(":")
            value = (report.unaccented if source else report.metrics).get(name)
            cells.append(
                "—"
                if value is None
                else (f"{value:.3f}" if isinstance(value, float) and value <= 1 else str(value))
            )
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def write_results(reports: Sequence[SetReport], output: Path, *, settings: dict[str, str]) -> Path:
    output.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = output / f"eval-{stamp}.json"
    path.write_text(
        json.dumps(
            {
                "created_at": stamp,
                "machine": machine_description(),
                "settings": settings,
                "sets": [asdict(report) for report in reports],
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    return path
