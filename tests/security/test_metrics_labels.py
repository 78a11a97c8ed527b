"""`/metrics` (issue 14, finding 9): the public port serves it only to a scraper holding the scrape
token (it lists units and their answer counts), and it has no label a client chooses — a hundred
`Host` headers, odd methods and unknown paths add no series (the instrumentation used to record
the host as a label)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from services.gateway.entrypoints.app import create_app
from services.gateway.settings import GatewaySettings
from stack.launcher import Stack
from tests.security.conftest import METRICS_TOKEN

pytestmark = [pytest.mark.stack, pytest.mark.timeout(120)]

HOSTS = 100
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def _series(scrape: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples
        if sample.name.startswith("http_server")
    }


def _scrape(stack: Stack) -> str:
    reply = httpx.get(f"{stack.gateway_url}/metrics", headers=SCRAPER, timeout=30.0)
    assert reply.status_code == 200, reply.text
    return reply.text


def test_metrics_need_the_scrape_token(admin: httpx.Client, security_stack: Stack) -> None:
    url = f"{security_stack.gateway_url}/metrics"
    anonymous = httpx.get(url, timeout=30.0)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    wrong = httpx.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}x"}, timeout=30.0)
    assert wrong.status_code == 401
    # An admin API key is not the scrape token either.
    assert admin.get("/metrics").status_code == 401
    assert admin.get("/v1/units").status_code == 200
    assert "http_server" in _scrape(security_stack)


def test_without_a_token_the_public_port_serves_no_metrics() -> None:
    with TestClient(create_app(GatewaySettings(metrics_token=""))) as client:  # type: ignore[arg-type]
        assert client.get("/metrics", headers=SCRAPER).status_code == 404


def test_client_chosen_hosts_methods_and_paths_add_no_metric_series(
    admin: httpx.Client, security_stack: Stack
) -> None:
    assert admin.get("/v1/units", headers={"Host": "khoi-dong.example"}).status_code == 200
    assert admin.request("BREW", "/v1/units").status_code == 405
    assert admin.get("/khong-co/lan-0").status_code == 404
    before = _series(_scrape(security_stack))
    assert before, "the gateway exports HTTP server metrics"
    for number in range(HOSTS):
        assert admin.get("/v1/units", headers={"Host": f"may-{number}.tan-cong.example"}).status_code == 200
        admin.request(f"BREW{number}", "/v1/units")
        admin.get(f"/khong-co/lan-{number}")
    scrape = _scrape(security_stack)
    assert "tan-cong" not in scrape and "khoi-dong" not in scrape and "lan-" not in scrape
    assert "BREW" not in scrape
    assert _series(scrape) == before
