"""The one place where cross-service value types meet their protobuf messages."""

from __future__ import annotations

from trolyao.documents import Chunk, ChunkKind, DocumentMetadata
from trolyao.v1 import documents_pb2

_KIND_TO_PROTO = {
    ChunkKind.PASSAGE: documents_pb2.CHUNK_KIND_PASSAGE,
    ChunkKind.FAQ: documents_pb2.CHUNK_KIND_FAQ,
}
_KIND_FROM_PROTO = {value: key for key, value in _KIND_TO_PROTO.items()}
_METADATA_FIELDS = tuple(DocumentMetadata.__dataclass_fields__)


def metadata_to_proto(metadata: DocumentMetadata) -> documents_pb2.DocumentMetadata:
    return documents_pb2.DocumentMetadata(**{name: getattr(metadata, name) for name in _METADATA_FIELDS})


def metadata_from_proto(message: documents_pb2.DocumentMetadata) -> DocumentMetadata:
    return DocumentMetadata(**{name: getattr(message, name) for name in _METADATA_FIELDS})


def metadata_from_mapping(values: dict[str, object]) -> DocumentMetadata:
    """Build metadata from a JSON object, keeping only known fields (as strings)."""
    return DocumentMetadata(
        **{name: str(values[name]) for name in _METADATA_FIELDS if values.get(name) not in (None, "")}
    )


def chunk_to_proto(chunk: Chunk) -> documents_pb2.Chunk:
    return documents_pb2.Chunk(
        ordinal=chunk.ordinal,
        text=chunk.text,
        path=chunk.path,
        kind=_KIND_TO_PROTO[chunk.kind],
        question=chunk.question,
    )


def chunk_from_proto(message: documents_pb2.Chunk) -> Chunk:
    return Chunk(
        ordinal=message.ordinal,
        text=message.text,
        path=message.path,
        kind=_KIND_FROM_PROTO.get(message.kind, ChunkKind.PASSAGE),
        question=message.question,
    )
