"""Vietnamese lexical (sparse) vectors: the terms a chunk and a query are matched on.

Terms, all diacritic-folded so that `tat song 2g` matches `tắt sóng 2G`:

- syllables (`tat`, `song`, `2g`) and adjacent-syllable pairs inside a phrase (`tat_song`) — the
  pairs approximate Vietnamese words, which span several syllables, and were the cheapest large
  gain measured on the legal sets;
- accented syllables (`~sóng`), added only when the query itself carries diacritics, so a query
  typed with marks can tell `má` from `ma` while an unaccented one still matches;
- document numbers (`#13/2023/nd-cp`) and article references (`@dieu:5`) as single tokens.

Term ids are the first 32 bits of blake2b of the term: stable across processes and releases.
Document values carry BM25 term-frequency saturation and length normalisation; the vector store
applies the IDF (Qdrant's `Modifier.IDF`), so a query vector is just term weights.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

from services.retrieval.domain.model import SparseVector
from trolyao.documents import Chunk, ChunkKind, DocumentMetadata
from trolyao.vietnamese import fold_diacritics, normalize_text

BM25_K1 = 1.2
BM25_B = 0.75
# A nominal average chunk length (in syllables). The store cannot tell us the unit's real average
# at index time; chunks are cut to ≲1,000 characters (~220 syllables), most are shorter.
NOMINAL_AVERAGE_LENGTH = 150.0
TITLE_WEIGHT = 1.0
PATH_WEIGHT = 0.5
FAQ_QUESTION_WEIGHT = 2.0
NUMBER_WEIGHT = 1.5
ARTICLE_REF_WEIGHT = 1.0
ACCENTED_WEIGHT = 0.5
BIGRAM_WEIGHT = 1.0

ACCENTED_PREFIX = "~"
NUMBER_PREFIX = "#"
ARTICLE_PREFIX = "@"
BIGRAM_JOINER = "_"

# 13/2023/NĐ-CP, 91/2015/QH13, 01/VBHN-VPQH, 45/2019/TT-BTC, 100/NQ-CP
_DOCUMENT_NUMBER = re.compile(r"\b\d{1,4}(?:/\d{4})?/[A-ZĐa-zđ][A-ZĐa-zđ0-9]*(?:-[A-ZĐa-zđ0-9]+)*\b")
_ARTICLE_REFERENCE = re.compile(
    r"\b(điều|khoản|điểm|chương|mục|dieu|khoan|diem|chuong)\s+(\d+[a-zđ]?|[IVXLC]+)\b",
    re.IGNORECASE,
)
# A phrase boundary: bigrams never span punctuation.
_PHRASE_BREAK = re.compile(r"[.,;:!?()\[\]{}\"“”'‘’«»…\n\\|–—]+")
_SYLLABLE = re.compile(r"[0-9a-zà-ỹđ]+", re.IGNORECASE)


def term_id(term: str) -> int:
    """Stable unsigned 32-bit id of a term (blake2b)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "big")


# A unit's vocabulary of syllables is small (tens of thousands): fold each once per process.
SYLLABLE_FOLD_CACHE_SIZE = 1 << 16
# Texts the composer and verifier fold again and again (questions, sentences, passages).
FOLDED_TEXT_CACHE_SIZE = 8192
_fold_syllable = lru_cache(maxsize=SYLLABLE_FOLD_CACHE_SIZE)(fold_diacritics)


def syllables(text: str) -> list[str]:
    """Lower-cased syllables of `text`, diacritics kept (`Tắt sóng 2G` → `tắt sóng 2g`)."""
    return _SYLLABLE.findall(normalize_text(text).lower())


def folded_syllables(text: str) -> list[str]:
    """Diacritic-folded syllables (`Tắt sóng 2G` → `tat song 2g`)."""
    return list(_folded_syllables(text))


@lru_cache(maxsize=FOLDED_TEXT_CACHE_SIZE)
def _folded_syllables(text: str) -> tuple[str, ...]:
    return tuple(_SYLLABLE.findall(fold_diacritics(normalize_text(text))))


def _phrases(text: str) -> list[str]:
    return [part for part in _PHRASE_BREAK.split(text) if part.strip()]


def special_terms(text: str) -> list[str]:
    """Document numbers and article references as single tokens (`#13/2023/nd-cp`, `@dieu:5`)."""
    terms = (
        [NUMBER_PREFIX + fold_diacritics(m.group(0)) for m in _DOCUMENT_NUMBER.finditer(text)]
        if "/" in text  # every document number has one: most texts need no scan
        else []
    )
    for match in _ARTICLE_REFERENCE.finditer(text):
        kind = fold_diacritics(match.group(1))
        terms.append(f"{ARTICLE_PREFIX}{kind}:{match.group(2).lower()}")
    return terms


@dataclass(frozen=True, slots=True)
class TermBag:
    """Weighted term counts of one text, split by term family."""

    unigrams: Counter[str]
    bigrams: Counter[str]
    accented: Counter[str]
    special: Counter[str]
    length: int

    def weighted(self, *, accented: bool = True) -> defaultdict[str, float]:
        """All terms with their family weights applied."""
        bag: defaultdict[str, float] = defaultdict(float)
        for term, count in self.unigrams.items():
            bag[term] += count
        for term, count in self.bigrams.items():
            bag[term] += count * BIGRAM_WEIGHT
        if accented:
            for term, count in self.accented.items():
                bag[ACCENTED_PREFIX + term] += count * ACCENTED_WEIGHT
        for term, count in self.special.items():
            weight = NUMBER_WEIGHT if term.startswith(NUMBER_PREFIX) else ARTICLE_REF_WEIGHT
            bag[term] += count * weight
        return bag


def _phrase_syllables(text: str) -> Iterator[tuple[list[str], list[str]]]:
    """Each phrase of a normalised text as its lower-cased syllables, marked and folded."""
    for phrase in _phrases(text):
        marked = _SYLLABLE.findall(phrase.lower())
        yield marked, [_fold_syllable(s) for s in marked]


def term_bag(text: str) -> TermBag:
    """Terms of one text: folded syllables, in-phrase bigrams, accented syllables, special tokens."""
    text = normalize_text(text)
    unigrams: Counter[str] = Counter()
    bigrams: Counter[str] = Counter()
    accented: Counter[str] = Counter()
    for marked, folded in _phrase_syllables(text):
        unigrams.update(folded)
        bigrams.update(f"{a}{BIGRAM_JOINER}{b}" for a, b in itertools.pairwise(folded))
        accented.update(m for m, f in zip(marked, folded, strict=True) if m != f)
    return TermBag(
        unigrams=unigrams,
        bigrams=bigrams,
        accented=accented,
        special=Counter(special_terms(text)),
        length=sum(unigrams.values()),
    )


def term_sets(text: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """The distinct terms of `term_bag(text)` (unigrams, bigrams, special), without counting them:
    what coverage features read, for a fraction of the cost."""
    text = normalize_text(text)
    unigrams: set[str] = set()
    bigrams: set[str] = set()
    for _, folded in _phrase_syllables(text):
        unigrams.update(folded)
        bigrams.update(f"{a}{BIGRAM_JOINER}{b}" for a, b in itertools.pairwise(folded))
    return frozenset(unigrams), frozenset(bigrams), frozenset(special_terms(text))


def _to_sparse(weights: Mapping[str, float]) -> SparseVector:
    merged: dict[int, float] = {}
    for term, weight in weights.items():
        if weight <= 0.0:
            continue
        key = term_id(term)
        merged[key] = merged.get(key, 0.0) + weight
    ordered = sorted(merged.items())
    return SparseVector(
        indices=tuple(index for index, _ in ordered), values=tuple(value for _, value in ordered)
    )


def bm25_saturate(term_frequency: float, length: int) -> float:
    """BM25's term-frequency part: saturating in tf, normalised by the chunk's length."""
    norm = BM25_K1 * (1.0 - BM25_B + BM25_B * max(length, 1) / NOMINAL_AVERAGE_LENGTH)
    return term_frequency * (BM25_K1 + 1.0) / (term_frequency + norm)


def _add(target: defaultdict[str, float], source: Iterable[tuple[str, float]], weight: float) -> None:
    for term, count in source:
        target[term] += count * weight


def document_sparse_vector(chunk: Chunk, metadata: DocumentMetadata) -> SparseVector:
    """Sparse vector of a chunk as stored: BM25-saturated tf of body, title, path and FAQ question.

    The body sets the length normalisation; title, document number and path add to the term
    frequencies with their own weights so a question naming the law or article finds it. FAQ
    chunks weigh their question(s) more than the curated answer: users ask like the question.
    """
    body = term_bag(chunk.text)
    frequencies: defaultdict[str, float] = defaultdict(float)
    _add(frequencies, body.weighted().items(), 1.0)
    _add(frequencies, term_bag(metadata.title).weighted().items(), TITLE_WEIGHT)
    if metadata.number:
        _add(frequencies, term_bag(metadata.number).weighted().items(), TITLE_WEIGHT)
        frequencies[NUMBER_PREFIX + fold_diacritics(metadata.number.strip())] += NUMBER_WEIGHT
    if chunk.path:
        _add(frequencies, term_bag(chunk.path).weighted().items(), PATH_WEIGHT)
    length = body.length
    if chunk.kind is ChunkKind.FAQ and chunk.question:
        question = term_bag(chunk.question)
        _add(frequencies, question.weighted().items(), FAQ_QUESTION_WEIGHT)
        length = max(length, question.length)
    return _to_sparse({term: bm25_saturate(tf, length) for term, tf in frequencies.items()})


def query_term_weights(text: str) -> defaultdict[str, float]:
    """Query terms with weights; accented terms only when the query carries diacritics."""
    bag = term_bag(text)
    distinct = TermBag(
        unigrams=Counter(dict.fromkeys(bag.unigrams, 1)),
        bigrams=Counter(dict.fromkeys(bag.bigrams, 1)),
        accented=Counter(dict.fromkeys(bag.accented, 1)),
        special=Counter(dict.fromkeys(bag.special, 1)),
        length=bag.length,
    )
    return distinct.weighted(accented=bool(bag.accented))


def query_sparse_vector(text: str) -> SparseVector:
    """Sparse vector of a question (term weights; the store multiplies in IDF)."""
    return _to_sparse(query_term_weights(text))


def weighted_query_sparse_vector(parts: Iterable[tuple[str, float]]) -> SparseVector:
    """Sparse vector of several texts with their own weights (a follow-up and its context)."""
    total: defaultdict[str, float] = defaultdict(float)
    for text, weight in parts:
        for term, value in query_term_weights(text).items():
            total[term] += value * weight
    return _to_sparse(total)


def idf(document_frequency: int, document_count: int) -> float:
    """Qdrant's IDF, so that in-process features agree with the store's ranking."""
    return math.log(1.0 + (document_count - document_frequency + 0.5) / (document_frequency + 0.5))


__all__ = [
    "TermBag",
    "bm25_saturate",
    "document_sparse_vector",
    "folded_syllables",
    "idf",
    "query_sparse_vector",
    "query_term_weights",
    "special_terms",
    "syllables",
    "term_bag",
    "term_id",
    "term_sets",
    "weighted_query_sparse_vector",
]
