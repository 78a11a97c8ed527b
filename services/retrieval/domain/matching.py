"""How well a piece of text covers a question's terms, weighted by rarity in the unit.

Shared by the reranker, the FAQ matcher, the composer and the verifier: one definition of
"content term", one IDF (the unit's `UnitLanguageModel`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from services.retrieval.domain.lexical import BIGRAM_JOINER, term_bag, term_sets
from services.retrieval.domain.unit_model import UnitLanguageModel

# Folded syllables that shape a question rather than say what it is about.
QUESTION_WORDS: frozenset[str] = frozenset(
    (  # noqa: SIM905
        "ai gi nao dau sao bao nhieu may khi the nhu thi la co khong duoc phai hay hoac va voi cua "
        "cho trong tren duoi ve den tu theo tai boi vi neu nhung cac mot nay do kia ay nhe a ah u ak "
        "vay roi chua minh toi em anh chi ban oi xin hoi cam on a nen can muon biet lam "
    ).split()
)


@dataclass(frozen=True, slots=True)
class QuestionTerms:
    """A question's content syllables and syllable pairs (folded), with their unit IDF."""

    unigrams: dict[str, float]
    bigrams: dict[str, float]
    special: frozenset[str]
    max_idf: float = 0.0

    @property
    def unigram_mass(self) -> float:
        """Total IDF of the content syllables."""
        return sum(self.unigrams.values())

    @property
    def bigram_mass(self) -> float:
        """Total IDF of the syllable pairs."""
        return sum(self.bigrams.values())


def question_terms(question: str, model: UnitLanguageModel) -> QuestionTerms:
    """Content terms of a question: syllables minus question words, and pairs touching content."""
    bag = term_bag(question)
    unigrams = {t: model.idf(t) for t in bag.unigrams if t not in QUESTION_WORDS}
    bigrams: dict[str, float] = {}
    for term in bag.bigrams:
        first, _, second = term.partition(BIGRAM_JOINER)
        if first in QUESTION_WORDS and second in QUESTION_WORDS:
            continue
        bigrams[term] = model.idf(term)
    return QuestionTerms(
        unigrams=unigrams, bigrams=bigrams, special=frozenset(bag.special), max_idf=model.max_idf()
    )


@dataclass(frozen=True, slots=True)
class Coverage:
    """Fractions (0..1) of a question's IDF mass found in a text, and the rarest term missing."""

    unigram: float
    bigram: float
    special: float
    missing_max_idf: float
    missing_count: int


TERM_CACHE_SIZE = 4096


@lru_cache(maxsize=TERM_CACHE_SIZE)
def _terms_of(text: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    return term_sets(text)


def text_terms(texts: Iterable[str]) -> tuple[set[str], set[str], set[str]]:
    """Folded syllables, pairs and special tokens occurring in the texts (cached per text)."""
    unigrams: set[str] = set()
    bigrams: set[str] = set()
    special: set[str] = set()
    for text in texts:
        if not text:
            continue
        found = _terms_of(text)
        unigrams |= found[0]
        bigrams |= found[1]
        special |= found[2]
    return unigrams, bigrams, special


def coverage(terms: QuestionTerms, found: tuple[set[str], set[str], set[str]]) -> Coverage:
    """How much of the question the text's terms cover."""
    unigrams, bigrams, special = found
    uni_mass = terms.unigram_mass
    bi_mass = terms.bigram_mass
    uni_hit = sum(w for t, w in terms.unigrams.items() if t in unigrams)
    bi_hit = sum(w for t, w in terms.bigrams.items() if t in bigrams)
    missing = [w for t, w in terms.unigrams.items() if t not in unigrams]
    special_hit = len(terms.special & special) / len(terms.special) if terms.special else 1.0
    return Coverage(
        unigram=uni_hit / uni_mass if uni_mass else 0.0,
        bigram=bi_hit / bi_mass if bi_mass else 0.0,
        special=special_hit,
        missing_max_idf=max(missing, default=0.0),
        missing_count=len(missing),
    )


def sentence_coverage(
    terms: QuestionTerms, sentence: str, heading: tuple[set[str], set[str], set[str]]
) -> Coverage:
    """How much of the question one sentence covers, the words of its heading (`text_terms` of the
    chunk's title, path, …) counting too: "Điều 5 …" answers "điều 5"."""
    own = text_terms([sentence])
    return coverage(terms, (own[0] | heading[0], own[1] | heading[1], own[2] | heading[2]))


__all__ = [
    "QUESTION_WORDS",
    "Coverage",
    "QuestionTerms",
    "coverage",
    "question_terms",
    "sentence_coverage",
    "text_terms",
]
