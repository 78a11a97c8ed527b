"""Putting diacritics back on a query typed without them, from the unit's own texts.

`tat song 2g khi nao` → `tắt sóng 2g khi nào`. Lexical matching does not need this (it folds both
sides), but dense models do: e5 ranks unaccented Vietnamese queries badly. The model is a syllable
bigram model over the unit's corpus (`UnitLanguageModel`), decoded with Viterbi; syllables the unit
never wrote are left as typed.
"""

from __future__ import annotations

import itertools
import math
import re

from services.retrieval.domain.unit_model import UnitLanguageModel
from trolyao.vietnamese import fold_diacritics, has_diacritics

CANDIDATES_PER_SYLLABLE = 6
UNIGRAM_WEIGHT = 0.3
PAIR_WEIGHT = 1.0
PAIR_SMOOTHING = 0.05
_TOKEN = re.compile(r"[0-9A-Za-zÀ-ỹĐđ]+|[^0-9A-Za-zÀ-ỹĐđ]+")


class DiacriticRestorer:
    """Restores the diacritics of unaccented queries with a unit's `UnitLanguageModel`."""

    def __init__(self, model: UnitLanguageModel) -> None:
        self._model = model

    def restore(self, text: str) -> str:
        """The most likely accented spelling of `text`; texts already accented are returned as is."""
        if has_diacritics(text):
            return text
        tokens = _TOKEN.findall(text)
        words = [index for index, token in enumerate(tokens) if token[0].isalnum()]
        if not words:
            return text
        lowered = [tokens[index].lower() for index in words]
        restored = self._decode(lowered)
        for index, form in zip(words, restored, strict=True):
            original = tokens[index]
            tokens[index] = _match_case(form, original)
        return "".join(tokens)

    def _candidates(self, folded: str) -> list[tuple[str, float]]:
        forms = self._model.forms(folded)
        if not forms:
            return [(folded, 0.0)]
        total = sum(forms.values())
        best = forms.most_common(CANDIDATES_PER_SYLLABLE)
        return [(form, math.log(count / total)) for form, count in best]

    def _decode(self, syllables: list[str]) -> list[str]:
        columns = [self._candidates(fold_diacritics(s)) for s in syllables]
        # Viterbi: best score and back-pointer per candidate of each column.
        scores = [UNIGRAM_WEIGHT * logp for _, logp in columns[0]]
        back: list[list[int]] = []
        for previous, column in itertools.pairwise(columns):
            new_scores: list[float] = []
            pointers: list[int] = []
            for form, logp in column:
                best_score = -math.inf
                best_index = 0
                for index, (previous_form, _) in enumerate(previous):
                    pair = self._model.pair_count(previous_form, form)
                    score = scores[index] + PAIR_WEIGHT * math.log(pair + PAIR_SMOOTHING)
                    if score > best_score:
                        best_score, best_index = score, index
                new_scores.append(best_score + UNIGRAM_WEIGHT * logp)
                pointers.append(best_index)
            scores = new_scores
            back.append(pointers)
        position = max(range(len(scores)), key=scores.__getitem__)
        path = [position]
        for pointers in reversed(back):
            position = pointers[position]
            path.append(position)
        path.reverse()
        return [column[choice][0] for column, choice in zip(columns, path, strict=True)]


def _match_case(form: str, original: str) -> str:
    if original.isupper() and len(original) > 1:
        return form.upper()
    if original[:1].isupper():
        return form[:1].upper() + form[1:]
    return form


__all__ = ["DiacriticRestorer"]
