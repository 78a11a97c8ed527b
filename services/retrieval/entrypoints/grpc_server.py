"""gRPC edge of the retrieval service: protobuf in, domain calls, protobuf out.

Errors map to gRPC statuses in one table; protobuf types go no further than this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

import grpc

from services.retrieval.adapters.registry_nats import StaleRecord, UnitBusy
from services.retrieval.adapters.unit_archive import ArchiveInfo, ArchiveRejected, read_blocks
from services.retrieval.adapters.unit_transfer import UnitTransfer
from services.retrieval.domain.indexing import Indexer, IndexOutcome, IndexResult
from services.retrieval.domain.model import Answer, ScoredChunk
from services.retrieval.domain.ports import DocumentRegistry, VectorStore
from trolyao.conversions import (
    chunk_from_proto,
    chunk_to_proto,
    metadata_from_proto,
    metadata_to_proto,
)
from trolyao.documents import ChunkKind
from trolyao.logs import get_logger
from trolyao.messaging import UNIT_ID_PATTERN
from trolyao.routing import owner_index
from trolyao.units import SERVICE_DEFAULT_MIN_CONFIDENCE, is_valid_min_confidence
from trolyao.v1 import documents_pb2, retrieval_pb2, retrieval_pb2_grpc

log = get_logger("retrieval")

MAX_QUESTION_CHARS = 2_000
DEFAULT_SEARCH_LIMIT = 10
MAX_SEARCH_LIMIT = 100
ARCHIVE_CHUNK_BYTES = 1024 * 1024

_OUTCOMES = {
    IndexOutcome.INDEXED: retrieval_pb2.INDEX_OUTCOME_INDEXED,
    IndexOutcome.UNCHANGED: retrieval_pb2.INDEX_OUTCOME_UNCHANGED,
    IndexOutcome.STALE: retrieval_pb2.INDEX_OUTCOME_STALE,
    IndexOutcome.DELETED: retrieval_pb2.INDEX_OUTCOME_DELETED,
    IndexOutcome.NOT_FOUND: retrieval_pb2.INDEX_OUTCOME_NOT_FOUND,
}
_KINDS = {ChunkKind.PASSAGE: documents_pb2.CHUNK_KIND_PASSAGE, ChunkKind.FAQ: documents_pb2.CHUNK_KIND_FAQ}


class InvalidRequest(ValueError):
    """The request breaks the contract (bad unit id, empty question, ...)."""


class DocumentNotFound(LookupError):
    """The unit's index holds no such document."""


class UnitNotOwned(LookupError):
    """The unit belongs to another retrieval worker (the caller routed it wrong)."""


class Answering(Protocol):
    """What the servicer needs from the answer engine (see domain.answering.AnswerEngine)."""

    def ask(
        self,
        unit: str,
        question: str,
        history: Sequence[tuple[str, str]] = (),
        *,
        abstain_below: float | None = None,
    ) -> Answer: ...

    def search(self, unit: str, query: str, *, limit: int) -> list[ScoredChunk]: ...


class StreamSequenceLog(Protocol):
    """Where the highest DOCS stream sequence applied per unit is kept (the unit's registry)."""

    def record_stream_sequence(self, unit: str, sequence: int) -> None: ...

    def stream_sequence(self, unit: str) -> int: ...


# domain error → gRPC status: the one table of this edge
_ERROR_STATUS: dict[type[Exception], grpc.StatusCode] = {
    ArchiveRejected: grpc.StatusCode.FAILED_PRECONDITION,
    # Replicas sharing the registry: another replica holds the unit or got there first (retried).
    UnitBusy: grpc.StatusCode.UNAVAILABLE,
    StaleRecord: grpc.StatusCode.ABORTED,
    UnitNotOwned: grpc.StatusCode.FAILED_PRECONDITION,
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    DocumentNotFound: grpc.StatusCode.NOT_FOUND,
    ValueError: grpc.StatusCode.INVALID_ARGUMENT,
}

Reply = TypeVar("Reply")


def _valid_unit(unit: str) -> str:
    if not UNIT_ID_PATTERN.match(unit):
        raise InvalidRequest(f"invalid unit id {unit!r}")
    return unit


def _threshold(min_confidence: float) -> float | None:
    """The unit's abstention threshold, or None (0) for the engine's default."""
    if not is_valid_min_confidence(min_confidence):
        raise InvalidRequest("min_confidence must be 0 (the default) or strictly between 0 and 1")
    return None if min_confidence == SERVICE_DEFAULT_MIN_CONFIDENCE else min_confidence


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServiceServicer):
    def __init__(
        self,
        *,
        indexer: Indexer,
        engine: Answering,
        store: VectorStore,
        registry: DocumentRegistry,
        embedding_model: str,
        sequences: StreamSequenceLog | None = None,
        transfer: UnitTransfer | None = None,
        workers: int = 1,
        worker_index: int = 0,
    ) -> None:
        self._workers = workers
        self._worker_index = worker_index
        self._indexer = indexer
        self._engine = engine
        self._store = store
        self._registry = registry
        self._embedding_model = embedding_model
        self._sequences = sequences
        self._transfer = transfer

    def _call(self, context: grpc.ServicerContext, rpc: str, work: Callable[[], Reply]) -> Reply:
        try:
            return work()
        except Exception as error:
            status = next(
                (code for kind, code in _ERROR_STATUS.items() if isinstance(error, kind)),
                grpc.StatusCode.INTERNAL,
            )
            if status is grpc.StatusCode.INTERNAL:
                log.exception("rpc_failed", rpc=rpc)
            context.abort(status, str(error))
            raise  # unreachable: abort raises

    def _unit(self, unit: str) -> str:
        """A valid unit id that this worker owns (trolyao/routing.py), else the refusal."""
        unit = _valid_unit(unit)
        owner = owner_index(unit, self._workers)
        if owner != self._worker_index:
            raise UnitNotOwned(
                f"đơn vị {unit!r} do tiến trình tìm kiếm số {owner} (trên {self._workers}) phục vụ, "
                f"không phải tiến trình số {self._worker_index}: bên gọi cần định tuyến theo "
                "TROLYAO_RETRIEVAL_ADDRESSES"
            )
        return unit

    def _record_sequence(self, unit: str, sequence: int) -> None:
        if self._sequences is not None and sequence > 0:
            self._sequences.record_stream_sequence(unit, sequence)

    def IndexDocument(
        self, request: retrieval_pb2.IndexDocumentRequest, context: grpc.ServicerContext
    ) -> retrieval_pb2.IndexDocumentResponse:
        def work() -> retrieval_pb2.IndexDocumentResponse:
            if not request.document_id:
                raise InvalidRequest("document_id is required")
            result = self._indexer.index_document(
                self._unit(request.unit),
                request.document_id,
                version=request.version,
                content_hash=request.content_hash,
                metadata=metadata_from_proto(request.metadata),
                chunks=[chunk_from_proto(chunk) for chunk in request.chunks],
                force=request.force,
            )
            self._record_sequence(request.unit, request.stream_sequence)
            log.info(
                "document_index_applied",
                unit=request.unit,
                outcome=result.outcome.value,
                chunks=result.chunk_count,
                version=request.version,
            )
            return _index_reply(result)

        return self._call(context, "IndexDocument", work)

    def DeleteDocument(
        self, request: retrieval_pb2.DeleteDocumentRequest, context: grpc.ServicerContext
    ) -> retrieval_pb2.DeleteDocumentResponse:
        def work() -> retrieval_pb2.DeleteDocumentResponse:
            result = self._indexer.delete_document(
                self._unit(request.unit), request.document_id, version=request.version
            )
            self._record_sequence(request.unit, request.stream_sequence)
            return retrieval_pb2.DeleteDocumentResponse(
                outcome=_OUTCOMES[result.outcome], current_version=result.current_version
            )

        return self._call(context, "DeleteDocument", work)

    def Ask(
        self, request: retrieval_pb2.AskRequest, context: grpc.ServicerContext
    ) -> retrieval_pb2.AskResponse:
        def work() -> retrieval_pb2.AskResponse:
            question = request.question.strip()
            if not question or len(question) > MAX_QUESTION_CHARS:
                raise InvalidRequest("question must have 1 to 2000 characters")
            history = [(turn.question, turn.answer) for turn in request.history]
            answer = self._engine.ask(
                self._unit(request.unit), question, history, abstain_below=_threshold(request.min_confidence)
            )
            limit = request.max_citations or len(answer.citations)
            return retrieval_pb2.AskResponse(
                answered=answer.answered,
                answer=answer.text,
                confidence=answer.confidence,
                answer_source=answer.source,
                resolved_question=answer.resolved_question,
                citations=[
                    retrieval_pb2.Citation(
                        document_id=citation.document_id,
                        title=citation.title,
                        snippet=citation.snippet,
                        path=citation.path,
                        number=citation.number,
                        source_url=citation.source_url,
                        chunk_ordinal=citation.chunk_ordinal,
                        score=citation.score,
                        role=citation.role,
                        passage=citation.passage,
                        question=citation.question,
                    )
                    for citation in answer.citations[:limit]
                ],
            )

        return self._call(context, "Ask", work)

    def Search(
        self, request: retrieval_pb2.SearchRequest, context: grpc.ServicerContext
    ) -> retrieval_pb2.SearchResponse:
        def work() -> retrieval_pb2.SearchResponse:
            limit = min(request.limit or DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT)
            hits = self._engine.search(self._unit(request.unit), request.query, limit=limit)
            return retrieval_pb2.SearchResponse(
                hits=[
                    retrieval_pb2.SearchHit(
                        document_id=hit.document_id,
                        chunk_ordinal=hit.chunk.ordinal,
                        text=hit.chunk.text,
                        path=hit.chunk.path,
                        metadata=metadata_to_proto(hit.metadata),
                        score=hit.score,
                        kind=_KINDS[hit.chunk.kind],
                    )
                    for hit in hits
                ]
            )

        return self._call(context, "Search", work)

    def ListDocuments(
        self, request: retrieval_pb2.ListDocumentsRequest, context: grpc.ServicerContext
    ) -> retrieval_pb2.ListDocumentsResponse:
        def work() -> retrieval_pb2.ListDocumentsResponse:
            records = self._registry.list(self._unit(request.unit))
            return retrieval_pb2.ListDocumentsResponse(
                documents=[
                    retrieval_pb2.IndexedDocument(
                        document_id=record.document_id,
                        version=record.version,
                        content_hash=record.content_hash,
                        chunk_count=record.chunk_count,
                        metadata=metadata_to_proto(record.metadata),
                    )
                    for record in records
                ]
            )

        return self._call(context, "ListDocuments", work)

    def GetDocumentChunks(
        self, request: retrieval_pb2.GetDocumentChunksRequest, context: grpc.ServicerContext
    ) -> retrieval_pb2.GetDocumentChunksResponse:
        def work() -> retrieval_pb2.GetDocumentChunksResponse:
            unit = self._unit(request.unit)
            record = self._registry.get(unit, request.document_id)
            if record is None or record.deleted:
                raise DocumentNotFound(request.document_id)
            hits = self._store.document_chunks(unit, request.document_id)
            return retrieval_pb2.GetDocumentChunksResponse(
                document_id=record.document_id,
                version=record.version,
                metadata=metadata_to_proto(record.metadata),
                chunks=[chunk_to_proto(hit.chunk) for hit in hits],
            )

        return self._call(context, "GetDocumentChunks", work)

    def GetUnitStats(
        self, request: retrieval_pb2.GetUnitStatsRequest, context: grpc.ServicerContext
    ) -> retrieval_pb2.UnitStats:
        def work() -> retrieval_pb2.UnitStats:
            unit = self._unit(request.unit)
            return retrieval_pb2.UnitStats(
                unit=unit,
                documents=len(self._registry.list(unit)),
                chunks=self._store.count(unit) if unit in self._store.units() else 0,
                embedding_model=self._embedding_model,
                stream_sequence=self._sequences.stream_sequence(unit) if self._sequences else 0,
            )

        return self._call(context, "GetUnitStats", work)

    def ExportUnit(
        self, request: retrieval_pb2.ExportUnitRequest, context: grpc.ServicerContext
    ) -> Iterator[retrieval_pb2.UnitArchiveChunk]:
        def work() -> tuple[retrieval_pb2.UnitArchiveInfo, Iterator[bytes], Callable[[], None]]:
            if self._transfer is None:
                raise NotImplementedError("unit export is not configured")
            exported = self._transfer.export_unit(self._unit(request.unit))
            info = _archive_info_to_proto(exported.info, size=exported.size, sha256=exported.sha256)
            return info, read_blocks(exported.path, ARCHIVE_CHUNK_BYTES), exported.discard

        info, blocks, discard = self._call(context, "ExportUnit", work)
        try:
            yield retrieval_pb2.UnitArchiveChunk(info=info)
            for block in blocks:
                yield retrieval_pb2.UnitArchiveChunk(data=block)
        finally:
            discard()

    def ImportUnit(
        self, request_iterator: Iterable[retrieval_pb2.UnitArchiveChunk], context: grpc.ServicerContext
    ) -> retrieval_pb2.ImportUnitResponse:
        def work() -> retrieval_pb2.ImportUnitResponse:
            if self._transfer is None:
                raise NotImplementedError("unit import is not configured")
            chunks = iter(request_iterator)
            first = next(chunks, None)
            if first is None or not first.HasField("info"):
                raise InvalidRequest("the first message must carry the archive's info")
            unit = self._unit(first.info.unit)
            with self._transfer.receiving(unit) as staging:
                archive = staging / "incoming.tar.gz"
                received = 0
                with archive.open("wb") as handle:
                    for chunk in chunks:
                        received += len(chunk.data)
                        if received > first.info.size:
                            raise ArchiveRejected("dữ liệu nhận được dài hơn kích thước đã khai báo")
                        handle.write(chunk.data)
                restored = self._transfer.import_unit(
                    unit, archive, size=first.info.size, sha256=first.info.sha256
                )
            return retrieval_pb2.ImportUnitResponse(info=_archive_info_to_proto(restored))

        return self._call(context, "ImportUnit", work)

    def DeleteUnit(
        self, request: retrieval_pb2.DeleteUnitIndexRequest, context: grpc.ServicerContext
    ) -> retrieval_pb2.DeleteUnitIndexResponse:
        def work() -> retrieval_pb2.DeleteUnitIndexResponse:
            if self._transfer is None:
                raise NotImplementedError("unit deletion is not configured")
            documents, chunks = self._transfer.drop_unit(self._unit(request.unit))
            return retrieval_pb2.DeleteUnitIndexResponse(documents=documents, chunks=chunks)

        return self._call(context, "DeleteUnit", work)


def _archive_info_to_proto(
    info: ArchiveInfo, *, size: int = 0, sha256: str = ""
) -> retrieval_pb2.UnitArchiveInfo:
    return retrieval_pb2.UnitArchiveInfo(
        unit=info.unit,
        format=info.format,
        stream_sequence=info.stream_sequence,
        embedding_model=info.embedding_model,
        dense_dimension=info.dense_dimension,
        documents=info.documents,
        chunks=info.chunks,
        created_at=info.created_at,
        size=size,
        sha256=sha256,
    )


def _index_reply(result: IndexResult) -> retrieval_pb2.IndexDocumentResponse:
    return retrieval_pb2.IndexDocumentResponse(
        outcome=_OUTCOMES[result.outcome],
        chunk_count=result.chunk_count,
        current_version=result.current_version,
    )
