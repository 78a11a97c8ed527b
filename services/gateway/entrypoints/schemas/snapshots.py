"""Request and response bodies of the snapshot routes (`routes_snapshots`)."""

from __future__ import annotations

from datetime import datetime
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


MAX_STREAM_SEQUENCE = 2**63 - 1


class RestoreIn(SnapshotScopeIn):
    """Phạm vi khôi phục; thêm `up_to_sequence` hoặc `up_to_time` để khôi phục tới một thời điểm."""

    up_to_sequence: int | None = Field(
        default=None,
        ge=1,
        le=MAX_STREAM_SEQUENCE,
        description="Chỉ phát lại các sự kiện văn bản tới số thứ tự này của luồng DOCS (tính cả nó).",
        examples=[1234],
    )
    up_to_time: datetime | None = Field(
        default=None,
        description="Chỉ phát lại các sự kiện được lưu trước thời điểm này (RFC 3339); các sự kiện sau đó"
        " (ví dụ một đợt xóa hàng loạt) bị bỏ qua.",
        examples=["2026-12-04T08:30:00+07:00"],
    )


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
    skipped_events: int = Field(default=0, description="Sự kiện sau mốc khôi phục, không được phát lại.")


class RestoreOut(BaseModel):
    snapshot_id: str
    units: list[UnitRestoreOut]
    restored_buckets: list[str]
    phases: list[RestorePhaseOut]
    seconds: float


class SkippedEventOut(BaseModel):
    sequence: int
    stored_at: str
    kind: str = Field(description="`upsert` hoặc `delete`.")
    document_id: str
    version: int
    source: str


class UnitRestorePreviewOut(BaseModel):
    unit: str
    replay_from_sequence: int
    replay_to_sequence: int
    skipped_events: int
    skipped: list[SkippedEventOut] = Field(description="Các sự kiện sẽ bị bỏ qua (tối đa 1000 sự kiện đầu).")


class RestorePreviewOut(BaseModel):
    snapshot_id: str
    units: list[UnitRestorePreviewOut]
