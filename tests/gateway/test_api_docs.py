"""`/docs` and `/redoc` work with the network off: every asset they reference is served by the
gateway itself (issue 16), not by a CDN."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from services.gateway.entrypoints.api_docs import ASSET_URLS
from services.gateway.entrypoints.app import create_app
from services.gateway.settings import GatewaySettings

pytestmark = pytest.mark.timeout(60)

ASSET_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")
MIN_BUNDLE_BYTES = 100_000  # the real Swagger UI / ReDoc bundles, not an empty placeholder


def referenced_urls(html: str) -> list[str]:
    return [first or second for first, second in ASSET_REFERENCE.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_same_origin_assets(page: str) -> None:
    client = TestClient(create_app(GatewaySettings()))
    reply = client.get(page)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    urls = referenced_urls(reply.text)
    assert urls, reply.text
    assert "cdn." not in reply.text and "fonts.googleapis" not in reply.text
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url} from elsewhere"
        assert client.get(url).status_code == 200, url


def test_every_docs_asset_answers_with_content() -> None:
    client = TestClient(create_app(GatewaySettings()))
    for url in ASSET_URLS:
        reply = client.get(url)
        assert reply.status_code == 200, url
        assert reply.content, url
        if url.endswith(".js"):
            assert len(reply.content) > MIN_BUNDLE_BYTES and "javascript" in reply.headers["content-type"], (
                url
            )
    assert client.get("/docs-assets/../../settings.py").status_code == 404
    assert client.get("/openapi.json").status_code == 200


def test_event_streams_document_one_event_as_item_schema_and_no_whole_stream_schema() -> None:
    """An event stream's content holds `itemSchema` (one event) and no `schema`: beside
    `itemSchema`, `schema` describes the whole stream, and schemathesis (ST108) then read the list
    of `/ask/stream` events against the one-event schema whenever a fuzzed ask was answered."""
    spec = create_app(GatewaySettings()).openapi()
    streams = {
        f"{method.upper()} {path}": media
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for response in operation.get("responses", {}).values()
        for content_type, media in response.get("content", {}).items()
        if content_type == "text/event-stream"
    }
    assert "POST /v1/units/{unit}/ask/stream" in streams
    for label, media in streams.items():
        assert "schema" not in media, label
        assert media["itemSchema"]["required"] == ["data"], label
