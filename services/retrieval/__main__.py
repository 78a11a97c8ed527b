"""`python -m services.retrieval`: run the retrieval gRPC service until SIGTERM/SIGINT."""

from __future__ import annotations

import os

# Before numpy loads: BLAS threads spinning beside the gRPC workers made embedding 3x slower on
# two cores (OFFLINE-NLP notes). Deployments may still override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import signal
import threading

from services.retrieval.adapters.telemetry import observe_vector_store_size
from services.retrieval.bootstrap import bootstrap
from services.retrieval.settings import RetrievalSettings
from trolyao.logs import configure_logging, get_logger
from trolyao.telemetry import configure_telemetry

FLUSH_INTERVAL_SECONDS = 5.0
UNIT_MODEL_FLUSH_EVERY_TICKS = 24  # two minutes: a crash loses at most that much of these statistics


def main() -> None:
    settings = RetrievalSettings()
    configure_logging(service="retrieval", log_format=settings.log_format, level=settings.log_level)
    log = get_logger("retrieval")
    telemetry = configure_telemetry(service="retrieval", settings=settings)
    app = bootstrap(settings)
    observe_vector_store_size(app.store)
    port = app.start()
    log.info(
        "retrieval_started",
        port=port,
        embedder=settings.embedder,
        generator=settings.generator,
        qdrant_server=bool(settings.qdrant_url),
        shared_registry=settings.shared_registry,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    ticks = 0
    while not stopping.wait(FLUSH_INTERVAL_SECONDS):
        ticks += 1
        try:
            app.flush(unit_models=ticks % UNIT_MODEL_FLUSH_EVERY_TICKS == 0)
        except Exception:  # one damaged unit must not stop the service (a restore repairs it)
            log.exception("periodic_flush_failed")
    app.stop()
    log.info("retrieval_stopped")
    telemetry.shutdown()


if __name__ == "__main__":
    main()
