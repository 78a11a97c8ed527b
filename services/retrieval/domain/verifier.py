"""Does the composed passage answer what was asked? The abstention decision and its confidence.

Retrieval scores cannot tell answerable from unanswerable questions (AUC ≈ 0.5 on viquad2, see
BASELINES.md), so the verifier looks at the question against the passage itself: how much of the
question's content (IDF-weighted syllables and pairs) the passage and the chosen sentence cover,
whether a rare question term is missing altogether (an entity or condition the passage does not
mention), whether the sentence holds the kind of thing asked for, and whether the sparse and dense
retrievers agree. A logistic model turns the features into a probability of a correct answer;
its weights are fitted on dev questions only by `scripts/fit_verifier.py` and pinned below.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

from services.retrieval.domain.composer import AnswerType, ComposedAnswer, answer_type
from services.retrieval.domain.lexical import folded_syllables, syllables
from services.retrieval.domain.matching import QUESTION_WORDS, TERM_CACHE_SIZE
from services.retrieval.domain.search import chunk_texts
from services.retrieval.domain.unit_model import UnitLanguageModel
from services.retrieval.fitted import verifier_hybrid as verifier_weights
from services.retrieval.fitted import verifier_lexical as verifier_weights_lexical
from trolyao.vietnamese import has_diacritics

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME_PUNCTUATION = "\"'“”‘’()[]{},.;:?!«»"
# A capitalised word not at the start of the question: a name the passage should mention.
_NAME = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-ZÀ-ỸĐ][\wÀ-ỹđ-]*")
MARGIN_SCALE = 1.0
LENGTH_SCALE = 30.0
RERANK_MARGIN_SCALE = 2.0
# Out of scope, whatever the model says: the answering passage covers less than this share of the
# question's content (IDF mass, title included), or the answering sentence (with its heading) less
# than the next, or a key number of the question (a year, a date, an amount: ≥ 3 digits or written
# with separators) is absent from the passage. On the concise dev dumps (docs/retrieval-quality.md)
# the coverage gates refuse 3 of ~960 correct span answers and ~70 of ~800 wrong ones; they keep
# small units — where margins over unrelated documents are large — from answering out of scope.
MIN_PASSAGE_COVERAGE = 0.4
MIN_SENTENCE_COVERAGE = 0.3
# …or a quarter or more of the question's content syllables occur nowhere in the unit: its subject
# is not in the unit's knowledge ("lương cơ sở" against a meeting report). On the dev dumps: 4 of
# ~1,080 correct answers (uit's typos), 3 wrong ones.
MAX_UNKNOWN_SHARE = 0.25
UNKNOWN_SCOPE_PASSAGES = 30
# Phrases that say how a question asks ("for what purpose", "what thing", "by what means", "each"),
# not what it asks about: a passage need not contain them, so they never count as unknown.
FRAMING_PHRASES: tuple[tuple[str, ...], ...] = tuple(
    tuple(phrase.split())
    for phrase in (
        "nham muc dich",
        "muc dich gi",
        "cai gi",
        "dieu gi",
        "viec gi",
        "bang cach",
        "ly do",
        "moi",
        "cu the",
        "nhu the",
    )
)
# …or a name the question spells with two or more capitalised words in a row ("Bộ Y tế",
# "Nguyễn Văn A", "Hà Nội") does not occur in the answering passage: the question is about
# someone or somewhere the passage does not mention, however many of its other words it shares
# ("Bộ trưởng Bộ Y tế là ai?" against a report of another ministry) nor in any passage retrieved
# for it (`UNKNOWN_SCOPE_PASSAGES`). The question's first word is
# capitalised anyway and does not count. Single capitalised words are not names enough: a law's
# title ("Bộ luật Dân sự") is capitalised one word at a time and its articles do not repeat it.
MIN_NAME_WORDS = 2
# …or, for a question typed without diacritics, two of three (0.66) or more of its adjacent
# content-syllable pairs occur in no retrieved passage (`_unknown_pair_share`). On the unaccented
# dev questions (`dev_eval.py <set> --no-accents --held-out`) it refuses ~4 right answers of ~1,100
# (uit 0.524 -> 0.521, viquad2 0.424 -> 0.420, alqac-2022 unchanged); without it three unaccented
# out-of-scope questions on the meeting report ("muc luong co so nam 2024 la bao nhieu?", "gia
# cuoc 5G hien nay la bao nhieu?") were answered.
MAX_UNKNOWN_PAIR_SHARE = 0.66
OUT_OF_SCOPE_CONFIDENCE = 0.05
_KEY_NUMBER = re.compile(r"\d+(?:[./,-]\d+)+|\d{3,}")
# Features that compare the answer with the best *other* document: in a unit holding one
# document they are undefined, and take the fitted weights' neutral value (the training mean).
NEEDS_OTHER_DOCUMENT: tuple[str, ...] = ("fused_margin", "rerank_margin", "sentence_margin")

FEATURE_NAMES: tuple[str, ...] = (
    "passage_coverage",
    "passage_bigram_coverage",
    "sentence_coverage",
    "sentence_bigram_coverage",
    "missing_rarest",
    "type_match",
    "sparse_top",
    "dense_top",
    "special_coverage",
    "sentence_missing_rarest",
    "number_missing",
    "name_missing",
    "sentence_margin",
    "fused_margin",
    "dense_score",
    "question_length",
    "asks_number",
    "asks_time",
    "asks_entity",
    "rerank_margin",
    "passage_rank",
    "unknown_share",
    "sentence_gap",
)


@dataclass(frozen=True, slots=True)
class VerifierWeights:
    """Logistic-regression weights over `FEATURE_NAMES`."""

    bias: float
    weights: Mapping[str, float]
    # Value of a feature where it is undefined (`NEEDS_OTHER_DOCUMENT` in a one-document unit).
    neutral: Mapping[str, float] = field(default_factory=dict)


# Fitted on dev questions by scripts/fit_verifier.py (see docs/retrieval-quality.md): one set for
# the hybrid engine (sparse + dense signals), one for an engine without an embedder, whose dense
# features are always 0 and would otherwise pull every confidence down.
HYBRID_WEIGHTS = VerifierWeights(
    bias=verifier_weights.FITTED_BIAS,
    weights=verifier_weights.FITTED_WEIGHTS,
    neutral=verifier_weights.FITTED_NEUTRAL,
)
LEXICAL_WEIGHTS = VerifierWeights(
    bias=verifier_weights_lexical.FITTED_BIAS,
    weights=verifier_weights_lexical.FITTED_WEIGHTS,
    neutral=verifier_weights_lexical.FITTED_NEUTRAL,
)
DEFAULT_WEIGHTS = HYBRID_WEIGHTS
# A weights variant named "without-<set>": the same fit without that evaluation set's questions
# (leave-one-set-out), so that `make eval` reports the set held out. "" is the production fit.
HELD_OUT_PREFIX = "without-"


def held_out_set(variant: str) -> str:
    """The evaluation set a variant leaves out ("" for the production fit)."""
    if variant and not variant.startswith(HELD_OUT_PREFIX):
        raise ValueError(f"unknown verifier variant {variant!r} (expected '' or 'without-<set>')")
    return variant.removeprefix(HELD_OUT_PREFIX)


def weights_for(*, hybrid: bool, variant: str = "") -> VerifierWeights:
    """The verifier weights of an engine with (`hybrid`) or without an embedder.

    `variant` "without-<set>" selects the weights fitted without <set>'s questions; a set that was
    never in the fit gets the production weights, which are already held out for it.
    """
    module = verifier_weights if hybrid else verifier_weights_lexical
    left_out = held_out_set(variant)
    if left_out in module.FITTED_WITHOUT:
        bias, weights, neutral = module.FITTED_WITHOUT[left_out]
        return VerifierWeights(bias=bias, weights=weights, neutral=neutral)
    if left_out in module.FITTED_SETS:
        raise ValueError(f"no verifier weights fitted without {left_out!r}: re-run scripts/fit_verifier.py")
    return HYBRID_WEIGHTS if hybrid else LEXICAL_WEIGHTS


def is_held_out(*, hybrid: bool, set_name: str) -> bool:
    """Whether `weights_for(variant="without-<set_name>")` was fitted without that set's questions."""
    module = verifier_weights if hybrid else verifier_weights_lexical
    return set_name in module.FITTED_WITHOUT or set_name not in module.FITTED_SETS


@dataclass(frozen=True, slots=True)
class Verdict:
    """The verifier's probability that the answer is right, and the features behind it."""

    confidence: float
    features: dict[str, float] = field(default_factory=dict)


def answer_features(composed: ComposedAnswer, model: UnitLanguageModel) -> dict[str, float]:
    """The verifier's input features for one composed answer (all roughly in 0..1)."""
    candidate = composed.candidate
    best = composed.best
    ceiling = model.max_idf() or 1.0
    runner_up = next((s.score for s in composed.ranked[1:] if s.candidate_index != best.candidate_index), 0.0)
    kind = answer_type(composed.question)
    passage = " " + " ".join(folded_syllables(" ".join(chunk_texts(candidate.hit)))) + " "
    passage_numbers = " ".join(_NUMBER.findall(" ".join(chunk_texts(candidate.hit))))
    passage = passage + passage_numbers
    others = any(c.hit.document_id != candidate.hit.document_id for c in composed.candidates)
    return {
        "single_document": 0.0 if others else 1.0,
        "unknown_share": _unknown_share(composed),
        # How clearly the answering sentence beats the next best one (any passage): a near tie
        # means the composer was unsure which sentence answers.
        "sentence_gap": min(max(best.score - composed.ranked[1].score, 0.0) / MARGIN_SCALE, 1.0)
        if len(composed.ranked) > 1
        else 1.0,
        "unknown_name": 1.0 if _unknown_names(composed) else 0.0,
        "unknown_pair_share": _unknown_pair_share(composed),
        "key_number_missing": _missing_fraction(
            _KEY_NUMBER.findall(composed.question), " ".join(chunk_texts(candidate.hit))
        ),

        "passage_coverage": candidate.features.get("coverage", 0.0),
        "passage_bigram_coverage": candidate.features.get("bigram_coverage", 0.0),
        "sentence_coverage": best.unigram_coverage,
        "sentence_bigram_coverage": best.bigram_coverage,
        "missing_rarest": candidate.features.get("missing_max_idf", 0.0),
        "type_match": 1.0 if best.type_match else 0.0,
        "sparse_top": 1.0 if candidate.sparse_rank == 1 else 0.0,
        "dense_top": 1.0 if candidate.dense_rank == 1 else 0.0,
        "special_coverage": candidate.features.get("special_coverage", 1.0),
        "sentence_missing_rarest": min(best.missing_max_idf / ceiling, 1.0),
        "number_missing": _missing_fraction(_NUMBER.findall(composed.question), passage),
        "name_missing": _missing_fraction(
            [" ".join(folded_syllables(name)) for name in _NAME.findall(composed.question)], passage
        ),
        "sentence_margin": min(max(best.score - runner_up, 0.0) / MARGIN_SCALE, 1.0),
        "fused_margin": _fused_margin(composed),
        "dense_score": candidate.dense_score,
        "question_length": min(len(folded_syllables(composed.question)) / LENGTH_SCALE, 1.0),
        "asks_number": 1.0 if kind in (AnswerType.NUMBER,) else 0.0,
        "asks_time": 1.0 if kind is AnswerType.TIME else 0.0,
        "asks_entity": 1.0 if kind in (AnswerType.PERSON, AnswerType.PLACE) else 0.0,
        "rerank_margin": _rerank_margin(composed),
        "passage_rank": min(best.candidate_index, 2) / 2.0,
    }


def question_names(question: str) -> list[str]:
    """Runs of `MIN_NAME_WORDS`+ capitalised words after the question's first word, folded; a
    comma or other punctuation ends a run ("IELTS, TOEIC" are two names)."""
    names: list[str] = []
    run: list[str] = []

    def close() -> None:
        if len(run) >= MIN_NAME_WORDS:
            names.append(" ".join(folded_syllables(" ".join(run))))
        run.clear()

    words = question.split()
    for index, raw in enumerate(words):
        word = raw.strip(_NAME_PUNCTUATION)
        starts_sentence = index == 0 or words[index - 1].endswith((".", "?", "!", ":"))
        if word and word[0].isupper() and not starts_sentence:
            run.append(word)
            if raw.rstrip(_NAME_PUNCTUATION) != raw.rstrip():
                close()
        else:
            close()
    close()
    return [name for name in names if name]


def _framing_positions(folded: list[str]) -> set[int]:
    """Positions of the question's framing phrases (`FRAMING_PHRASES`): how it asks, not what."""
    positions: set[int] = set()
    for phrase in FRAMING_PHRASES:
        size = len(phrase)
        for start in range(len(folded) - size + 1):
            if tuple(folded[start : start + size]) == phrase:
                positions.update(range(start, start + size))
    return positions


def _unknown_names(composed: ComposedAnswer) -> bool:
    """Whether a name of the question (`question_names`) occurs in none of the retrieved passages
    (the unit's best `UNKNOWN_SCOPE_PASSAGES` for this question, all of a small unit)."""
    names = question_names(composed.question)
    if not names:
        return False
    scope = f" {' '.join(_folded_text(text) for text in _scope_texts(composed))} "
    return any(f" {name} " not in scope for name in names)


def _scope_texts(composed: ComposedAnswer) -> Iterator[str]:
    """The texts of the passages the unknown-subject gates read: the unit's best
    `UNKNOWN_SCOPE_PASSAGES` for this question (all of a small unit)."""
    for candidate in composed.candidates[:UNKNOWN_SCOPE_PASSAGES]:
        yield from (text for text in chunk_texts(candidate.hit) if text)


def _unknown_share(composed: ComposedAnswer) -> float:
    """Share of the question's content syllables that none of the retrieved passages holds (the
    unit's best `UNKNOWN_SCOPE_PASSAGES` for this question — all of a small unit): what it asks
    about is not in the unit's knowledge ("lương cơ sở" against a meeting report). A syllable
    typed with diacritics must occur with them ("lương" is not "lượng"); one typed without is
    found when its folded form occurs. Read from the passages rather than the unit's statistics,
    which are flushed lazily and may lag the index after a crash."""
    pairs = list(zip(folded_syllables(composed.question), syllables(composed.question), strict=False))
    # Framing words count as found: they say how the question asks, and a passage need not hold
    # them (leaving them out instead would raise the share when the passage does hold them).
    framing = _framing_positions([folded for folded, _ in pairs])
    content = [
        (folded, accented, index in framing)
        for index, (folded, accented) in enumerate(pairs)
        if folded not in QUESTION_WORDS
    ]
    if not content:
        return 0.0
    folded_seen: set[str] = set()
    accented_seen: set[str] = set()
    for text in _scope_texts(composed):
        found = _syllable_sets(text)
        folded_seen |= found[0]
        accented_seen |= found[1]
    unknown = sum(
        not framed and (folded not in folded_seen or (accented != folded and accented not in accented_seen))
        for folded, accented, framed in content
    )
    return unknown / len(content)


def _unknown_pair_share(composed: ComposedAnswer) -> float:
    """For a question typed without diacritics: the share of its adjacent content-syllable pairs
    ("muc phat", "gia cuoc") that no retrieved passage holds, folded. Unaccented, a single
    syllable matches too much ("phat" is "phát" and "phạt") for `_unknown_share` to see the
    subject; a pair is far less ambiguous. 0 for a question typed with diacritics."""
    if has_diacritics(composed.question):
        return 0.0
    folded = folded_syllables(composed.question)
    framing = _framing_positions(folded)
    content = {index for index, word in enumerate(folded) if word not in QUESTION_WORDS}
    pairs = [
        (f"{folded[index]} {folded[index + 1]}", index in framing or index + 1 in framing)
        for index in sorted(content)
        if index + 1 in content
    ]
    if not pairs:
        return 0.0
    seen: set[str] = set()
    for text in _scope_texts(composed):
        seen |= _folded_pairs(text)
    return sum(not framed and pair not in seen for pair, framed in pairs) / len(pairs)


@lru_cache(maxsize=TERM_CACHE_SIZE)
def _folded_text(text: str) -> str:
    return " ".join(folded_syllables(text))


@lru_cache(maxsize=TERM_CACHE_SIZE)
def _folded_pairs(text: str) -> frozenset[str]:
    folded = folded_syllables(text)
    return frozenset(f"{first} {second}" for first, second in pairwise(folded))


@lru_cache(maxsize=TERM_CACHE_SIZE)
def _syllable_sets(text: str) -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(folded_syllables(text)), frozenset(syllables(text))


def _missing_fraction(needles: list[str], haystack: str) -> float:
    needles = [needle for needle in needles if needle]
    if not needles:
        return 0.0
    return sum(needle not in haystack for needle in needles) / len(needles)


def _fused_margin(composed: ComposedAnswer) -> float:
    """How far the answer's passage leads the best passage of another document (RRF units)."""
    lead = composed.candidate
    others = [c.fused for c in composed.candidates if c.hit.document_id != lead.hit.document_id]
    return max(lead.fused - max(others, default=0.0), 0.0)


def _rerank_margin(composed: ComposedAnswer) -> float:
    """How far the answer's passage leads the best passage of another document (final scores)."""
    lead = composed.candidate
    others = [c.score for c in composed.candidates if c.hit.document_id != lead.hit.document_id]
    if not others:  # a one-document unit: no competitor says nothing about the answer
        return 0.0
    return min(max(lead.score - max(others), 0.0) / RERANK_MARGIN_SCALE, 1.0)


class AnswerVerifier:
    """Scores composed answers with a logistic model over `answer_features`."""

    def __init__(self, weights: VerifierWeights = DEFAULT_WEIGHTS) -> None:
        self._weights = weights

    def verify(self, composed: ComposedAnswer, model: UnitLanguageModel) -> Verdict:
        """Probability (0..1) that the composed answer answers the question correctly."""
        features = answer_features(composed, model)
        return Verdict(confidence=confidence_of(self._weights, features), features=features)


def with_neutral_values(weights: VerifierWeights, features: Mapping[str, float]) -> dict[str, float]:
    """The features with those undefined in a one-document unit set to the weights' neutral value:
    "no other document" says nothing about the answer, so it must neither help nor hurt."""
    ready = dict(features)
    if ready.get("single_document", 0.0) >= 1.0:
        for name in NEEDS_OTHER_DOCUMENT:
            if name in weights.neutral:
                ready[name] = weights.neutral[name]
    return ready


def out_of_scope(features: Mapping[str, float]) -> bool:
    """Whether the answering passage does not talk about what was asked (see the gate constants)."""
    return (
        features.get("passage_coverage", 0.0) < MIN_PASSAGE_COVERAGE
        or features.get("sentence_coverage", 0.0) < MIN_SENTENCE_COVERAGE
        or features.get("key_number_missing", 0.0) > 0.0
        or features.get("unknown_share", 0.0) >= MAX_UNKNOWN_SHARE
        or features.get("unknown_name", 0.0) > 0.0
        or features.get("unknown_pair_share", 0.0) >= MAX_UNKNOWN_PAIR_SHARE
    )


def confidence_of(weights: VerifierWeights, features: Mapping[str, float]) -> float:
    """The logistic model's probability, capped at `OUT_OF_SCOPE_CONFIDENCE` when out of scope.

    One function for the engine and for the fitting script, so held-out figures measure the
    same decision the engine makes.
    """
    ready = with_neutral_values(weights, features)
    logit = weights.bias + sum(
        weights.weights.get(name, 0.0) * ready.get(name, 0.0) for name in FEATURE_NAMES
    )
    confidence = 1.0 / (1.0 + math.exp(-logit))
    if out_of_scope(ready):
        confidence = min(confidence, OUT_OF_SCOPE_CONFIDENCE)
    return confidence


__all__ = [
    "DEFAULT_WEIGHTS",
    "FEATURE_NAMES",
    "HELD_OUT_PREFIX",
    "HYBRID_WEIGHTS",
    "LEXICAL_WEIGHTS",
    "AnswerVerifier",
    "Verdict",
    "VerifierWeights",
    "answer_features",
    "confidence_of",
    "held_out_set",
    "is_held_out",
    "out_of_scope",
    "weights_for",
    "with_neutral_values",
]
