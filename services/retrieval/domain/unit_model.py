"""Per-unit language statistics the answer engine learns from the unit's own documents.

One `UnitLanguageModel` per unit holds:

- document frequencies of folded syllables and syllable pairs, so the composer and verifier can
  weigh question terms by rarity in *this* unit's knowledge (the store's IDF stays inside Qdrant);
- counts of accented syllables and accented syllable pairs keyed by their folded form, from which
  `diacritics.DiacriticRestorer` puts the marks back on queries typed without them.

It changes only by `add` / `remove` of chunk texts, so the retrieval service keeps it in step with
the index: on every document upsert it removes the document's previous chunks and adds the new
ones; on delete it removes them (see `AnswerEngine.on_document_changed`). `UnitModelRepository`
is the port that keeps it across restarts; `to_json` / `from_json` is its serial form.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.retrieval.domain.lexical import BIGRAM_JOINER, idf, syllables, term_bag
from trolyao.vietnamese import fold_diacritics

FORMAT_VERSION = 1
PAIR_JOINER = " "

# Below this many chunks a unit's document frequencies say little about rarity (see `idf`).
MIN_IDF_CHUNKS = 50


@dataclass(slots=True)
class UnitLanguageModel:
    """Counts over one unit's chunks (passages, titles and FAQ questions)."""

    chunk_count: int = 0
    total_length: int = 0
    document_frequency: Counter[str] = field(default_factory=Counter)
    accented_forms: dict[str, Counter[str]] = field(default_factory=dict)
    accented_pairs: Counter[str] = field(default_factory=Counter)

    def add(self, texts: Iterable[str]) -> None:
        """Count the texts of chunks that were indexed (one text per chunk)."""
        self._update(texts, +1)

    def remove(self, texts: Iterable[str]) -> None:
        """Un-count the texts of chunks that left the index."""
        self._update(texts, -1)

    def _update(self, texts: Iterable[str], sign: int) -> None:
        for text in texts:
            bag = term_bag(text)
            self.chunk_count += sign
            self.total_length += sign * bag.length
            for term in (*bag.unigrams, *bag.bigrams):
                self.document_frequency[term] += sign
                if self.document_frequency[term] <= 0:
                    del self.document_frequency[term]
            self._update_accents(text, sign)

    def _update_accents(self, text: str, sign: int) -> None:
        marked = syllables(text)
        for syllable in marked:
            folded = fold_diacritics(syllable)
            forms = self.accented_forms.setdefault(folded, Counter())
            forms[syllable] += sign
            if forms[syllable] <= 0:
                del forms[syllable]
                if not forms:
                    del self.accented_forms[folded]
        for first, second in itertools.pairwise(marked):
            pair = first + PAIR_JOINER + second
            self.accented_pairs[pair] += sign
            if self.accented_pairs[pair] <= 0:
                del self.accented_pairs[pair]

    def idf(self, term: str) -> float:
        """Rarity of a folded term (syllable or `a_b` pair) in this unit; unseen terms rate highest.

        Counted as if the unit held at least `MIN_IDF_CHUNKS` chunks: in a unit of one document
        every word it holds would otherwise weigh a fifth of a word it lacks, and any question
        worded a little differently from the text would look like it asked about something else.
        """
        return idf(self.document_frequency.get(term, 0), max(self.chunk_count, MIN_IDF_CHUNKS))

    def max_idf(self) -> float:
        """The IDF of a term seen nowhere: the ceiling of `idf`."""
        return idf(0, max(self.chunk_count, MIN_IDF_CHUNKS))

    def knows(self, term: str) -> bool:
        """Whether any chunk of the unit contains the folded term."""
        return term in self.document_frequency

    def pair_count(self, first: str, second: str) -> int:
        """How often two accented syllables follow each other in the unit's texts."""
        return self.accented_pairs.get(first + PAIR_JOINER + second, 0)

    def forms(self, folded: str) -> Counter[str]:
        """Accented spellings seen for a folded syllable, with counts."""
        return self.accented_forms.get(folded, Counter())

    @property
    def average_length(self) -> float:
        """Mean chunk length in syllables."""
        return self.total_length / self.chunk_count if self.chunk_count else 0.0

    def to_json(self) -> dict[str, Any]:
        """Serial form for `UnitModelRepository` adapters."""
        return {
            "format": FORMAT_VERSION,
            "chunk_count": self.chunk_count,
            "total_length": self.total_length,
            "document_frequency": dict(self.document_frequency),
            "accented_forms": {key: dict(value) for key, value in self.accented_forms.items()},
            "accented_pairs": dict(self.accented_pairs),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UnitLanguageModel:
        """Inverse of `to_json`; raises ValueError on an unknown format."""
        if data.get("format") != FORMAT_VERSION:
            raise ValueError("unknown unit model format")
        return cls(
            chunk_count=int(data["chunk_count"]),
            total_length=int(data["total_length"]),
            document_frequency=Counter(data["document_frequency"]),
            accented_forms={key: Counter(value) for key, value in data["accented_forms"].items()},
            accented_pairs=Counter(data["accented_pairs"]),
        )


def bigram_term(first: str, second: str) -> str:
    """The folded pair term as `lexical` spells it."""
    return f"{first}{BIGRAM_JOINER}{second}"


def smoothed_log_ratio(count: int, total: int) -> float:
    """log((count + 1) / (total + 2)): a small-sample-safe log frequency."""
    return math.log((count + 1.0) / (total + 2.0))


class UnitModelRepository(Protocol):
    """Keeps each unit's `UnitLanguageModel` across restarts (adapters: in memory, JSON files)."""

    def get(self, unit: str) -> UnitLanguageModel:
        """The unit's model (an empty one for a unit never seen)."""

    def changed(self, unit: str) -> None:
        """The unit's model was modified in place; persist it at the next `flush`."""

    def drop(self, unit: str) -> None:
        """Forget the unit's model."""

    def flush(self) -> None:
        """Persist every changed model."""


class InMemoryUnitModelRepository:
    """Unit models kept in process memory only (tests, the dev harness)."""

    def __init__(self) -> None:
        self._models: dict[str, UnitLanguageModel] = {}

    def get(self, unit: str) -> UnitLanguageModel:
        """The unit's model, created empty on first use."""
        return self._models.setdefault(unit, UnitLanguageModel())

    def changed(self, unit: str) -> None:
        """Nothing to persist."""

    def drop(self, unit: str) -> None:
        """Forget the unit's model."""
        self._models.pop(unit, None)

    def flush(self) -> None:
        """Nothing to persist."""


__all__ = [
    "InMemoryUnitModelRepository",
    "UnitLanguageModel",
    "UnitModelRepository",
    "bigram_term",
    "smoothed_log_ratio",
]
