"""Settings shared by every service: where data lives and how to reach NATS and the gRPC services.

Each service has its own `Settings` class (its own env prefix) that inherits these fields; the shared
ones keep their plain `TROLYAO_*` names so one environment serves the whole stack.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_RETRIEVAL_ADDR = "127.0.0.1:50051"
DEFAULT_OPS_ADDR = "127.0.0.1:50052"


def _shared(name: str) -> AliasChoices:
    return AliasChoices(name)


class CommonSettings(BaseSettings):
    """Fields every service reads. Subclasses set `env_prefix` for their own fields."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    data_dir: Path = Field(
        default=Path("data"),
        validation_alias=_shared("TROLYAO_DATA_DIR"),
        description="Root of every file the stack keeps (NATS store, vector shards, caches).",
    )
    nats_url: str = Field(
        default=DEFAULT_NATS_URL,
        validation_alias=_shared("TROLYAO_NATS_URL"),
        description="NATS server(s), comma separated.",
    )
    retrieval_addr: str = Field(
        default=DEFAULT_RETRIEVAL_ADDR,
        validation_alias=_shared("TROLYAO_RETRIEVAL_ADDR"),
        description="host:port of the retrieval gRPC service, as its clients reach it.",
    )
    ops_addr: str = Field(
        default=DEFAULT_OPS_ADDR,
        validation_alias=_shared("TROLYAO_OPS_ADDR"),
        description="host:port of the ops gRPC service, as its clients reach it.",
    )
    jetstream_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        validation_alias=_shared("TROLYAO_JETSTREAM_REPLICAS"),
        description="Replicas of every JetStream stream and bucket: 1 on one machine, 3 on a NATS cluster.",
    )
    log_format: str = Field(
        default="console",
        validation_alias=_shared("TROLYAO_LOG_FORMAT"),
        description="'console' (readable) or 'json' (production).",
        pattern="^(console|json)$",
    )
    log_level: str = Field(default="INFO", validation_alias=_shared("TROLYAO_LOG_LEVEL"))
