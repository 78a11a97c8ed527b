"""Unit archives over retrieval's gRPC (ExportUnit / ImportUnit / GetUnitStats).

Protobuf stops here: the snapshot handlers see `UnitArchiveHeader` and byte blocks. A refusal by
retrieval (FAILED_PRECONDITION: damaged archive, another unit or embedding model) becomes
`SnapshotRejected`, so the operator gets retrieval's Vietnamese reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import grpc

from services.ops.recovery.domain.snapshot_ports import UnitArchiveHeader, UnitIndexStats
from services.ops.recovery.domain.snapshots import RejectionCode, SnapshotRejected
from trolyao.routing import RetrievalRoutes
from trolyao.v1 import retrieval_pb2


class RetrievalUnavailable(RuntimeError):
    """Retrieval could not be reached or failed."""


def header_from_proto(info: retrieval_pb2.UnitArchiveInfo) -> UnitArchiveHeader:
    return UnitArchiveHeader(
        unit=info.unit,
        format=info.format,
        stream_sequence=info.stream_sequence,
        embedding_model=info.embedding_model,
        dense_dimension=info.dense_dimension,
        documents=info.documents,
        chunks=info.chunks,
        created_at=info.created_at,
        size=info.size,
        sha256=info.sha256,
    )


def header_to_proto(header: UnitArchiveHeader) -> retrieval_pb2.UnitArchiveInfo:
    return retrieval_pb2.UnitArchiveInfo(
        unit=header.unit,
        format=header.format,
        stream_sequence=header.stream_sequence,
        embedding_model=header.embedding_model,
        dense_dimension=header.dense_dimension,
        documents=header.documents,
        chunks=header.chunks,
        created_at=header.created_at,
        size=header.size,
        sha256=header.sha256,
    )


def _translate(error: grpc.aio.AioRpcError) -> Exception:
    if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
        return SnapshotRejected(
            RejectionCode.INCOMPATIBLE, f"Dịch vụ tìm kiếm từ chối bản lưu: {error.details()}"
        )
    return RetrievalUnavailable(f"retrieval {error.code().name}: {error.details()}")


class GrpcUnitArchives:
    """`UnitArchives` on retrieval's gRPC service, each unit at the worker that owns it; owns its
    channels (`close()`)."""

    def __init__(
        self, address: str | Sequence[str], *, timeout_seconds: float, service_token: str = ""
    ) -> None:
        self._routes = RetrievalRoutes(address, service_token=service_token)
        self._timeout = timeout_seconds

    async def export_unit(self, unit: str) -> tuple[UnitArchiveHeader, AsyncIterator[bytes]]:
        call = self._routes.stub(unit).ExportUnit(
            retrieval_pb2.ExportUnitRequest(unit=unit), timeout=self._timeout
        )
        try:
            first = await call.read()
        except grpc.aio.AioRpcError as error:
            raise _translate(error) from error
        if first is grpc.aio.EOF or not first.HasField("info"):
            raise RetrievalUnavailable("retrieval sent no archive info")
        header = header_from_proto(first.info)

        async def blocks() -> AsyncIterator[bytes]:
            try:
                while True:
                    message = await call.read()
                    if message is grpc.aio.EOF:
                        return
                    yield message.data
            except grpc.aio.AioRpcError as error:
                raise _translate(error) from error

        return header, blocks()

    async def import_unit(self, header: UnitArchiveHeader, blocks: AsyncIterator[bytes]) -> UnitArchiveHeader:
        async def requests() -> AsyncIterator[retrieval_pb2.UnitArchiveChunk]:
            yield retrieval_pb2.UnitArchiveChunk(info=header_to_proto(header))
            async for block in blocks:
                yield retrieval_pb2.UnitArchiveChunk(data=block)

        try:
            reply = await self._routes.stub(header.unit).ImportUnit(requests(), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise _translate(error) from error
        return header_from_proto(reply.info)

    async def unit_stats(self, unit: str) -> UnitIndexStats:
        try:
            reply = await self._routes.stub(unit).GetUnitStats(
                retrieval_pb2.GetUnitStatsRequest(unit=unit), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as error:
            raise _translate(error) from error
        return UnitIndexStats(
            unit=reply.unit,
            documents=reply.documents,
            chunks=reply.chunks,
            embedding_model=reply.embedding_model,
            stream_sequence=reply.stream_sequence,
        )

    async def close(self) -> None:
        await self._routes.close()
