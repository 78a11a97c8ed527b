"""docker-compose.yml's telemetry settings agree with the code and with deploy/otel-collector.yaml.

tests/deploy checks that the collector configuration is valid, mounted from deploy/ and wired to
Jaeger and Prometheus; here: every trolyao service, with the environment compose gives it,
exports spans and metrics over OTLP, with the protocol the collector receives on that port.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import REPO_ROOT, discover_services, endpoints, module_of_command
from tests.deploy.test_compose import builds_trolyao, collector_config, effective_env
from trolyao.settings import CommonSettings

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
RECEIVER_PROTOCOLS = {"grpc": "grpc", "http/protobuf": "http"}

pytestmark = pytest.mark.timeout(60)


def _compose_services() -> dict[str, dict[str, Any]]:
    loaded = yaml.safe_load(Path(COMPOSE_FILE).read_text(encoding="utf-8"))
    services: dict[str, dict[str, Any]] = loaded["services"]
    return services


def test_every_trolyao_service_exports_traces_and_metrics_over_otlp_to_the_collector() -> None:
    compose_services = _compose_services()
    receivers = collector_config(compose_services)["receivers"]["otlp"]["protocols"]
    settings_classes = discover_services()
    checked = []
    for name, service in compose_services.items():
        if not builds_trolyao(service):
            continue
        module = module_of_command(service.get("command"))
        assert module in settings_classes
        env = effective_env(service)
        settings = settings_classes[module].load(env)
        assert isinstance(settings, CommonSettings)
        assert "otlp" in settings.telemetry_traces_exporter.split(","), f"{name} exports no spans"
        assert "otlp" in settings.telemetry_metrics_exporter.split(","), f"{name} exports no metrics"
        assert settings.trace_content is False, f"{name} must not put content in spans"
        ((host, port),) = endpoints(env[OTLP_ENDPOINT])
        receiver = receivers[RECEIVER_PROTOCOLS[settings.telemetry_otlp_protocol]]
        assert host in compose_services, f"{name} sends OTLP to {host}, not a compose service"
        assert str(receiver["endpoint"]).endswith(f":{port}"), (
            f"{name} speaks {settings.telemetry_otlp_protocol} to port {port}; the collector "
            f"receives it on {receiver['endpoint']}"
        )
        assert env.get("OTEL_SERVICE_NAME", "").startswith("trolyao-"), f"{name} has no service.name"
        checked.append(name)
    assert sorted(checked) == ["gateway", "ingest", "ops", "retrieval"]
