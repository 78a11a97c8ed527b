"""Dump the composer's candidate sentences of every dev span question, for the reader experiment.

    .venv/bin/python scripts/reader_pairs.py uit-regulation-qa alqac-2022 viquad2-1000

One JSON line per span question (answerable or not) in `data/reader/<set>.jsonl`: the question as
the composer reads it, and every sentence of the top passages in the lexical composer's order
(`score_sentences`, engine passage-rank weight), each with the text the reader scores (its list
lead-in prepended), the composer's score and whether the answer quoted from it (`composer.quote`)
holds a gold answer within 400 characters. Lexical engine, ingest's chunking, the in-memory store
of `scripts/dev_eval.py`. Dev questions only.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import dev_eval as harness

from services.retrieval.domain.composer import PASSAGE_RANK_WEIGHT, quote, score_sentences

OUTPUT = Path(__file__).resolve().parent.parent / "data" / "reader"


def dump(name: str) -> int:
    folder = harness.EVAL_ROOT / name
    questions = [q for q in harness.load_jsonl(folder / "questions.jsonl") if q["kind"] == "span"]
    documents = harness.stored_chunks(harness.load_jsonl(folder / "corpus.jsonl"), {}, None, "ingest")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    written = 0
    with (
        tempfile.TemporaryDirectory(prefix="reader-pairs-") as root,
        open(OUTPUT / f"{name}.jsonl", "w", encoding="utf-8") as handle,
    ):
        store = harness.build_store("memory", Path(root), None)
        engine = harness.lexical_engine(store, documents)
        for question in questions:
            candidates, query, text = engine.rank_passages(harness.UNIT, question["question"])
            ranked = score_sentences(candidates, query.terms, text, passage_rank_weight=PASSAGE_RANK_WEIGHT)
            gold = [harness.normalised(a) for a in question["answers"]]
            sentences = []
            for scored in ranked:
                answer = quote(candidates, scored, query.terms, budget=1000)
                right = (
                    bool(gold)
                    and len(answer) <= harness.CONCISE_ANSWER_CHARS
                    and any(g in harness.normalised(answer) for g in gold)
                )
                lead = scored.lead_in.text + " " if scored.lead_in is not None else ""
                sentences.append(
                    {
                        "text": lead + scored.sentence.text,
                        "score": round(scored.score, 5),
                        "passage": scored.candidate_index,
                        "right": right,
                        "gold_doc": candidates[scored.candidate_index].hit.document_id
                        in question["gold_ids"],
                    }
                )
            row = {"set": name, "id": question["id"], "question": text, "answerable": bool(gold)}
            handle.write(json.dumps({**row, "sentences": sentences}, ensure_ascii=False) + "\n")
            written += 1
        store.close()
    return written


def main(argv: list[str]) -> int:
    for name in argv:
        print(json.dumps({"set": name, "questions": dump(name)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
