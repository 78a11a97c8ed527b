"""Typed settings of the ops service (env prefix TROLYAO_OPS_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from trolyao.settings import CommonSettings


class OpsSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="TROLYAO_OPS_", extra="ignore")

    listen: str = Field(default="127.0.0.1:50052", description="gRPC listen address.")
    units_file: Path = Field(
        default=Path("config/units.yaml"), description="The ministry's units, seeded at start."
    )
