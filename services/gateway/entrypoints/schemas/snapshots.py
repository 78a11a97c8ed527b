"""Request and response bodies of the snapshot routes (`routes_snapshots`)."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator

from services.gateway.entrypoints.schemas.common import Paged
from trolyao.messaging import UNIT_ID_PATTERN


class SnapshotScopeIn(BaseModel):
    """Một đơn vị (`unit`) hoặc tất cả (`all_units: true`)."""

    unit: str | None = Field(default=None, pattern=UNIT_ID_PATTERN.pattern, examples=["cuc-bao-chi"])
    all_units: bool = False

    @model_validator(mode="after")
    def _one_scope(self) -> Self:
        if bool(self.unit) == self.all_units:
            raise ValueError("chọn một đơn vị (unit) hoặc tất cả đơn vị (all_units), không cả hai")
        return self


class SnapshotPartOut(BaseModel):
    name: str
    kind: str
    unit: str
    size: int
    sha256: str


class UnitSnapshotOut(BaseModel):
    unit: str
    stream_sequence: int
    replay_from_sequence: int
    documents: int
    chunks: int
    originals: int
    index_format: str


class SnapshotOut(BaseModel):
    snapshot_id: str
    scope: str
    created_at: str
    embedding_model: str
    schema_version: int
    stream_sequence: int
    size_bytes: int
    trigger: str
    storage: str
    seconds: float
    units: list[UnitSnapshotOut]
    parts: list[SnapshotPartOut]


class SnapshotList(Paged):
    snapshots: list[SnapshotOut]


class VerificationOut(BaseModel):
    ok: bool
    code: str = ""
    reason: str = ""


class RestorePhaseOut(BaseModel):
    name: str
    seconds: float


class UnitRestoreOut(BaseModel):
    unit: str
    documents: int
    chunks: int
    replay_from_sequence: int
    replay_to_sequence: int
    replayed_events: int
    replay_complete: bool
    replay_note: str
    missing_originals: list[str]
    restored_key_values: int
    phases: list[RestorePhaseOut]


class RestoreOut(BaseModel):
    snapshot_id: str
    units: list[UnitRestoreOut]
    restored_buckets: list[str]
    phases: list[RestorePhaseOut]
    seconds: float
