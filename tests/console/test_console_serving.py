"""How the gateway serves the console's files (no stack needed), and the reindex event it publishes."""

from __future__ import annotations

import gzip

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.gateway.entrypoints.console import ASSETS_DIR, CONSOLE_PREFIX, load_assets, mount_console
from trolyao.docstatus import DocumentStatus, reindex_event

pytestmark = pytest.mark.timeout(30)

# Every file the console can load, compressed: the budget docs/console.md states.
MAX_TOTAL_GZIPPED_BYTES = 60_000


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    mount_console(app)
    return TestClient(app)


def test_the_shell_is_served_compressed_with_a_strict_policy(client: TestClient) -> None:
    reply = client.get(f"{CONSOLE_PREFIX}/", headers={"Accept-Encoding": "gzip"})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert 'lang="vi"' in reply.text
    policy = reply.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["cache-control"] == "no-cache"


def test_a_current_copy_is_revalidated_with_304(client: TestClient) -> None:
    first = client.get(f"{CONSOLE_PREFIX}/js/main.js")
    assert first.headers["content-type"].startswith("text/javascript")
    again = client.get(f"{CONSOLE_PREFIX}/js/main.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_routes_fall_back_to_the_shell_and_missing_files_are_404(client: TestClient) -> None:
    assert client.get(CONSOLE_PREFIX, follow_redirects=False).headers["location"] == f"{CONSOLE_PREFIX}/"
    assert "<title>" in client.get(f"{CONSOLE_PREFIX}/dashboard").text
    assert client.get(f"{CONSOLE_PREFIX}/js/nothing-here.js").status_code == 404


def test_the_console_stays_light() -> None:
    assets = load_assets(ASSETS_DIR)
    total = sum(len(asset.gzipped or asset.body) for asset in assets.values())
    assert total <= MAX_TOTAL_GZIPPED_BYTES, f"{total} bytes gzipped"
    for name, asset in assets.items():
        if asset.gzipped is not None:
            assert gzip.decompress(asset.gzipped) == asset.body, name


def test_reindex_republishes_the_kept_original_at_the_same_version() -> None:
    status = DocumentStatus(
        unit="cuc-bao-chi",
        document_id="nd-13-2023",
        version=7,
        status="failed",
        content_hash="sha256:abc",
        title="Nghị định 13",
        filename="nd13.pdf",
        object_name="cuc-bao-chi/nd-13-2023/7",
        media_type="application/pdf",
        metadata={"number": "13/2023/NĐ-CP", "unknown_field": "x"},
    )
    event = reindex_event(status)
    assert event.reindex is True
    assert (event.unit, event.document_id, event.version) == ("cuc-bao-chi", "nd-13-2023", 7)
    assert event.object_name == status.object_name and event.content_hash == status.content_hash
    assert event.metadata.number == "13/2023/NĐ-CP" and event.metadata.title == "Nghị định 13"
    assert event.event_id
