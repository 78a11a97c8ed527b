"""Per-unit abstention thresholds calibrated from staff feedback, simulated on dev questions.

    .venv/bin/python scripts/calibration_eval.py data/verifier2/*.jsonl

Input: answer-everything dumps of `scripts/dev_eval.py --abstain-below 0 --dump …` (one per set,
named `<set>.jsonl`). For each set, the verifier is fitted on the *other* sets (leave-one-set-out,
as `scripts/fit_verifier.py` reports), so its confidences are not fitted on this set. The set's
dev questions are split in two deterministic halves (`dev_eval.bank_split`): the first half plays
the unit's staff rating the assistant's answers (helpful = the answer is correct), from which the
gateway's own `suggest_threshold` picks the unit's threshold; the second half is scored with that
threshold, beside the global default (0.5) on the same half. Assumes staff rated every draft
answer, also those below the threshold in force. Dev questions only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dev_eval import bank_split
from fit_verifier import fitted, load, predict

from services.gateway.domain.calibration import suggest_threshold
from services.retrieval.domain.answering import ABSTAIN_BELOW


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dumps", nargs="+")
    parser.add_argument("--target", type=float, default=0.05, help="wrong-answer rate to stay under")
    args = parser.parse_args(argv)
    rows = load(args.dumps)
    for name in sorted({row["set"] for row in rows}):
        own = [row for row in rows if row["set"] == name]
        confidence = predict(fitted([row for row in rows if row["set"] != name]), own)
        rated = [
            (float(p), bool(r["would_be_correct"]))
            for r, p in zip(own, confidence, strict=True)
            if r["kind"] != "gold_removed" and bank_split(r["id"])
        ]
        scored = [i for i, r in enumerate(own) if not bank_split(r["id"].split("#")[0])]
        calibration = suggest_threshold(rated, target_wrong_rate=args.target)
        # No suggestion: the unit keeps the service default (what the product does).
        threshold = calibration.suggested if calibration.suggested is not None else ABSTAIN_BELOW
        scored_rows = [own[i] for i in scored]
        scored_p = confidence[scored]
        result: dict[str, Any] = {
            "set": name,
            "rated": calibration.rated,
            "reason": calibration.reason,
            "threshold": threshold,
            "scored": len(scored_rows),
            "global": _metrics(scored_rows, scored_p, ABSTAIN_BELOW),
            "calibrated": _metrics(scored_rows, scored_p, threshold),
        }
        print(json.dumps(result))
    return 0


def _metrics(rows: list[dict[str, Any]], confidence: np.ndarray, threshold: float) -> dict[str, float]:
    """The eval README's metrics at a threshold; gold-removal rows only in their own figure."""
    answered = confidence >= threshold
    correct = np.array([bool(r["would_be_correct"]) for r in rows])
    removed = np.array([r["kind"] == "gold_removed" for r in rows])
    answerable = np.array([r["kind"] == "faq" or (r["kind"] == "span" and r["has_answer"]) for r in rows])
    unanswerable = np.array([r["kind"] == "span" and not r["has_answer"] for r in rows])
    asked = answered & ~removed
    out = {
        "answered_correct": (asked & correct & answerable).sum() / max(answerable.sum(), 1),
        "wrong_answer_rate": (asked & ~correct).sum() / max(asked.sum(), 1),
    }
    if unanswerable.any():
        out["abstain_unanswerable"] = (~answered & unanswerable).sum() / unanswerable.sum()
        out["answered_answerable"] = (answered & answerable).sum() / max(answerable.sum(), 1)
    if removed.any():
        out["abstain_gold_removed"] = (~answered & removed).sum() / removed.sum()
    return {k: round(float(v), 3) for k, v in out.items()}


if __name__ == "__main__":
    sys.exit(main())
