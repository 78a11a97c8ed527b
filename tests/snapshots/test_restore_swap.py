"""Restore is a swap: the archive carries the unit's language model, and importing it moves files
into place instead of recounting anything; archives made before (version 1, no model) still restore,
by recounting. In-process, on the real Qdrant Edge store, registry, model files and answer engine.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.retrieval.adapters.unit_archive import (
    ARCHIVE_INFO_MEMBER,
    ARCHIVE_VERSION,
    UNIT_MODEL_MEMBER,
    ArchiveRejected,
)
from services.retrieval.adapters.unit_model_files import read_model_file
from services.retrieval.adapters.vectorstore_edge import EdgeVectorStore
from services.retrieval.domain.answering import AnswerEngine
from services.retrieval.domain.unit_model import UnitLanguageModel
from tests.snapshots.test_unit_archive import DIMENSION, Retrieval, build, fill, keep

pytestmark = pytest.mark.timeout(120)


class RecountCounter:
    """Counts the answer engine's recounts of a unit model: wraps the real engine's method."""

    def __init__(self, engine: AnswerEngine) -> None:
        self.units: list[str] = []
        real = engine.rebuild_unit_model

        def counted(unit: str, chunks: object) -> None:
            self.units.append(unit)
            real(unit, chunks)  # type: ignore[arg-type]

        engine.rebuild_unit_model = counted  # type: ignore[method-assign]


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Retrieval]:
    """Retrieval wired as bootstrap wires it: archives carry and restores move the model files."""
    store = EdgeVectorStore(tmp_path / "shards", dense_dimension=DIMENSION)
    retrieval = build(tmp_path, store, carry_models=True)
    yield retrieval
    store.close()
    retrieval.registry.close()


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def model_file(retrieval: Retrieval, unit: str) -> Path:
    return retrieval.engine._unit_models._path(unit)  # type: ignore[attr-defined,no-any-return]


def recounted(retrieval: Retrieval, unit: str) -> dict[str, object]:
    """The unit's model counted afresh from the chunks now in the store."""
    from services.retrieval.domain.answering import model_texts

    model = UnitLanguageModel()
    model.add(
        model_texts(chunk)
        for record in retrieval.registry.list(unit)
        for chunk in retrieval.store.document_chunks(unit, record.document_id)
    )
    return model.to_json()


Edit = Callable[[tarfile.TarInfo, bytes], bytes | None]


def rewrite(archive: Path, target: Path, edit: Edit) -> Path:
    """A copy of `archive` whose members pass through `edit` (None drops one); the rest byte for
    byte, sparse headers included."""
    with tarfile.open(archive, "r:gz") as source:
        entries = [(m, source.extractfile(m).read() if m.isfile() else b"") for m in source]  # type: ignore[union-attr]
    with tarfile.open(target, "w:gz", format=tarfile.PAX_FORMAT) as out:
        for member, data in entries:
            edited = edit(member, data)
            if edited is not None:
                member.size = len(edited)
                out.addfile(member, io.BytesIO(edited))
    return target


def with_version(version: int | None, *, keep_model: bool) -> Edit:
    """An edit setting archive.json's `version` (None: no such key, as before version 2)."""

    def edit(member: tarfile.TarInfo, data: bytes) -> bytes | None:
        if member.name == UNIT_MODEL_MEMBER and not keep_model:
            return None
        if member.name != ARCHIVE_INFO_MEMBER:
            return data
        info = json.loads(data)
        info.pop("version")
        if version is not None:
            info["version"] = version
        return json.dumps(info).encode()

    return edit


def assert_recounted(retrieval: Retrieval, recounts: RecountCounter, answers: object) -> None:
    """The restore recounted the unit's model (once), and got it and the answers right."""
    assert recounts.units == ["a"]
    assert retrieval.engine._unit_models.get("a").to_json() == recounted(retrieval, "a")
    assert retrieval.answers("a") == answers


def read_model_file_bytes(data: bytes, tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "member.json.gz"
    path.write_bytes(data)
    return read_model_file(path).to_json()


def test_restore_moves_the_unit_model_and_recounts_nothing(edge: Retrieval, tmp_path: Path) -> None:
    fill(edge, "a")
    edge.indexer.delete_document("a", "qd-5", version=2)
    answers, documents = edge.answers("a"), edge.documents("a")
    archive = keep(edge.transfer.export_unit("a"), tmp_path / "a.tar.gz")
    archived = members(archive)
    assert json.loads(archived[ARCHIVE_INFO_MEMBER])["version"] == ARCHIVE_VERSION == 2
    # Exported from memory, unflushed: the model of the cut, counting every chunk of the shard.
    exported_model = read_model_file_bytes(archived[UNIT_MODEL_MEMBER], tmp_path)
    assert exported_model["chunk_count"] == edge.store.count("a")

    edge.index("a", "qd-2", 99, version=7)  # changes after the snapshot, which the restore undoes
    edge.indexer.delete_document("a", "qd-1", version=5)
    edge.engine.flush()
    recounts = RecountCounter(edge.engine)
    edge.import_archive("a", archive)

    assert recounts.units == []
    assert model_file(edge, "a").read_bytes() == archived[UNIT_MODEL_MEMBER]  # moved in, not rewritten
    assert edge.engine._unit_models.get("a").to_json() == recounted(edge, "a") == exported_model
    assert edge.documents("a") == documents
    assert edge.answers("a") == answers
    assert not list(tmp_path.glob("shards/.restore-*"))


def test_an_archive_of_version_1_restores_by_recounting(edge: Retrieval, tmp_path: Path) -> None:
    fill(edge, "a")
    answers = edge.answers("a")
    archive = keep(edge.transfer.export_unit("a"), tmp_path / "a.tar.gz")
    old = rewrite(archive, tmp_path / "old.tar.gz", with_version(None, keep_model=False))
    assert UNIT_MODEL_MEMBER not in members(old)
    assert "version" not in json.loads(members(old)[ARCHIVE_INFO_MEMBER])
    edge.index("a", "qd-3", 77, version=9)
    recounts = RecountCounter(edge.engine)
    edge.import_archive("a", old)
    assert_recounted(edge, recounts, answers)


def test_a_model_that_does_not_match_the_archive_is_recounted(edge: Retrieval, tmp_path: Path) -> None:
    fill(edge, "a", 6)
    answers = edge.answers("a")
    archive = keep(edge.transfer.export_unit("a"), tmp_path / "a.tar.gz")
    other = tmp_path / "other"
    store = EdgeVectorStore(other / "shards", dense_dimension=DIMENSION)
    donor = build(other, store)
    fill(donor, "a", 2)
    donor.engine.flush()
    foreign_model = model_file(donor, "a").read_bytes()
    store.close()
    donor.registry.close()
    rewrite(archive, archive, lambda m, data: foreign_model if m.name == UNIT_MODEL_MEMBER else data)

    recounts = RecountCounter(edge.engine)
    edge.import_archive("a", archive)
    assert_recounted(edge, recounts, answers)


def test_unknown_versions_and_members_are_refused(edge: Retrieval, tmp_path: Path) -> None:
    fill(edge, "a", 3)
    archive = keep(edge.transfer.export_unit("a"), tmp_path / "a.tar.gz")
    future = rewrite(archive, tmp_path / "future.tar.gz", with_version(ARCHIVE_VERSION + 1, keep_model=True))
    mixed = rewrite(archive, tmp_path / "mixed.tar.gz", with_version(None, keep_model=True))
    with pytest.raises(ArchiveRejected, match="phiên bản"):
        edge.import_archive("a", future)
    with pytest.raises(ArchiveRejected, match="mục lạ"):  # version 1 had no model member
        edge.import_archive("a", mixed)


def test_a_units_archive_installs_only_into_that_unit(edge: Retrieval, tmp_path: Path) -> None:
    fill(edge, "a", 4)
    fill(edge, "b", 3)
    edge.engine.flush()
    archive = keep(edge.transfer.export_unit("a"), tmp_path / "a.tar.gz")
    model_b = model_file(edge, "b").read_bytes()
    answers_b, documents_b = edge.answers("b"), edge.documents("b")

    with pytest.raises(ArchiveRejected, match="đơn vị a"):
        edge.import_archive("b", archive)
    edge.import_archive("a", archive)

    assert model_file(edge, "b").read_bytes() == model_b
    assert edge.answers("b") == answers_b and edge.documents("b") == documents_b
    assert model_file(edge, "a").read_bytes() == members(archive)[UNIT_MODEL_MEMBER]
    assert sorted(path.name for path in (tmp_path / "unit-models").iterdir()) == sorted(
        (model_file(edge, "a").name, model_file(edge, "b").name)
    )
