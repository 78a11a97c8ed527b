"""What the OpenAI-compatible adapters (embeddings, chat completions) share: the endpoint URL rule
and an HTTP client carrying the optional bearer key."""

from __future__ import annotations

import httpx


def endpoint_url(base_url: str, path: str) -> str:
    """`path` (e.g. "embeddings") under `base_url`, which may be the server root or its `/v1`."""
    root = base_url.rstrip("/")
    return f"{root}/{path}" if root.endswith("/v1") else f"{root}/v1/{path}"


def bearer_client(api_key: str, *, timeout: float, transport: httpx.BaseTransport | None) -> httpx.Client:
    """An HTTP client that sends `api_key` as a bearer token when it is set."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.Client(timeout=timeout, headers=headers, transport=transport)


__all__ = ["bearer_client", "endpoint_url"]
