"""The answer engine: a unit's question in, a sourced answer (or an honest abstention) out.

Flow of `AnswerEngine.ask`:

1. normalise the question and resolve a follow-up against the conversation (`conversation`);
2. restore diacritics of an unaccented question for the dense side (`diacritics`);
3. hybrid search of the unit only: sparse + dense, RRF fusion, rerank (`search`);
4. curated FAQ first: a confident match returns the curated answer verbatim (`faq`);
5. otherwise quote the sentence(s) that answer it (`composer`) and let the verifier judge whether
   they answer what was asked (`verifier`); below the threshold, abstain with a helpful message.

Per-unit state (corpus statistics for IDF features and diacritic restoration) lives in a
`UnitModelRepository`; the retrieval service keeps it in step with the index through
`on_document_changed` / `on_unit_dropped` and persists it with `flush`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from services.retrieval.domain.composer import (
    ANSWER_MAX_CHARS,
    PASSAGE_RANK_WEIGHT,
    RERANKED_PASSAGE_RANK_WEIGHT,
    ComposedAnswer,
    cite,
    compose,
)
from services.retrieval.domain.conversation import CONTEXT_WEIGHT, ResolvedQuestion, resolve
from services.retrieval.domain.diacritics import DiacriticRestorer
from services.retrieval.domain.faq import FAQ_MATCH_THRESHOLD, FaqMatch, best_faq_match
from services.retrieval.domain.generation import GroundedGeneration
from services.retrieval.domain.matching import QuestionTerms, question_terms
from services.retrieval.domain.model import (
    Answer,
    ChunkKind,
    Citation,
    ScoredChunk,
    StoredChunk,
)
from services.retrieval.domain.ports import Embedder, Generator, VectorStore
from services.retrieval.domain.search import (
    HYBRID_RERANKER,
    Candidate,
    HybridSearcher,
    SearchQuery,
    SearchSettings,
    as_scored,
)
from services.retrieval.domain.unit_model import (
    InMemoryUnitModelRepository,
    UnitLanguageModel,
    UnitModelRepository,
)
from services.retrieval.domain.verifier import AnswerVerifier, weights_for
from trolyao.vietnamese import has_diacritics, normalize_text

logger = logging.getLogger(__name__)

SNIPPET_CHARS = 300
CITATION_LIMIT = 5
# Another passage is cited as "related" only when it covers this share of the question's
# content (IDF mass, title included); below it, it is a search hit, not a source.
RELATED_MIN_COVERAGE = 0.6
ABSTAIN_BELOW = 0.5
ABSTENTION_OPENING = "Tôi chưa có thông tin để trả lời câu hỏi này từ tài liệu của đơn vị."
ABSTENTION_RECORDED = "Câu hỏi của bạn đã được ghi lại để đơn vị bổ sung."
EMPTY_QUESTION_MESSAGE = "Tôi chưa có thông tin: câu hỏi trống."


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    """Knobs of answering; defaults are the values measured best on dev questions."""

    search: SearchSettings = field(default_factory=SearchSettings)
    answer_max_chars: int = ANSWER_MAX_CHARS
    abstain_below: float = ABSTAIN_BELOW
    faq_match_threshold: float = FAQ_MATCH_THRESHOLD
    citation_limit: int = CITATION_LIMIT
    snippet_chars: int = SNIPPET_CHARS
    restore_diacritics: bool = True
    # With an embedder and no reranker of its own, rerank with `HYBRID_RERANKER`.
    rerank: bool = True
    # "" (production) or "without-<set>": the verifier fitted without that evaluation set (make eval).
    verifier_variant: str = ""


ChunkLike = StoredChunk | ScoredChunk


def model_texts(chunk: ChunkLike) -> str:
    """The text of a chunk that the unit model counts (title, path, FAQ question, body)."""
    parts = (chunk.metadata.title, chunk.chunk.path, chunk.chunk.question, chunk.chunk.text)
    return "\n".join(part for part in parts if part)


class AnswerEngine:
    """Answers a unit's questions from that unit's knowledge only, with sources, or abstains."""

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder | None,
        *,
        settings: AnswerSettings | None = None,
        unit_models: UnitModelRepository | None = None,
        verifier: AnswerVerifier | None = None,
        generator: Generator | None = None,
    ) -> None:
        """`generator` turns on the optional generative mode (`domain.generation`); None: extractive."""
        self._store = store
        self._embedder = embedder
        self._settings = settings or AnswerSettings()
        self._unit_models: UnitModelRepository = unit_models or InMemoryUnitModelRepository()
        self._verifier = verifier or AnswerVerifier(
            weights_for(hybrid=embedder is not None, variant=self._settings.verifier_variant)
        )
        search = self._settings.search
        if self._settings.rerank and search.reranker is None and embedder is not None:
            search = dataclasses.replace(search, reranker=HYBRID_RERANKER)
        self._searcher = HybridSearcher(store, embedder, search)
        self._passage_rank_weight = (
            RERANKED_PASSAGE_RANK_WEIGHT if search.reranker is not None else PASSAGE_RANK_WEIGHT
        )
        self._generation = (
            GroundedGeneration(
                generator,
                citation_limit=self._settings.citation_limit,
                snippet_chars=self._settings.snippet_chars,
                answer_max_chars=self._settings.answer_max_chars,
            )
            if generator is not None
            else None
        )

    # -- keeping per-unit state in step with the index -------------------------------------

    def on_document_changed(
        self,
        unit: str,
        *,
        added: Sequence[ChunkLike] = (),
        removed: Sequence[ChunkLike] = (),
    ) -> None:
        """Call after a document's chunks changed in the store.

        On upsert pass the document's previous chunks (read with `store.document_chunks` before
        replacing them) as `removed` and the new ones as `added`; on delete pass only `removed`.
        """
        model = self._unit_models.get(unit)
        model.remove(model_texts(chunk) for chunk in removed)
        model.add(model_texts(chunk) for chunk in added)
        self._unit_models.changed(unit)

    def on_unit_dropped(self, unit: str) -> None:
        """Call after the unit's whole index was dropped."""
        self._unit_models.drop(unit)

    def rebuild_unit_model(self, unit: str, chunks: Iterable[ChunkLike]) -> None:
        """Recount the unit's model from all its chunks (after a restore or a lost model file)."""
        self._unit_models.drop(unit)
        model = self._unit_models.get(unit)
        model.add(model_texts(chunk) for chunk in chunks)
        self._unit_models.changed(unit)

    def flush(self) -> None:
        """Persist changed unit models."""
        self._unit_models.flush()

    # -- search and answer -----------------------------------------------------------------

    def _query(self, resolved: ResolvedQuestion, model: UnitLanguageModel) -> SearchQuery:
        dense_text = resolved.combined
        if self._settings.restore_diacritics and not has_diacritics(dense_text):
            dense_text = DiacriticRestorer(model).restore(dense_text)
        terms = question_terms(resolved.focus, model)
        if resolved.context:
            terms = _with_context(terms, question_terms(resolved.context, model))
        return SearchQuery(sparse_parts=resolved.sparse_parts(), dense_text=dense_text, terms=terms)

    def search(self, unit: str, query: str, *, limit: int) -> list[ScoredChunk]:
        """The unit's best chunks for a query (hybrid, fused, reranked), best first."""
        model = self._unit_models.get(unit)
        resolved = resolve(normalize_text(query), ())
        search_query = self._query(resolved, model)
        vector = self._searcher.embed(search_query)
        return as_scored(self._searcher.candidates(unit, search_query, dense_vector=vector), limit)

    def rank_passages(self, unit: str, question: str) -> tuple[list[Candidate], SearchQuery, str]:
        """The unit's ranked candidates for a question, with its query and resolved text: what the
        composer reads (used by the scripts that fit the composer's sentence weights)."""
        model = self._unit_models.get(unit)
        resolved = resolve(normalize_text(question), ())
        query = self._query(resolved, model)
        vector = self._searcher.embed(query)
        return self._searcher.candidates(unit, query, dense_vector=vector), query, resolved.combined

    def ask(
        self,
        unit: str,
        question: str,
        history: Sequence[tuple[str, str]] = (),
        *,
        abstain_below: float | None = None,
    ) -> Answer:
        """Answer a question from the unit's knowledge, or abstain.

        `history` is the conversation so far, oldest first, as (question, answer) turns or as
        (role, text) messages; it is used to read follow-ups such as "còn lợi nhuận thì sao?".
        `abstain_below` is the unit's own threshold for composed answers (None: the setting's);
        FAQ answers are matched by similarity and do not depend on it.
        """
        started = time.perf_counter()
        text = normalize_text(question)
        if not text:
            return Answer(answered=False, text=EMPTY_QUESTION_MESSAGE)
        model = self._unit_models.get(unit)
        resolved = resolve(text, history)
        query = self._query(resolved, model)
        vector = self._searcher.embed(query)
        candidates = self._searcher.candidates(unit, query, dense_vector=vector)
        faq = self._faq_answer(unit, query, vector, model, resolved)
        answer = (
            faq
            if faq is not None
            else self._extractive_answer(candidates, query, model, resolved, abstain_below=abstain_below)
        )
        logger.info(
            "answer.done",
            extra={
                "unit": unit,
                "answered": answer.answered,
                "source": answer.source,
                "confidence": round(answer.confidence, 3),
                "elapsed_ms": round((time.perf_counter() - started) * 1000.0, 1),
            },
        )
        return answer

    def _faq_answer(
        self,
        unit: str,
        query: SearchQuery,
        vector: Sequence[float] | None,
        model: UnitLanguageModel,
        resolved: ResolvedQuestion,
    ) -> Answer | None:
        faq_candidates = self._searcher.candidates(unit, query, dense_vector=vector, kind=ChunkKind.FAQ)
        match = best_faq_match(faq_candidates, query.terms, model)
        if match is None or match.similarity < self._settings.faq_match_threshold:
            return None
        return self._faq_reply(match, faq_candidates, resolved)

    def _faq_reply(self, match: FaqMatch, candidates: list[Candidate], resolved: ResolvedQuestion) -> Answer:
        hit = match.candidate.hit
        citations = self._citations(match.candidate, candidates, None)
        return Answer(
            answered=True,
            text=hit.chunk.text,
            citations=citations,
            confidence=match.similarity,
            source="faq",
            resolved_question=resolved.display,
            signals={"faq_similarity": match.similarity},
        )

    def _extractive_answer(
        self,
        candidates: list[Candidate],
        query: SearchQuery,
        model: UnitLanguageModel,
        resolved: ResolvedQuestion,
        *,
        abstain_below: float | None = None,
    ) -> Answer:
        composed = compose(
            candidates,
            query.terms,
            resolved.combined,
            budget=self._settings.answer_max_chars,
            passage_rank_weight=self._passage_rank_weight,
        )
        if composed is None:
            return self._abstain(candidates, resolved, 0.0, {})
        verdict = self._verifier.verify(composed, model)
        threshold = self._settings.abstain_below if abstain_below is None else abstain_below
        if verdict.confidence < threshold:
            return self._abstain(candidates, resolved, verdict.confidence, verdict.features)
        answer = Answer(
            answered=True,
            text=composed.text,
            citations=self._citations(composed.candidate, candidates, composed),
            confidence=verdict.confidence,
            source="extractive",
            resolved_question=resolved.display,
            signals=verdict.features,
        )
        if self._generation is None:
            return answer
        return self._generation.rewrite(answer, composed, resolved.display)

    def _abstain(
        self,
        candidates: list[Candidate],
        resolved: ResolvedQuestion,
        confidence: float,
        signals: dict[str, float],
    ) -> Answer:
        parts = [ABSTENTION_OPENING]
        if candidates:
            closest = candidates[0].hit
            where = ", ".join(part for part in (closest.metadata.number, closest.chunk.path) if part)
            title = closest.metadata.title or closest.document_id
            parts.append(
                f"Nội dung gần nhất tôi tìm thấy là «{title}»" + (f" ({where})" if where else "") + "."
            )
        parts.append(ABSTENTION_RECORDED)
        return Answer(
            answered=False,
            text=" ".join(parts),
            citations=(
                cite(candidates[0], None, snippet_chars=self._settings.snippet_chars, role="closest"),
            )
            if candidates
            else (),
            confidence=confidence,
            source="none",
            resolved_question=resolved.display,
            signals=signals,
        )

    def _citations(
        self, source: Candidate, candidates: Sequence[Candidate], composed: ComposedAnswer | None
    ) -> tuple[Citation, ...]:
        """The passage the answer rests on, then other documents' passages that pass the bar."""
        snippet_chars = self._settings.snippet_chars
        citations = [cite(source, composed, snippet_chars=snippet_chars)]
        seen = {source.hit.document_id}
        for candidate in candidates:
            if len(citations) >= self._settings.citation_limit:
                break
            if candidate.hit.document_id in seen:
                continue
            seen.add(candidate.hit.document_id)
            if candidate.features.get("coverage", 0.0) >= RELATED_MIN_COVERAGE:
                citations.append(cite(candidate, None, snippet_chars=snippet_chars, role="related"))
        return tuple(citations)


def _with_context(focus: QuestionTerms, context: QuestionTerms) -> QuestionTerms:
    """Focus terms at full weight, earlier-turn terms at `CONTEXT_WEIGHT`."""
    unigrams = {t: w * CONTEXT_WEIGHT for t, w in context.unigrams.items()}
    unigrams.update(focus.unigrams)
    bigrams = {t: w * CONTEXT_WEIGHT for t, w in context.bigrams.items()}
    bigrams.update(focus.bigrams)
    return QuestionTerms(
        unigrams=unigrams,
        bigrams=bigrams,
        special=focus.special | context.special,
        max_idf=focus.max_idf,
    )


__all__ = ["AnswerEngine", "AnswerSettings", "model_texts"]
