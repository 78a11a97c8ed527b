"""`python -m services.ingest`: consume document events until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal

from services.ingest.adapters.backlog_metrics import IngestBacklogGauges
from services.ingest.bootstrap import bootstrap
from services.ingest.settings import IngestSettings
from trolyao.logs import configure_logging, get_logger
from trolyao.messaging import INGEST_QUEUES_BUCKET
from trolyao.telemetry import configure_telemetry


async def serve() -> None:
    settings = IngestSettings()
    configure_logging(service="ingest", log_format=settings.log_format, level=settings.log_level)
    log = get_logger("ingest")
    telemetry = configure_telemetry(service="ingest", settings=settings)
    app = await bootstrap(settings)
    js = app.nats.jetstream()
    backlog = IngestBacklogGauges(
        js, interval_seconds=settings.queue_poll_seconds, queues=await js.key_value(INGEST_QUEUES_BUCKET)
    )
    backlog.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, app.consumer.stop)
    await app.consumer.run()
    await backlog.stop()
    await app.stop()
    log.info("ingest_stopped")
    telemetry.shutdown()


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
