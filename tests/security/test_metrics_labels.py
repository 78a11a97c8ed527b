"""`/metrics` has no label a client chooses (issue 14, finding 9): a hundred requests with a
hundred `Host` headers add no series (the instrumentation used to record the host as a label)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from stack.launcher import Stack

pytestmark = [pytest.mark.stack, pytest.mark.timeout(120)]

HOSTS = 100


def _series(scrape: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples
        if sample.name.startswith("http_server")
    }


def test_host_headers_add_no_metric_series(admin: httpx.Client, security_stack: Stack) -> None:
    assert admin.get("/v1/units", headers={"Host": "khoi-dong.example"}).status_code == 200
    before = _series(httpx.get(f"{security_stack.gateway_url}/metrics", timeout=30.0).text)
    assert before, "the gateway exports HTTP server metrics"
    for number in range(HOSTS):
        assert admin.get("/v1/units", headers={"Host": f"may-{number}.tan-cong.example"}).status_code == 200
    scrape = httpx.get(f"{security_stack.gateway_url}/metrics", timeout=30.0).text
    assert "tan-cong" not in scrape and "khoi-dong" not in scrape
    assert _series(scrape) == before
