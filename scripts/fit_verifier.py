"""Fit the answer verifier's logistic weights on dev-question dumps of `scripts/dev_eval.py`.

    .venv/bin/python scripts/dev_eval.py <set> --abstain-below 0 --dump data/verifier/<set>.jsonl
    .venv/bin/python scripts/fit_verifier.py data/verifier/*.jsonl [--write]

Each row holds the verifier's features (`signals`) of the answer the engine would give and whether
that answer would be correct (`would_be_correct`; gold-removal rows are negatives). The script
reports leave-one-set-out figures (fit on the other sets, score this one) so the numbers are not
measured on the data they were fitted on, then fits on all rows; `--write` pins the weights — the
all-sets fit (production) and each leave-one-set-out fit (`FITTED_WITHOUT`, what `make eval` runs
for the set left out) — in
`services/retrieval/fitted/verifier_hybrid.py` (dumps made with `--dense`: the hybrid engine) or,
with `--output …/verifier_lexical.py`, the weights used when there is no embedder (dumps
made without `--dense`). Dev questions only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from services.retrieval.domain.verifier import (
    FEATURE_NAMES,
    NEEDS_OTHER_DOCUMENT,
    VerifierWeights,
    confidence_of,
)

L2 = 1.0
ITERATIONS = 60
THRESHOLD = 0.5
CONCISE_ANSWER_CHARS = 400
SWEEP = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
WEIGHTS_MODULE = Path(__file__).resolve().parent.parent / "services/retrieval/fitted/verifier_hybrid.py"


def load(paths: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        name = Path(path).stem.split(".")[0]
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                if row.get("signals") and row.get("source") != "faq":
                    row["set"] = name
                    rows.append(row)
    return rows


def matrix(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array(
        [[row["signals"].get(name, 0.0) for name in FEATURE_NAMES] for row in rows], dtype=np.float64
    )
    y = np.array([1.0 if row["would_be_correct"] else 0.0 for row in rows])
    return x, y


def fit(
    x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, l2: float = L2
) -> tuple[float, np.ndarray]:
    """L2-regularised logistic regression by Newton's method (bias unregularised)."""
    design = np.hstack([np.ones((len(x), 1)), x])
    theta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(ITERATIONS):
        p = 1.0 / (1.0 + np.exp(-design @ theta))
        gradient = design.T @ (sample_weight * (p - y)) + penalty * theta
        hessian = (design * (sample_weight * p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        theta -= np.linalg.solve(hessian, gradient)
    return float(theta[0]), theta[1:]


def neutral_values(x: np.ndarray, sample_weight: np.ndarray) -> dict[str, float]:
    """The training mean of each feature undefined in a one-document unit (its neutral value)."""
    means = (x * sample_weight[:, None]).sum(axis=0) / sample_weight.sum()
    return {name: float(means[FEATURE_NAMES.index(name)]) for name in NEEDS_OTHER_DOCUMENT}


def predict(verifier: VerifierWeights, rows: list[dict[str, Any]]) -> np.ndarray:
    """The engine's own confidence (`confidence_of`: neutral values and out-of-scope gates)."""
    return np.array([confidence_of(verifier, row["signals"]) for row in rows])


def fitted(rows: list[dict[str, Any]]) -> VerifierWeights:
    x, y = matrix(rows)
    sample_weight = balanced_weights(rows)
    bias, weights = fit(x, y, sample_weight)
    return VerifierWeights(
        bias=bias,
        weights=dict(zip(FEATURE_NAMES, (float(w) for w in weights), strict=True)),
        neutral=neutral_values(x, sample_weight),
    )


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    positive = scores[labels == 1]
    negative = scores[labels == 0]
    if not len(positive) or not len(negative):
        return float("nan")
    greater = (positive[:, None] > negative[None, :]).mean()
    ties = (positive[:, None] == negative[None, :]).mean()
    return float(greater + 0.5 * ties)


def report(rows: list[dict[str, Any]], probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    answered = probabilities >= threshold
    labels = np.array([bool(r["would_be_correct"]) for r in rows])
    answerable = np.array([r["kind"] == "faq" or (r["kind"] == "span" and r["has_answer"]) for r in rows])
    unanswerable = np.array([r["kind"] in ("span", "gold_removed") and not r["has_answer"] for r in rows])
    out = {
        "n": float(len(rows)),
        "auc": auc(probabilities, labels.astype(float)),
        "answered": float(answered.mean()),
        "wrong_rate": float((answered & ~labels).sum() / max(answered.sum(), 1)),
    }
    if answerable.any():
        concise = np.array([row.get("answer_len", 0) <= CONCISE_ANSWER_CHARS for row in rows])
        out["answered_correct_concise"] = float(
            (answered & labels & concise & answerable).sum() / answerable.sum()
        )
        out["answered_correct"] = float((answered & labels & answerable).sum() / answerable.sum())
    if unanswerable.any():
        out["abstain_unanswerable"] = float((~answered & unanswerable).sum() / unanswerable.sum())
    return out


def balanced_weights(rows: list[dict[str, Any]]) -> np.ndarray:
    """Every set counts the same, whatever its number of questions."""
    sets = [row["set"] for row in rows]
    counts = {name: sets.count(name) for name in set(sets)}
    return np.array([len(rows) / (len(counts) * counts[name]) for name in sets])


def weights_lines(name: str, verifier: VerifierWeights) -> list[str]:
    """Python source of one fitted verifier as `name = (bias, weights, neutral)` entries."""
    return [
        f"    {name}: (",
        f"        {verifier.bias:.6f},",
        "        {",
        *[f'            "{feature}": {verifier.weights[feature]:.6f},' for feature in FEATURE_NAMES],
        "        },",
        "        {",
        *[f'            "{feature}": {value:.6f},' for feature, value in verifier.neutral.items()],
        "        },",
        "    ),",
    ]


def write_module(
    verifier: VerifierWeights, without: dict[str, VerifierWeights], sets: list[str], path: Path
) -> None:
    lines = [
        '"""Fitted verifier weights. Generated by scripts/fit_verifier.py from dev-question dumps of',
        f'{", ".join(sorted(sets))}; do not edit by hand (re-run the script)."""',
        "",
        "from __future__ import annotations",
        "",
        "FITTED_SETS: tuple[str, ...] = (" + ", ".join(json.dumps(name) for name in sorted(sets)) + ")",
        f"FITTED_BIAS = {verifier.bias:.6f}",
        "FITTED_WEIGHTS: dict[str, float] = {",
        *[f'    "{name}": {verifier.weights[name]:.6f},' for name in FEATURE_NAMES],
        "}",
        "# Training means of the features undefined in a one-document unit (used there instead).",
        "FITTED_NEUTRAL: dict[str, float] = {",
        *[f'    "{name}": {value:.6f},' for name, value in verifier.neutral.items()],
        "}",
        "# Leave-one-set-out fits (bias, weights, neutral values), by the set left out: what",
        "# `make eval` runs for that set (TROLYAO_RETRIEVAL_VERIFIER_VARIANT=without-<set>).",
        "FITTED_WITHOUT: dict[str, tuple[float, dict[str, float], dict[str, float]]] = {",
        *[line for name in sorted(without) for line in weights_lines(json.dumps(name), without[name])],
        "}",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def print_figures(
    label: str,
    name: str,
    rows: list[dict[str, Any]],
    verifier: VerifierWeights,
    thresholds: tuple[float, ...],
) -> None:
    """One JSON line per threshold: the set's figures under weights not fitted on it."""
    probabilities = predict(verifier, rows)
    for threshold in thresholds:
        result = report(rows, probabilities, threshold)
        print(
            json.dumps({label: name, "threshold": threshold, **{k: round(v, 3) for k, v in result.items()}})
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dumps", nargs="+")
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument("--write", action="store_true")
    parser.add_argument(
        "--output",
        default=str(WEIGHTS_MODULE),
        help="module to write: verifier_hybrid.py (hybrid dumps) or verifier_lexical.py",
    )
    parser.add_argument("--sweep", action="store_true", help="leave-one-set-out figures per threshold")
    parser.add_argument(
        "--score",
        nargs="*",
        default=[],
        help="dumps of sets kept out of the fit altogether, scored with the weights fitted on all others",
    )
    args = parser.parse_args(argv)
    rows = load(args.dumps)
    sets = sorted({row["set"] for row in rows})
    thresholds = SWEEP if args.sweep else (args.threshold,)
    without: dict[str, VerifierWeights] = {}
    for held_out in sets:
        own = [row for row in rows if row["set"] == held_out]
        without[held_out] = fitted([row for row in rows if row["set"] != held_out])
        print_figures("held_out", held_out, own, without[held_out], thresholds)
    verifier = fitted(rows)
    scored = load(args.score)
    for name in sorted({row["set"] for row in scored}):
        print_figures(
            "not_fitted_on", name, [row for row in scored if row["set"] == name], verifier, thresholds
        )
    rounded = {name: round(weight, 3) for name, weight in verifier.weights.items()}
    print(json.dumps({"bias": round(verifier.bias, 3), **rounded}))
    if args.write:
        write_module(verifier, without, sets, Path(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
