"""`VectorStore` on a Qdrant server through qdrant-client: one collection per unit.

Points, payloads and vector names are those of the Edge adapter (`vectorstore_edge`), so a unit's
index can move between the two. The tests run this adapter on qdrant-client's local mode, which
speaks the server API in-process (it ignores payload indexes, and warns when one is created).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence

from qdrant_client import QdrantClient, models

from services.retrieval.adapters.vectorstore_edge import (
    DENSE_VECTOR,
    INDEXED_KEYWORD_FIELDS,
    SPARSE_VECTOR,
    UNIT_ID_PATTERN,
    VectorStoreError,
    chunk_payload,
    point_id,
    scored_chunk_from_payload,
    validate_chunks,
    validate_dense_query,
    validate_unit,
)
from services.retrieval.domain.model import ChunkKind, ScoredChunk, SparseVector, StoredChunk
from trolyao.logs import get_logger

log = get_logger(__name__)

COLLECTION_PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
COLLECTION_SEPARATOR = "__"
SCROLL_PAGE_SIZE = 256
UPSERT_BATCH_SIZE = 256


class QdrantServerVectorStore:
    """One Qdrant collection per unit, named `<collection_prefix>__<unit>`, created on first write.

    Each collection has a cosine dense vector "dense" of `dense_dimension` and a sparse vector
    "lexical" with the IDF modifier (IDF statistics per unit, over its live points), plus keyword
    payload indexes on `unit`, `document_id` and `kind`. Writes wait for the server to apply them.
    The store owns `client`: `close()` closes it. A collection found with another dense size is
    refused (`VectorStoreError`) rather than mixed: vectors of different embedding models never
    share an index.
    """

    def __init__(
        self,
        client: QdrantClient,
        *,
        dense_dimension: int,
        collection_prefix: str = "trolyao",
    ) -> None:
        if dense_dimension <= 0:
            raise ValueError(f"dense_dimension must be positive, got {dense_dimension}")
        if not COLLECTION_PREFIX_PATTERN.fullmatch(collection_prefix):
            raise ValueError(
                f"invalid collection prefix {collection_prefix!r}:"
                f" expected {COLLECTION_PREFIX_PATTERN.pattern}"
            )
        self._client = client
        self._dense_dimension = dense_dimension
        self._prefix = collection_prefix
        self._lock = threading.Lock()
        self._verified: set[str] = set()

    # --- the VectorStore port -------------------------------------------------------------------

    def upsert_chunks(self, unit: str, chunks: Sequence[StoredChunk]) -> None:
        """Insert or overwrite chunks (a chunk's identity: unit, document id, ordinal)."""
        validate_chunks(validate_unit(unit), chunks, dense_dimension=self._dense_dimension)
        if not chunks:
            return
        collection = self._ensure_collection(unit)
        points = [self._point(chunk) for chunk in chunks]
        for start in range(0, len(points), UPSERT_BATCH_SIZE):
            self._client.upsert(collection, points[start : start + UPSERT_BATCH_SIZE], wait=True)

    def delete_document(self, unit: str, document_id: str) -> None:
        """Remove every chunk of the document; a no-op when there is none."""
        collection = self._existing_collection(unit)
        if collection is None:
            return
        self._client.delete(
            collection,
            points_selector=models.FilterSelector(filter=_match("document_id", document_id)),
            wait=True,
        )

    def search_sparse(
        self, unit: str, vector: SparseVector, *, limit: int, kind: ChunkKind | None = None
    ) -> list[ScoredChunk]:
        """Best chunks by sparse dot product with IDF weighting, highest score first."""
        validate_unit(unit)
        if not vector.indices or limit <= 0:
            return []
        query = models.SparseVector(indices=list(vector.indices), values=list(vector.values))
        # Deleted points count in the engine's IDF statistics until a vacuum; the unit's live
        # points as an explicit corpus keep re-indexed documents from diluting their terms.
        live_points_idf = models.SearchParams(idf=models.IdfCorpusParams(corpus=_match("unit", unit)))
        return self._search(unit, query, using=SPARSE_VECTOR, limit=limit, kind=kind, params=live_points_idf)

    def search_dense(
        self, unit: str, vector: Sequence[float], *, limit: int, kind: ChunkKind | None = None
    ) -> list[ScoredChunk]:
        """Best chunks by cosine similarity of the dense vectors, highest first."""
        validate_unit(unit)
        validate_dense_query(vector, dense_dimension=self._dense_dimension)
        if limit <= 0:
            return []
        query = [float(value) for value in vector]
        return self._search(unit, query, using=DENSE_VECTOR, limit=limit, kind=kind)

    def document_chunks(self, unit: str, document_id: str) -> list[ScoredChunk]:
        """All chunks of one document in ordinal order (score 0)."""
        collection = self._existing_collection(unit)
        if collection is None:
            return []
        hits: list[ScoredChunk] = []
        offset: models.ExtendedPointId | None = None
        while True:
            records, next_offset = self._client.scroll(
                collection,
                scroll_filter=_match("document_id", document_id),
                limit=SCROLL_PAGE_SIZE,
                offset=offset,
                with_payload=True,
                with_vectors=False,
            )
            hits.extend(scored_chunk_from_payload(record.payload or {}, 0.0) for record in records)
            if next_offset is None:
                break
            if not isinstance(next_offset, int | str):
                raise VectorStoreError(f"unexpected scroll offset {next_offset!r}")
            offset = next_offset
        return sorted(hits, key=lambda hit: hit.chunk.ordinal)

    def count(self, unit: str, document_id: str | None = None) -> int:
        """Number of chunks of the unit, or of one of its documents."""
        collection = self._existing_collection(unit)
        if collection is None:
            return 0
        condition = None if document_id is None else _match("document_id", document_id)
        return self._client.count(collection, count_filter=condition, exact=True).count

    def units(self) -> list[str]:
        """Units that have a collection under this store's prefix."""
        head = self._prefix + COLLECTION_SEPARATOR
        names = (collection.name for collection in self._client.get_collections().collections)
        return sorted(
            name[len(head) :]
            for name in names
            if name.startswith(head) and UNIT_ID_PATTERN.fullmatch(name[len(head) :])
        )

    def drop_unit(self, unit: str) -> None:
        """Remove the unit's collection."""
        collection = self._collection_name(unit)
        with self._lock:
            self._verified.discard(collection)
            if self._client.collection_exists(collection):
                self._client.delete_collection(collection)
                log.info("unit_collection_dropped", unit=unit, collection=collection)

    def stored_chunks(self, unit: str) -> Iterator[StoredChunk]:
        """Every chunk of the unit with its vectors, in store order (for unit archives)."""
        collection = self._existing_collection(unit)
        if collection is None:
            return
        offset: models.ExtendedPointId | None = None
        while True:
            records, next_offset = self._client.scroll(
                collection, limit=SCROLL_PAGE_SIZE, offset=offset, with_payload=True, with_vectors=True
            )
            for record in records:
                yield _stored_chunk(unit, record)
            if next_offset is None:
                return
            if not isinstance(next_offset, int | str):
                raise VectorStoreError(f"unexpected scroll offset {next_offset!r}")
            offset = next_offset

    def flush(self) -> None:
        """Nothing to do: every write has waited for the server to apply it."""

    def close(self) -> None:
        """Close the client (and with it, in local mode, its files)."""
        self._client.close()

    # --- internals ------------------------------------------------------------------------------

    def _search(
        self,
        unit: str,
        query: models.SparseVector | list[float],
        *,
        using: str,
        limit: int,
        kind: ChunkKind | None,
        params: models.SearchParams | None = None,
    ) -> list[ScoredChunk]:
        collection = self._existing_collection(unit)
        if collection is None:
            return []
        response = self._client.query_points(
            collection,
            query=query,
            using=using,
            query_filter=None if kind is None else _match("kind", kind.value),
            search_params=params,
            limit=limit,
            with_payload=True,
            with_vectors=False,
        )
        return [scored_chunk_from_payload(point.payload or {}, point.score) for point in response.points]

    def _point(self, chunk: StoredChunk) -> models.PointStruct:
        vectors: dict[str, models.Vector] = {
            SPARSE_VECTOR: models.SparseVector(
                indices=list(chunk.sparse.indices), values=list(chunk.sparse.values)
            )
        }
        if chunk.dense is not None:
            vectors[DENSE_VECTOR] = [float(value) for value in chunk.dense]
        return models.PointStruct(id=point_id(chunk), vector=vectors, payload=chunk_payload(chunk))

    def _collection_name(self, unit: str) -> str:
        return f"{self._prefix}{COLLECTION_SEPARATOR}{validate_unit(unit)}"

    def _existing_collection(self, unit: str) -> str | None:
        """The unit's collection name if it exists (checked against this store's configuration)."""
        collection = self._collection_name(unit)
        if collection in self._verified:
            return collection
        with self._lock:
            if collection in self._verified:
                return collection
            if not self._client.collection_exists(collection):
                return None
            self._verify(collection)
            return collection

    def _ensure_collection(self, unit: str) -> str:
        collection = self._collection_name(unit)
        if collection in self._verified:
            return collection
        with self._lock:
            if collection in self._verified:
                return collection
            if not self._client.collection_exists(collection):
                self._create(collection)
                log.info("unit_collection_created", unit=unit, collection=collection)
            self._verify(collection)
            return collection

    def _create(self, collection: str) -> None:
        self._client.create_collection(
            collection,
            vectors_config={
                DENSE_VECTOR: models.VectorParams(size=self._dense_dimension, distance=models.Distance.COSINE)
            },
            sparse_vectors_config={SPARSE_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        for name in INDEXED_KEYWORD_FIELDS:
            self._client.create_payload_index(
                collection, name, field_schema=models.PayloadSchemaType.KEYWORD, wait=True
            )

    def _verify(self, collection: str) -> None:
        """Refuse a collection whose vectors this store did not configure; the caller holds the lock."""
        params = self._client.get_collection(collection).config.params
        dense = params.vectors.get(DENSE_VECTOR) if isinstance(params.vectors, dict) else None
        sparse = (params.sparse_vectors or {}).get(SPARSE_VECTOR)
        if dense is None or dense.size != self._dense_dimension or sparse is None:
            raise VectorStoreError(
                f"collection {collection!r} does not match this store"
                f" (dense {DENSE_VECTOR!r} of {self._dense_dimension} dimensions,"
                f" sparse {SPARSE_VECTOR!r}): found {params.vectors!r}, {params.sparse_vectors!r}"
            )
        if dense.distance != models.Distance.COSINE or sparse.modifier != models.Modifier.IDF:
            raise VectorStoreError(f"collection {collection!r} must use cosine distance and the IDF modifier")
        self._verified.add(collection)


def _stored_chunk(unit: str, record: models.Record) -> StoredChunk:
    hit = scored_chunk_from_payload(record.payload or {}, 0.0)
    vectors = record.vector if isinstance(record.vector, dict) else {}
    sparse = vectors.get(SPARSE_VECTOR)
    dense = vectors.get(DENSE_VECTOR)
    return StoredChunk(
        unit=unit,
        document_id=hit.document_id,
        version=hit.version,
        chunk=hit.chunk,
        metadata=hit.metadata,
        sparse=SparseVector(
            indices=tuple(int(index) for index in sparse.indices),
            values=tuple(float(value) for value in sparse.values),
        )
        if isinstance(sparse, models.SparseVector)
        else SparseVector(indices=(), values=()),
        dense=tuple(float(value) for value in dense if isinstance(value, float | int))
        if isinstance(dense, list)
        else None,
    )


def _match(key: str, value: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key=key, match=models.MatchValue(value=value))])
