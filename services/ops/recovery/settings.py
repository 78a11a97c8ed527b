"""Typed settings of snapshots in the ops service (env prefix TROLYAO_OPS_SNAPSHOT_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.ops.recovery.domain.retention import (
    DEFAULT_DAILY_DAYS,
    DEFAULT_HOURLY_HOURS,
    DEFAULT_KEEP_LAST,
    DEFAULT_ON_DEMAND_DAYS,
    DEFAULT_ON_DEMAND_KEEP_LAST,
    DEFAULT_ON_DEMAND_PER_HOUR,
)
from trolyao.settings import CommonSettings

SECONDS_PER_HOUR = 3_600
DEFAULT_TRANSFER_TIMEOUT_SECONDS = 1_800.0
DEFAULT_REPLAY_TIMEOUT_SECONDS = 1_800.0
SNAPSHOTS_DIR = "snapshots"


class SnapshotSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="TROLYAO_OPS_SNAPSHOT_", extra="ignore")

    dir: Path | None = Field(
        default=None, description="Local snapshot directory (default: <TROLYAO_DATA_DIR>/snapshots)."
    )
    s3_bucket: str = Field(
        default="", description="When set, snapshots go to this S3-compatible bucket instead of `dir`."
    )
    s3_prefix: str = Field(default="trolyao-snapshots", description="Key prefix inside the bucket.")
    s3_endpoint_url: str = Field(default="", description="S3-compatible endpoint (MinIO, Ceph); empty: AWS.")
    s3_region: str = Field(default="", description="Region of the bucket.")
    s3_access_key_id: str = Field(default="", description="Empty: boto3's usual credential chain.")
    s3_secret_access_key: SecretStr = Field(default=SecretStr(""))
    schedule_seconds: int = Field(
        default=SECONDS_PER_HOUR,
        ge=0,
        description="Take a snapshot of everything this often (0: no scheduled snapshots).",
    )
    keep_hourly_hours: int = Field(
        default=DEFAULT_HOURLY_HOURS, ge=0, description="Keep one scheduled snapshot per hour this long."
    )
    keep_daily_days: int = Field(
        default=DEFAULT_DAILY_DAYS, ge=0, description="Keep one scheduled snapshot per day this long."
    )
    keep_last: int = Field(default=DEFAULT_KEEP_LAST, ge=1, description="Always keep this many newest ones.")
    on_demand_keep_days: int = Field(
        default=DEFAULT_ON_DEMAND_DAYS,
        ge=0,
        description="Keep on-demand (manual, drill) snapshots this long.",
    )
    on_demand_keep_last: int = Field(
        default=DEFAULT_ON_DEMAND_KEEP_LAST,
        ge=1,
        description="Keep at most this many newest on-demand snapshots per unit (and of everything).",
    )
    on_demand_per_hour: int = Field(
        default=DEFAULT_ON_DEMAND_PER_HOUR,
        ge=1,
        description="On-demand snapshots one unit may take in any hour (more: 429 with Retry-After).",
    )
    transfer_timeout_seconds: float = Field(
        default=DEFAULT_TRANSFER_TIMEOUT_SECONDS, gt=0, description="Deadline of one unit's export or import."
    )
    replay_timeout_seconds: float = Field(
        default=DEFAULT_REPLAY_TIMEOUT_SECONDS,
        gt=0,
        description="How long a restore waits for ingest's replay.",
    )

    @property
    def local_dir(self) -> Path:
        return self.dir if self.dir is not None else self.data_dir / SNAPSHOTS_DIR
