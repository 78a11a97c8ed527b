"""Settings shared by every service: where data lives and how to reach NATS and the gRPC services.

Each service has its own `Settings` class (its own env prefix) that inherits these fields; the shared
ones keep their plain `TROLYAO_*` names so one environment serves the whole stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from trolyao.messaging import NatsCredential
from trolyao.routing import parse_addresses

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_RETRIEVAL_ADDR = "127.0.0.1:50051"
DEFAULT_OPS_ADDR = "127.0.0.1:50052"
# Telemetry exporters by name (comma separated): see trolyao/telemetry/setup.py for what each does.
TRACES_EXPORTERS = frozenset({"none", "console", "otlp", "memory", "test-jsonl"})
METRICS_EXPORTERS = frozenset({"none", "console", "otlp", "prometheus", "memory"})
OTLP_PROTOCOLS = frozenset({"grpc", "http/protobuf"})
DEFAULT_TELEMETRY_POLL_SECONDS = 15.0
# Prometheus ports of the services without an HTTP API, on by default so ingest lag, dead letters
# and snapshot age are visible out of the box (the gateway serves `/metrics` on its own port).
# `make run` moves one that is taken to a free port and prints it (stack/cli.py).
DEFAULT_METRICS_PORTS = {"retrieval": 9464, "ingest": 9465, "ops": 9466, "gateway": 9467}
METRICS_PORT_DESCRIPTION = (
    "Serve Prometheus metrics on this port (0: not served; the gateway also serves /metrics on its "
    "public port to holders of TROLYAO_GATEWAY_METRICS_TOKEN)."
)


def metrics_port_field(service: str) -> Any:
    """The `telemetry_metrics_port` field of a service without HTTP, with its default port."""
    default = DEFAULT_METRICS_PORTS[service]
    return Field(default=default, ge=0, le=65_535, description=METRICS_PORT_DESCRIPTION)


def _shared(name: str) -> AliasChoices:
    return AliasChoices(name)


def _names_from(setting: str, allowed: frozenset[str], *, many: bool) -> AfterValidator:
    """Check a (comma-separated) choice; the error names the setting, whichever env name set it."""

    def check(value: str) -> str:
        names = [name.strip().lower() for name in value.split(",")] if many else [value.strip().lower()]
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise ValueError(f"{setting}: unknown {unknown}; expected {sorted(allowed)}")
        return ",".join(names)

    return AfterValidator(check)


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
    nats_user: str = Field(
        default="",
        validation_alias=_shared("TROLYAO_NATS_USER"),
        description="This service's NATS identity (gateway, ingest, ops, retrieval); empty: the URL's, "
        "if any.",
    )
    nats_password: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=_shared("TROLYAO_NATS_PASSWORD"),
        description="Password of TROLYAO_NATS_USER (from a secret in compose/k8s).",
    )
    nats_password_file: Path | None = Field(
        default=None,
        validation_alias=_shared("TROLYAO_NATS_PASSWORD_FILE"),
        description="A file holding the password (a mounted secret); wins over TROLYAO_NATS_PASSWORD.",
    )
    service_token: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=_shared("TROLYAO_SERVICE_TOKEN"),
        description="Shared secret every gRPC call between services carries; retrieval and ops refuse calls "
        "without it (health checks excepted). Empty: calls are not authenticated (in-process tests only).",
    )
    retrieval_addr: str = Field(
        default=DEFAULT_RETRIEVAL_ADDR,
        validation_alias=_shared("TROLYAO_RETRIEVAL_ADDR"),
        description="host:port of the retrieval gRPC service, as its clients reach it.",
    )
    retrieval_addresses: str = Field(
        default="",
        validation_alias=_shared("TROLYAO_RETRIEVAL_ADDRESSES"),
        description="host:port of every retrieval worker, comma separated, worker 0 first (the launcher "
        "sets it when it starts TROLYAO_RETRIEVAL_WORKERS > 1): a call about a unit goes to the worker that "
        "owns it (crc32 of the unit id mod their number). Empty: TROLYAO_RETRIEVAL_ADDR alone.",
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
    # ---- telemetry (OpenTelemetry); the standard OTEL_* names are accepted where one exists
    telemetry_traces_exporter: Annotated[
        str, _names_from("telemetry_traces_exporter", TRACES_EXPORTERS, many=True)
    ] = Field(
        default="none",
        validation_alias=AliasChoices("TROLYAO_TELEMETRY_TRACES_EXPORTER", "OTEL_TRACES_EXPORTER"),
        description="Where spans go: none | console | otlp | memory (in-process tests) | test-jsonl "
        "(tests of separate processes: one JSON-lines file per process under TELEMETRY_TEST_SPANS_DIR).",
    )
    telemetry_metrics_exporter: Annotated[
        str, _names_from("telemetry_metrics_exporter", METRICS_EXPORTERS, many=True)
    ] = Field(
        default="prometheus",
        validation_alias=AliasChoices("TROLYAO_TELEMETRY_METRICS_EXPORTER", "OTEL_METRICS_EXPORTER"),
        description="Where metrics go: prometheus (each service's TELEMETRY_METRICS_PORT; the gateway's "
        "/metrics too, with TROLYAO_GATEWAY_METRICS_TOKEN) | otlp | console | memory | none.",
    )
    telemetry_otlp_protocol: Annotated[
        str, _names_from("telemetry_otlp_protocol", OTLP_PROTOCOLS, many=False)
    ] = Field(
        default="grpc",
        validation_alias=AliasChoices("TROLYAO_TELEMETRY_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
        description="OTLP transport; the endpoint is the SDK's OTEL_EXPORTER_OTLP_ENDPOINT.",
    )
    # Per service (the service's prefix: TROLYAO_INGEST_TELEMETRY_METRICS_PORT, ...): one port each.
    telemetry_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65_535,
        description=METRICS_PORT_DESCRIPTION,
    )
    telemetry_metrics_host: str = Field(
        default="127.0.0.1", description="Address the Prometheus metrics port listens on."
    )
    telemetry_test_spans_dir: Path | None = Field(
        default=None,
        validation_alias=_shared("TROLYAO_TELEMETRY_TEST_SPANS_DIR"),
        description="Directory of the test-jsonl span files (tests only).",
    )
    telemetry_poll_seconds: float = Field(
        default=DEFAULT_TELEMETRY_POLL_SECONDS,
        gt=0,
        validation_alias=_shared("TROLYAO_TELEMETRY_POLL_SECONDS"),
        description="How often gauges read from NATS (ingest backlog, dead letters) are refreshed.",
    )
    trace_content: bool = Field(
        default=False,
        validation_alias=_shared("TROLYAO_TRACE_CONTENT"),
        description="Put question text and document titles in spans (they can be sensitive: off by default).",
    )

    def retrieval_route(self) -> tuple[str, ...]:
        """The retrieval workers' addresses, worker 0 first (one address: a single retrieval)."""
        return parse_addresses(self.retrieval_addresses or self.retrieval_addr)

    def nats_credential(self) -> NatsCredential | None:
        """This service's NATS identity, or None when the URL carries one (or none is needed)."""
        if not self.nats_user:
            return None
        if self.nats_password_file is not None:
            password = self.nats_password_file.read_text(encoding="utf-8").strip()
        else:
            password = self.nats_password.get_secret_value()
        return NatsCredential(user=self.nats_user, password=password)
