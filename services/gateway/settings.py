"""Typed settings of the gateway (env prefix TROLYAO_GATEWAY_)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from trolyao.settings import CommonSettings, metrics_port_field


class GatewaySettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="TROLYAO_GATEWAY_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="HTTP listen address.")
    port: int = Field(default=8080, description="HTTP port (TROLYAO_GATEWAY_PORT).")
    bootstrap_api_key: str = Field(
        default="",
        validation_alias=AliasChoices("TROLYAO_BOOTSTRAP_API_KEY"),
        description="A ministry-wide admin key accepted at start, for first set-up and scripts.",
    )
    cors_origins: list[str] = Field(default_factory=list, description="Portal origins allowed by CORS.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses (or CIDR ranges) of the reverse proxies whose `X-Forwarded-For` / "
        "`X-Forwarded-Proto` are believed, as a JSON list. Empty (the default): the TCP peer is the "
        "client, whatever the headers say (lockouts and the audit trail use it).",
    )
    telemetry_metrics_port: int = metrics_port_field("gateway")  # HTTP requests, asks per unit
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token Prometheus must send to scrape `GET /metrics` on the public port. "
        "Empty (the default): the public port serves no `/metrics` (404); scrape the gateway's own "
        "listener instead (`TROLYAO_GATEWAY_TELEMETRY_METRICS_PORT`, loopback by default).",
    )
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, description="Largest document upload accepted.")
    rpc_timeout_seconds: float = Field(default=15.0, description="Deadline of calls to retrieval and ops.")
    inline_text_limit_bytes: int = Field(
        default=256 * 1024, description="JSON documents up to this size travel inline in the event."
    )
    max_request_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="Largest request body accepted outside document uploads (asks, FAQ entries, feedback).",
    )
    rate_limit_per_second: float = Field(
        default=50.0,
        gt=0,
        description="Requests per second each credential may sustain, all gateway replicas together.",
    )
    rate_limit_burst: int = Field(
        default=100,
        ge=1,
        description="Requests a credential may send at once; all replicas together pass at most burst + "
        "rate × window in each window of burst / rate seconds (counted in NATS).",
    )
    bulk_backlog_limit: int = Field(
        default=1000,
        ge=1,
        description="A unit's bulk uploads (`?bulk=true`) are refused with 429 and `Retry-After` while this "
        "many of its bulk changes wait for ingest; accepted ones are all processed, interactive uploads "
        "are never refused by it.",
    )
    answer_rate_target: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="The ministry's bar: share of questions an assistant must answer.",
    )
    test_run_quiet_seconds: float = Field(
        default=10.0,
        ge=0,
        description="A unit's test run follows its knowledge changes once they stop for this long.",
    )
    test_run_max_wait_seconds: float = Field(
        default=120.0,
        gt=0,
        description="...or once its first change has waited this long (a steady stream still gets runs).",
    )
    test_run_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often each gateway replica looks for due test runs."
    )
    test_run_lease_seconds: float = Field(
        default=600.0,
        gt=0,
        description="A replica's claim on a unit's test run; a crashed replica's claim lapses after it.",
    )
    test_run_schedule_hours: float = Field(
        default=24.0,
        ge=0,
        description="Every unit with test questions is run at least this often (0: no scheduled runs).",
    )
