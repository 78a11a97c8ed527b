"""Per-unit language models: counted in step with the index and kept across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.retrieval.adapters.unit_model_files import FileUnitModelRepository
from services.retrieval.domain.unit_model import UnitLanguageModel

pytestmark = pytest.mark.timeout(10)


def test_file_repository_round_trips_and_drops(tmp_path: Path) -> None:
    repository = FileUnitModelRepository(tmp_path)
    model = repository.get("unit-a")
    model.add(["Tổ hoà giải có từ 03 hoà giải viên.", "Nghị định 13/2023/NĐ-CP."])
    repository.changed("unit-a")
    repository.flush()
    reloaded = FileUnitModelRepository(tmp_path).get("unit-a")
    assert reloaded.to_json() == model.to_json()
    assert reloaded.knows("hoa_giai") and reloaded.pair_count("hòa", "giải") == 2
    assert FileUnitModelRepository(tmp_path).get("unit-b").chunk_count == 0
    repository.drop("unit-a")
    assert FileUnitModelRepository(tmp_path).get("unit-a").chunk_count == 0


def test_rarer_terms_weigh_more() -> None:
    model = UnitLanguageModel()
    model.add(["sinh viên học phần", "sinh viên tốt nghiệp", "sinh viên bảo lưu"])
    assert model.idf("bao") > model.idf("sinh") > 0
    assert model.idf("never-seen") == model.max_idf()
