"""Typed settings of the ingest service (env prefix TROLYAO_INGEST_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from trolyao.settings import CommonSettings, metrics_port_field


class IngestSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="TROLYAO_INGEST_", extra="ignore")

    telemetry_metrics_port: int = metrics_port_field("ingest")  # ingest lag and dead letters, among others

    batch_size: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Events worked on at once across every unit (one slot is kept for interactive ones).",
    )
    unit_in_flight: int = Field(
        default=4,
        ge=1,
        le=256,
        description="A unit's share of the slots: beyond it, a unit only gets slots no other unit waits for.",
    )
    discovery_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the DOCS stream is read for units that have no lane consumers yet.",
    )
    queue_poll_seconds: float = Field(
        default=3.0,
        gt=0,
        description="How often each unit's queue (waiting changes, drain rate) is read and published.",
    )
    ack_wait_seconds: int = Field(
        default=30,
        ge=3,
        description="Redelivery after this long without an ack or a progress heartbeat (sent every third).",
    )
    max_deliver: int = Field(
        default=30, description="Deliveries before a retryable failure is dead-lettered."
    )
    max_backoff_seconds: float = Field(default=30.0, description="Longest wait before a retry.")
    index_timeout_seconds: float = Field(default=600.0, description="Deadline of one IndexDocument call.")
    max_document_bytes: int = Field(default=25 * 1024 * 1024, description="Largest original accepted.")
    max_pages: int = Field(default=300, description="Most PDF pages accepted.")
    max_chunks: int = Field(default=5000, description="Most chunks one document may produce.")
