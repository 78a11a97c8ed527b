"""Fit the composer's sentence weights (which sentence of the top passages answers) on dev questions.

    .venv/bin/python scripts/fit_composer.py uit-regulation-qa alqac-2022 viquad2-1000 [--write]

For every answerable span question of each set, the engine ranks the unit's passages (lexical,
ingest's chunking, a real EdgeVectorStore as in `scripts/dev_eval.py`) and every sentence of the
top passages gets `SENTENCE_FEATURES`; a sentence is right when the answer quoted from it
(`composer.quote`) holds a gold answer within 400 characters. A listwise (softmax per question)
linear model is fitted leave-one-set-out: the printed figures are the held-out set's share of
questions whose top sentence is right, beside the hand-set weights' (`HEURISTIC_SENTENCE_WEIGHTS`,
what the engine uses) and beside the share where any sentence of the top passages is right.
Measured 2026-12-04 it did not beat the hand-set weights by more than 0.5 point on any held-out set
(docs/retrieval-quality.md), so no fitted composer weights ship. Dev questions only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from dev_eval import (
    CONCISE_ANSWER_CHARS,
    EVAL_ROOT,
    UNIT,
    build_store,
    lexical_engine,
    load_jsonl,
    normalised,
    stored_chunks,
)

from services.retrieval.domain.composer import (
    HEURISTIC_SENTENCE_WEIGHTS,
    SENTENCE_FEATURES,
    quote,
    score_sentences,
)

L2 = 0.05
STEPS = 400
LEARNING_RATE = 0.5

Group = tuple[np.ndarray, np.ndarray]  # sentence features (n × f), labels (n,)


def question_groups(name: str) -> list[Group]:
    """One (features, labels) group per answerable span question whose passages hold a right one."""
    folder = EVAL_ROOT / name
    questions = [q for q in load_jsonl(folder / "questions.jsonl") if q["kind"] == "span" and q["answers"]]
    documents = stored_chunks(load_jsonl(folder / "corpus.jsonl"), {}, None, "ingest")
    groups: list[Group] = []
    with tempfile.TemporaryDirectory(prefix="fit-composer-") as root:
        store = build_store("edge", Path(root), None)
        engine = lexical_engine(store, documents)
        for question in questions:
            candidates, query, text = engine.rank_passages(UNIT, question["question"])
            ranked = score_sentences(candidates, query.terms, text)
            if not ranked:
                continue
            gold = [normalised(a) for a in question["answers"]]
            labels = []
            for sentence in ranked:
                answer = quote(candidates, sentence, query.terms, budget=1000)
                right = len(answer) <= CONCISE_ANSWER_CHARS and any(g in normalised(answer) for g in gold)
                labels.append(1.0 if right else 0.0)
            x = np.array([[s.features.get(f, 0.0) for f in SENTENCE_FEATURES] for s in ranked])
            groups.append((x, np.array(labels)))
        store.close()
    return groups


def fit(groups: list[Group]) -> np.ndarray:
    """Softmax-per-question linear model (maximises the probability mass on right sentences)."""
    usable = [(x, y) for x, y in groups if 0 < y.sum() < len(y)]
    w = np.array([HEURISTIC_SENTENCE_WEIGHTS.get(f, 0.0) for f in SENTENCE_FEATURES])
    for _ in range(STEPS):
        gradient = L2 * w
        for x, y in usable:
            scores = x @ w
            p = np.exp(scores - scores.max())
            p /= p.sum()
            target = y / y.sum()
            gradient += x.T @ (p - target) / len(usable)
        w -= LEARNING_RATE * gradient
    return w


def top1(groups: list[Group], w: np.ndarray) -> float:
    """Share of questions whose best-scored sentence is right (all questions, right one or not)."""
    return sum(float(y[int(np.argmax(x @ w))]) for x, y in groups) / max(len(groups), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sets", nargs="+")
    args = parser.parse_args(argv)
    groups = {name: question_groups(name) for name in args.sets}
    heuristic = np.array([HEURISTIC_SENTENCE_WEIGHTS.get(f, 0.0) for f in SENTENCE_FEATURES])
    for held_out in args.sets:
        w = fit([g for name in args.sets if name != held_out for g in groups[name]])
        result: dict[str, Any] = {
            "held_out": held_out,
            "questions": len(groups[held_out]),
            "top_sentence_right_heuristic": round(top1(groups[held_out], heuristic), 3),
            "top_sentence_right_fitted": round(top1(groups[held_out], w), 3),
            "any_sentence_right": round(
                sum(float(y.max()) for _, y in groups[held_out]) / len(groups[held_out]), 3
            ),
        }
        print(json.dumps(result))
    w = fit([g for name in args.sets for g in groups[name]])
    print(json.dumps({name: round(float(v), 3) for name, v in zip(SENTENCE_FEATURES, w, strict=True)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
