"""Retrieval over gRPC, as ingest needs it. Transport failures become `RetrievalUnavailable`."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from trolyao.conversions import chunk_to_proto, metadata_to_proto
from trolyao.documents import Chunk, DocumentMetadata
from trolyao.routing import RetrievalRoutes
from trolyao.v1 import retrieval_pb2

_RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
}
_OUTCOME_NAMES = {
    retrieval_pb2.INDEX_OUTCOME_INDEXED: "indexed",
    retrieval_pb2.INDEX_OUTCOME_UNCHANGED: "unchanged",
    retrieval_pb2.INDEX_OUTCOME_STALE: "stale",
    retrieval_pb2.INDEX_OUTCOME_DELETED: "deleted",
    retrieval_pb2.INDEX_OUTCOME_NOT_FOUND: "not_found",
}


class RetrievalUnavailable(RuntimeError):
    """Retrieval could not be reached or failed transiently: retry later."""


class RetrievalRejected(ValueError):
    """Retrieval refused the request as invalid: retrying will not help."""


class GrpcRetrievalClient:
    """Index and delete calls, each sent to the retrieval worker that owns the unit."""

    def __init__(
        self, address: str | Sequence[str], *, timeout_seconds: float, service_token: str = ""
    ) -> None:
        self._routes = RetrievalRoutes(address, service_token=service_token)
        self._timeout = timeout_seconds

    async def index_document(
        self,
        *,
        unit: str,
        document_id: str,
        version: int,
        content_hash: str,
        metadata: DocumentMetadata,
        chunks: Sequence[Chunk],
        force: bool = False,
        stream_sequence: int = 0,
    ) -> tuple[str, int]:
        """Returns (outcome name, chunk count)."""
        request = retrieval_pb2.IndexDocumentRequest(
            unit=unit,
            document_id=document_id,
            version=version,
            content_hash=content_hash,
            metadata=metadata_to_proto(metadata),
            chunks=[chunk_to_proto(chunk) for chunk in chunks],
            force=force,
            stream_sequence=stream_sequence,
        )
        try:
            reply = await self._routes.stub(unit).IndexDocument(
                request, timeout=self._timeout, wait_for_ready=False
            )
        except grpc.aio.AioRpcError as error:
            raise _translate(error) from error
        return _OUTCOME_NAMES.get(reply.outcome, "unknown"), reply.chunk_count

    async def delete_document(
        self, *, unit: str, document_id: str, version: int, stream_sequence: int = 0
    ) -> str:
        request = retrieval_pb2.DeleteDocumentRequest(
            unit=unit, document_id=document_id, version=version, stream_sequence=stream_sequence
        )
        try:
            reply = await self._routes.stub(unit).DeleteDocument(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise _translate(error) from error
        return _OUTCOME_NAMES.get(reply.outcome, "unknown")

    async def close(self) -> None:
        await self._routes.close()


def _translate(error: grpc.aio.AioRpcError) -> Exception:
    if error.code() in _RETRYABLE:
        return RetrievalUnavailable(f"{error.code().name}: {error.details()}")
    return RetrievalRejected(f"{error.code().name}: {error.details()}")
