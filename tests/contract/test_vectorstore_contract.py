"""One contract for every `VectorStore`: Qdrant Edge and a Qdrant server (qdrant-client local mode).

Sparse vectors are built here from whitespace tokens (crc32 term ids, term-frequency weights), so
the contract does not depend on the lexical analyser.
"""

from __future__ import annotations

import math
import shutil
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from services.retrieval.adapters.vectorstore_edge import EdgeVectorStore
from services.retrieval.adapters.vectorstore_qdrant import QdrantServerVectorStore
from services.retrieval.domain.model import (
    Chunk,
    ChunkKind,
    DocumentMetadata,
    ScoredChunk,
    SparseVector,
    StoredChunk,
)
from services.retrieval.domain.ports import VectorStore

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning"),
]

DIMENSION = 4
UNIT = "vu-phap-che"
OTHER_UNIT = "cuc-thue"
WIDE = 100

StoreOpener = Callable[[], VectorStore]


def sparse(text: str) -> SparseVector:
    counts = Counter(zlib.crc32(token.encode()) for token in text.lower().split())
    indices = tuple(sorted(counts))
    return SparseVector(indices=indices, values=tuple(float(counts[index]) for index in indices))


def stored(
    document_id: str,
    ordinal: int,
    text: str,
    *,
    unit: str = UNIT,
    version: int = 1,
    dense: tuple[float, ...] | None = None,
    kind: ChunkKind = ChunkKind.PASSAGE,
    path: str = "",
    question: str = "",
    metadata: DocumentMetadata | None = None,
    extra: dict[str, str] | None = None,
) -> StoredChunk:
    return StoredChunk(
        unit=unit,
        document_id=document_id,
        version=version,
        chunk=Chunk(ordinal=ordinal, text=text, path=path, kind=kind, question=question, extra=extra or {}),
        metadata=metadata or DocumentMetadata(title=f"title of {document_id}"),
        sparse=sparse(f"{question} {text}"),
        dense=dense,
    )


def keys(hits: Sequence[ScoredChunk]) -> list[tuple[str, int]]:
    return [(hit.document_id, hit.chunk.ordinal) for hit in hits]


def unit_vector(*values: float) -> tuple[float, ...]:
    norm = math.sqrt(sum(value * value for value in values))
    return tuple(value / norm for value in values)


@pytest.fixture(params=["edge", "qdrant-local"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreOpener]:
    """Opens a store on the same files each time it is called; closes what it opened."""
    opened: list[VectorStore] = []

    def open_edge() -> VectorStore:
        store = EdgeVectorStore(tmp_path / "edge", dense_dimension=DIMENSION)
        opened.append(store)
        return store

    def open_local() -> VectorStore:
        client = QdrantClient(path=str(tmp_path / "qdrant-local"))
        store = QdrantServerVectorStore(client, dense_dimension=DIMENSION, collection_prefix="test")
        opened.append(store)
        return store

    yield open_edge if request.param == "edge" else open_local
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: StoreOpener) -> VectorStore:
    return open_store()


class TestVectorStoreContract:
    def test_sparse_search_finds_the_matching_chunk_first(self, store: VectorStore) -> None:
        store.upsert_chunks(
            UNIT,
            [
                stored("nd-15", 0, "phạm vi điều chỉnh của nghị định"),
                stored("nd-15", 1, "thời hạn nộp hồ sơ đăng ký kinh doanh"),
                stored("tt-02", 0, "lệ phí cấp giấy chứng nhận đăng ký"),
            ],
        )

        hits = store.search_sparse(UNIT, sparse("thời hạn nộp hồ sơ"), limit=10)

        assert keys(hits)[0] == ("nd-15", 1)
        assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
        assert ("nd-15", 0) not in keys(hits)

    def test_sparse_scores_weight_terms_by_the_units_own_idf(self, store: VectorStore) -> None:
        # "chung" is in every chunk of UNIT and "hiem" in one, so "hiem" outweighs "chung" there;
        # in OTHER_UNIT it is the other way round. Without IDF (or with IDF shared across units)
        # both chunks would tie in one of the units.
        def corpus(unit: str, common: str, rare: str) -> list[StoredChunk]:
            chunks = [stored("filler", n, f"{common} filler{n}", unit=unit) for n in range(6)]
            return [
                *chunks,
                stored("a", 0, f"{common} alpha", unit=unit),
                stored("b", 0, f"{rare} beta", unit=unit),
            ]

        store.upsert_chunks(UNIT, corpus(UNIT, "chung", "hiem"))
        store.upsert_chunks(OTHER_UNIT, corpus(OTHER_UNIT, "hiem", "chung"))
        query = sparse("chung hiem")

        top_unit, second_unit, *_ = store.search_sparse(UNIT, query, limit=WIDE)
        top_other, second_other, *_ = store.search_sparse(OTHER_UNIT, query, limit=WIDE)

        assert top_unit.document_id == "b"
        assert top_other.document_id == "b"
        assert top_unit.chunk.text == "hiem beta"
        assert top_other.chunk.text == "chung beta"
        assert top_unit.score > second_unit.score
        assert top_other.score > second_other.score

    def test_reindexing_does_not_dilute_the_idf_of_a_documents_terms(self, store: VectorStore) -> None:
        # Qdrant keeps counting deleted points in IDF statistics until a vacuum; the stores must not.
        store.upsert_chunks(UNIT, [stored(f"f{n}", 0, f"chung filler{n}") for n in range(10)])
        store.upsert_chunks(UNIT, [stored("d", 0, "hiem chung")])
        before = store.search_sparse(UNIT, sparse("hiem"), limit=1)[0].score

        for version in range(2, 12):
            store.delete_document(UNIT, "d")
            store.upsert_chunks(UNIT, [stored("d", 0, "hiem chung", version=version)])

        (hit,) = store.search_sparse(UNIT, sparse("hiem"), limit=10)
        assert hit.version == 11
        assert hit.score == pytest.approx(before, rel=1e-4)

    def test_dense_search_ranks_by_cosine_not_by_length(self, store: VectorStore) -> None:
        store.upsert_chunks(
            UNIT,
            [
                stored("d", 0, "near", dense=(1.0, 0.1, 0.0, 0.0)),
                stored("d", 1, "far but long", dense=(30.0, 30.0, 30.0, 30.0)),
                stored("d", 2, "opposite", dense=(-1.0, 0.0, 0.0, 0.0)),
            ],
        )

        hits = store.search_dense(UNIT, (2.0, 0.0, 0.0, 0.0), limit=10)

        assert keys(hits) == [("d", 0), ("d", 1), ("d", 2)]
        expected = [1.0 / math.sqrt(1.01), 0.5, -1.0]
        assert [hit.score for hit in hits] == pytest.approx(expected, abs=1e-4)

    def test_kind_filter_applies_to_both_searches(self, store: VectorStore) -> None:
        store.upsert_chunks(
            UNIT,
            [
                stored("faq", 0, "nộp hồ sơ ở đâu", kind=ChunkKind.FAQ, dense=(1.0, 0.0, 0.0, 0.0)),
                stored("nd", 0, "nộp hồ sơ tại bộ phận một cửa", dense=(1.0, 0.0, 0.0, 0.0)),
            ],
        )
        query = sparse("nộp hồ sơ")
        dense = (1.0, 0.0, 0.0, 0.0)

        assert keys(store.search_sparse(UNIT, query, limit=10, kind=ChunkKind.FAQ)) == [("faq", 0)]
        assert keys(store.search_sparse(UNIT, query, limit=10, kind=ChunkKind.PASSAGE)) == [("nd", 0)]
        assert keys(store.search_dense(UNIT, dense, limit=10, kind=ChunkKind.FAQ)) == [("faq", 0)]
        assert len(store.search_sparse(UNIT, query, limit=10)) == 2

    def test_limit_caps_results(self, store: VectorStore) -> None:
        store.upsert_chunks(UNIT, [stored("d", n, f"chung {n}") for n in range(5)])

        assert len(store.search_sparse(UNIT, sparse("chung"), limit=3)) == 3

    def test_delete_document_removes_all_its_chunks_and_nothing_else(self, store: VectorStore) -> None:
        store.upsert_chunks(UNIT, [stored("gone", n, f"chung gone {n}") for n in range(4)])
        store.upsert_chunks(UNIT, [stored("kept", n, f"chung kept {n}") for n in range(3)])

        store.delete_document(UNIT, "gone")

        assert store.count(UNIT, "gone") == 0
        assert store.document_chunks(UNIT, "gone") == []
        assert store.count(UNIT) == 3
        assert {hit.document_id for hit in store.search_sparse(UNIT, sparse("chung"), limit=WIDE)} == {"kept"}
        assert [hit.chunk.ordinal for hit in store.document_chunks(UNIT, "kept")] == [0, 1, 2]

    def test_delete_is_a_no_op_for_unknown_documents_and_units(self, store: VectorStore) -> None:
        store.upsert_chunks(UNIT, [stored("d", 0, "chung")])

        store.delete_document(UNIT, "never-indexed")
        store.delete_document(OTHER_UNIT, "d")

        assert store.count(UNIT) == 1
        assert store.units() == [UNIT]

    def test_reindexing_with_fewer_chunks_leaves_no_stale_chunk(self, store: VectorStore) -> None:
        store.upsert_chunks(UNIT, [stored("d", n, f"cu {n} ban-cu-{n}") for n in range(5)])

        store.delete_document(UNIT, "d")
        store.upsert_chunks(UNIT, [stored("d", n, f"moi {n}", version=2) for n in range(3)])

        chunks = store.document_chunks(UNIT, "d")
        assert [(hit.chunk.ordinal, hit.version) for hit in chunks] == [(0, 2), (1, 2), (2, 2)]
        assert store.count(UNIT, "d") == 3
        assert store.search_sparse(UNIT, sparse("ban-cu-4 cu"), limit=WIDE) == []

    def test_upsert_overwrites_a_chunk_with_the_same_identity(self, store: VectorStore) -> None:
        store.upsert_chunks(UNIT, [stored("d", 0, "ban dau")])

        store.upsert_chunks(UNIT, [stored("d", 0, "sua doi", version=2)])

        assert store.count(UNIT) == 1
        (only,) = store.document_chunks(UNIT, "d")
        assert (only.chunk.text, only.version) == ("sua doi", 2)
        assert store.search_sparse(UNIT, sparse("ban dau"), limit=WIDE) == []

    def test_count_per_unit_and_document(self, store: VectorStore) -> None:
        store.upsert_chunks(UNIT, [stored("a", n, "x") for n in range(3)] + [stored("b", 0, "y")])
        store.upsert_chunks(OTHER_UNIT, [stored("a", 0, "x", unit=OTHER_UNIT)])

        assert store.count(UNIT) == 4
        assert store.count(UNIT, "a") == 3
        assert store.count(UNIT, "b") == 1
        assert store.count(UNIT, "missing") == 0
        assert store.count(OTHER_UNIT) == 1
        assert store.count("khong-co") == 0

    def test_document_chunks_come_in_ordinal_order_across_pages(self, store: VectorStore) -> None:
        total = 300  # more than one scroll page
        chunks = [stored("long", n, f"doan {n}") for n in range(total)]
        store.upsert_chunks(UNIT, list(reversed(chunks)))

        hits = store.document_chunks(UNIT, "long")

        assert [hit.chunk.ordinal for hit in hits] == list(range(total))
        assert {hit.score for hit in hits} == {0.0}

    def test_units_and_drop_unit(self, store: VectorStore) -> None:
        assert store.units() == []
        store.upsert_chunks(UNIT, [stored("d", 0, "chung")])
        store.upsert_chunks(OTHER_UNIT, [stored("d", 0, "chung", unit=OTHER_UNIT)])
        assert store.units() == sorted([UNIT, OTHER_UNIT])

        store.drop_unit(UNIT)
        store.drop_unit("never-created")

        assert store.units() == [OTHER_UNIT]
        assert store.count(UNIT) == 0
        assert store.search_sparse(UNIT, sparse("chung"), limit=10) == []
        assert store.count(OTHER_UNIT) == 1
        store.upsert_chunks(UNIT, [stored("again", 0, "chung")])
        assert keys(store.search_sparse(UNIT, sparse("chung"), limit=10)) == [("again", 0)]

    def test_units_never_see_each_others_chunks(self, store: VectorStore) -> None:
        def same_content(unit: str) -> list[StoredChunk]:
            return [
                stored("nd-15", n, f"quy dinh chung {n}", unit=unit, dense=unit_vector(1, n, 0, 0))
                for n in range(3)
            ]

        store.upsert_chunks(UNIT, same_content(UNIT))
        store.upsert_chunks(OTHER_UNIT, same_content(OTHER_UNIT))
        store.upsert_chunks(OTHER_UNIT, [stored("only-other", 0, "quy dinh chung", unit=OTHER_UNIT)])

        assert len(store.search_sparse(UNIT, sparse("quy dinh chung"), limit=WIDE)) == 3
        assert len(store.search_dense(UNIT, (1.0, 0.0, 0.0, 0.0), limit=WIDE)) == 3
        assert "only-other" not in {
            h.document_id for h in store.search_sparse(UNIT, sparse("quy"), limit=WIDE)
        }

        store.delete_document(UNIT, "nd-15")

        assert store.count(UNIT) == 0
        assert store.search_sparse(UNIT, sparse("quy dinh chung"), limit=WIDE) == []
        assert store.count(OTHER_UNIT, "nd-15") == 3
        assert len(store.search_sparse(OTHER_UNIT, sparse("quy dinh chung"), limit=WIDE)) == 4

    def test_a_chunk_of_another_unit_is_refused(self, store: VectorStore) -> None:
        with pytest.raises(ValueError, match="belongs to unit"):
            store.upsert_chunks(UNIT, [stored("d", 0, "x", unit=OTHER_UNIT)])
        assert store.units() == []

    def test_payload_and_metadata_round_trip_exactly(self, store: VectorStore) -> None:
        metadata = DocumentMetadata(
            title="Nghị định về đăng ký doanh nghiệp",
            number="01/2021/NĐ-CP",
            issuer="Chính phủ",
            issued_date="2021-01-04",
            effective_date="2021-01-04",
            doc_type="Nghị định",
            source_url="https://vanban.chinhphu.vn/?docid=202386",
        )
        chunk = stored(
            "01-2021-nd-cp",
            7,
            "Hồ sơ đăng ký doanh nghiệp gồm: a) Giấy đề nghị; b) Điều lệ công ty.",
            version=3,
            path="Điều 5, Khoản 2",
            kind=ChunkKind.FAQ,
            question="Hồ sơ gồm những gì?\nCần giấy tờ nào?",
            metadata=metadata,
            extra={"nguồn": "cổng dịch vụ công", "trang": "12"},
            dense=unit_vector(1, 2, 3, 4),
        )
        store.upsert_chunks(UNIT, [chunk])

        (hit,) = store.search_sparse(UNIT, chunk.sparse, limit=10)
        (listed,) = store.document_chunks(UNIT, "01-2021-nd-cp")

        expected = ScoredChunk(
            document_id=chunk.document_id,
            version=3,
            chunk=chunk.chunk,
            metadata=metadata,
            score=hit.score,
        )
        assert hit == expected
        assert isinstance(hit.chunk.kind, ChunkKind)
        assert listed == replace(expected, score=0.0)

    @pytest.mark.parametrize(
        "unit", ["", "Vu-phap-che", "../etc", "a/b", "a_b", "-a", "a" * 64, "đơn-vị", "a b"]
    )
    def test_invalid_unit_ids_are_refused(self, store: VectorStore, unit: str) -> None:
        calls: list[Callable[[], object]] = [
            lambda: store.upsert_chunks(unit, [stored("d", 0, "x", unit=unit)]),
            lambda: store.search_sparse(unit, sparse("x"), limit=1),
            lambda: store.search_dense(unit, (1.0, 0.0, 0.0, 0.0), limit=1),
            lambda: store.count(unit),
            lambda: store.delete_document(unit, "d"),
            lambda: store.document_chunks(unit, "d"),
            lambda: store.drop_unit(unit),
        ]
        for call in calls:
            with pytest.raises(ValueError, match="invalid unit id"):
                call()
        assert store.units() == []

    def test_dense_vectors_of_the_wrong_size_are_refused(self, store: VectorStore) -> None:
        with pytest.raises(ValueError, match="dimensions"):
            store.upsert_chunks(UNIT, [stored("d", 0, "x", dense=(1.0, 0.0))])
        store.upsert_chunks(UNIT, [stored("d", 0, "x", dense=(1.0, 0.0, 0.0, 0.0))])
        with pytest.raises(ValueError, match="dimensions"):
            store.search_dense(UNIT, (1.0, 0.0), limit=1)

    def test_chunks_without_a_dense_vector_are_found_by_sparse_search(self, store: VectorStore) -> None:
        store.upsert_chunks(
            UNIT,
            [
                stored("no-embedder", 0, "thu tuc cap phep"),
                stored("embedded", 0, "thu tuc khac", dense=(0.0, 1.0, 0.0, 0.0)),
            ],
        )

        assert keys(store.search_sparse(UNIT, sparse("cap phep"), limit=10)) == [("no-embedder", 0)]
        assert keys(store.search_dense(UNIT, (0.0, 1.0, 0.0, 0.0), limit=10)) == [("embedded", 0)]
        assert store.count(UNIT) == 2

    def test_empty_queries_and_unknown_units_give_no_hits(self, store: VectorStore) -> None:
        store.upsert_chunks(UNIT, [stored("d", 0, "chung", dense=(1.0, 0.0, 0.0, 0.0))])

        assert store.search_sparse(UNIT, SparseVector(indices=(), values=()), limit=10) == []
        assert store.search_sparse(OTHER_UNIT, sparse("chung"), limit=10) == []
        assert store.search_dense(OTHER_UNIT, (1.0, 0.0, 0.0, 0.0), limit=10) == []
        assert store.document_chunks(OTHER_UNIT, "d") == []

    def test_data_survives_close_and_reopen(self, open_store: StoreOpener) -> None:
        first = open_store()
        first.upsert_chunks(
            UNIT, [stored("d", n, f"ben vung {n}", dense=unit_vector(1, n, 0, 0)) for n in range(3)]
        )
        first.upsert_chunks(OTHER_UNIT, [stored("e", 0, "khac", unit=OTHER_UNIT)])
        first.delete_document(OTHER_UNIT, "e")
        first.upsert_chunks(OTHER_UNIT, [stored("f", 0, "khac", unit=OTHER_UNIT)])
        first.flush()
        first.close()

        second = open_store()

        assert second.units() == sorted([UNIT, OTHER_UNIT])
        assert second.count(UNIT) == 3
        assert keys(second.search_sparse(UNIT, sparse("ben vung 2"), limit=1)) == [("d", 2)]
        assert keys(second.search_dense(UNIT, (1.0, 0.0, 0.0, 0.0), limit=1)) == [("d", 0)]
        assert keys(second.search_sparse(OTHER_UNIT, sparse("khac"), limit=10)) == [("f", 0)]


@pytest.fixture
def edge_store(tmp_path: Path) -> Iterator[EdgeVectorStore]:
    store = EdgeVectorStore(tmp_path / "edge", dense_dimension=DIMENSION)
    yield store
    store.close()


def _file_digests(root: Path) -> dict[str, tuple[int, float]]:
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime)
        for path in root.rglob("*")
        if path.is_file()
    }


class TestEdgeVectorStore:
    """What only the embedded store has: its directory layout, snapshots and reloads."""

    def test_each_unit_has_its_own_directory(self, edge_store: EdgeVectorStore, tmp_path: Path) -> None:
        edge_store.upsert_chunks(UNIT, [stored("d", 0, "x")])

        assert edge_store.unit_path(UNIT) == tmp_path / "edge" / UNIT
        assert (tmp_path / "edge" / UNIT).is_dir()
        assert not (tmp_path / "edge" / OTHER_UNIT).exists()
        with pytest.raises(ValueError, match="invalid unit id"):
            edge_store.unit_path("../x")

    def test_a_second_store_on_the_same_root_is_refused(
        self, edge_store: EdgeVectorStore, tmp_path: Path
    ) -> None:
        edge_store.upsert_chunks(UNIT, [stored("d", 0, "x")])

        with pytest.raises(RuntimeError, match="cannot open the index"):
            EdgeVectorStore(tmp_path / "edge", dense_dimension=DIMENSION)

    def test_an_index_of_another_dense_size_is_refused(self, tmp_path: Path) -> None:
        first = EdgeVectorStore(tmp_path / "edge", dense_dimension=DIMENSION)
        first.upsert_chunks(UNIT, [stored("d", 0, "x")])
        first.close()

        with pytest.raises(RuntimeError, match="incompatible"):
            EdgeVectorStore(tmp_path / "edge", dense_dimension=DIMENSION + 1)

    def test_writes_wait_while_paused_and_searches_do_not(self, edge_store: EdgeVectorStore) -> None:
        edge_store.upsert_chunks(UNIT, [stored("d", 0, "truoc")])
        written = threading.Event()

        def write() -> None:
            edge_store.upsert_chunks(UNIT, [stored("d", 1, "sau")])
            written.set()

        with edge_store.writes_paused(UNIT) as path:
            before = _file_digests(path)
            writer = threading.Thread(target=write)
            writer.start()
            time.sleep(0.3)
            assert not written.is_set()
            assert edge_store.count(UNIT) == 1
            assert keys(edge_store.search_sparse(UNIT, sparse("truoc"), limit=1)) == [("d", 0)]
            edge_store.upsert_chunks(OTHER_UNIT, [stored("o", 0, "x", unit=OTHER_UNIT)])
            assert _file_digests(path) == before
        writer.join(timeout=10)

        assert written.is_set()
        assert edge_store.count(UNIT) == 2

    def test_reload_from_a_copy_taken_while_paused_restores_it(
        self, edge_store: EdgeVectorStore, tmp_path: Path
    ) -> None:
        edge_store.upsert_chunks(UNIT, [stored("d", n, f"ban {n}") for n in range(3)])
        snapshot = tmp_path / "edge" / f".restore-{UNIT}"
        with edge_store.writes_paused(UNIT) as path:
            shutil.copytree(path, snapshot)
        edge_store.delete_document(UNIT, "d")
        edge_store.upsert_chunks(UNIT, [stored("later", 0, "ban moi")])

        edge_store.reload_unit(UNIT, replacement=snapshot)

        assert not snapshot.exists()
        assert [hit.chunk.ordinal for hit in edge_store.document_chunks(UNIT, "d")] == [0, 1, 2]
        assert edge_store.count(UNIT) == 3
        assert edge_store.search_sparse(UNIT, sparse("moi"), limit=10) == []
        edge_store.upsert_chunks(UNIT, [stored("after", 0, "tiep")])
        assert edge_store.count(UNIT) == 4

    def test_a_replacement_that_cannot_be_opened_leaves_the_unit_as_it_was(
        self, edge_store: EdgeVectorStore, tmp_path: Path
    ) -> None:
        edge_store.upsert_chunks(UNIT, [stored("d", 0, "giu nguyen")])
        broken = tmp_path / "edge" / ".broken"
        broken.mkdir()
        (broken / "edge_config.json").write_text("{not json")

        with pytest.raises(RuntimeError, match="cannot open the index"):
            edge_store.reload_unit(UNIT, replacement=broken)

        assert broken.exists()
        assert keys(edge_store.search_sparse(UNIT, sparse("giu nguyen"), limit=10)) == [("d", 0)]

    def test_reload_without_replacement_keeps_the_data(self, edge_store: EdgeVectorStore) -> None:
        edge_store.upsert_chunks(UNIT, [stored("d", 0, "x")])

        edge_store.reload_unit(UNIT)

        assert edge_store.count(UNIT) == 1

    def test_optimize_keeps_the_data(self, edge_store: EdgeVectorStore) -> None:
        edge_store.upsert_chunks(UNIT, [stored("d", n, f"chung {n}") for n in range(50)])
        edge_store.delete_document(UNIT, "d")
        edge_store.upsert_chunks(UNIT, [stored("e", n, f"chung {n}") for n in range(5)])

        assert isinstance(edge_store.optimize(UNIT), bool)
        assert edge_store.optimize("khong-co") is False
        assert edge_store.count(UNIT) == 5
        assert len(edge_store.search_sparse(UNIT, sparse("chung"), limit=WIDE)) == 5

    def test_concurrent_searches_and_writes(self, edge_store: EdgeVectorStore) -> None:
        edge_store.upsert_chunks(UNIT, [stored("seed", n, f"chung {n}") for n in range(20)])
        errors: list[BaseException] = []

        def writer(worker: int) -> None:
            try:
                for round_ in range(15):
                    document_id = f"w{worker}"
                    edge_store.delete_document(UNIT, document_id)
                    edge_store.upsert_chunks(
                        UNIT, [stored(document_id, n, f"chung {round_}") for n in range(3)]
                    )
            except BaseException as error:
                errors.append(error)

        def reader() -> None:
            try:
                for _ in range(30):
                    edge_store.search_sparse(UNIT, sparse("chung"), limit=10)
                    edge_store.count(UNIT)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
        threads += [threading.Thread(target=reader) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert errors == []
        assert edge_store.count(UNIT) == 20 + 2 * 3

    def test_a_closed_store_refuses_calls(self, tmp_path: Path) -> None:
        store = EdgeVectorStore(tmp_path / "edge", dense_dimension=DIMENSION)
        store.upsert_chunks(UNIT, [stored("d", 0, "x")])
        store.close()
        store.close()

        with pytest.raises(RuntimeError, match="closed"):
            store.upsert_chunks(UNIT, [stored("d", 1, "y")])
        with pytest.raises(RuntimeError, match="closed"):
            store.search_sparse(UNIT, sparse("x"), limit=1)
