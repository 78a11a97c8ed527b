"""Response bodies of the gateway's own health routes (`/healthz`, `/readyz`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class HealthOut(BaseModel):
    status: str = Field(examples=["ok"])


class ReadinessOut(BaseModel):
    ready: bool
    dependencies: dict[str, dict[str, Any]] = Field(
        examples=[{"nats": {"ready": True, "reason": "sẵn sàng"}}]
    )
