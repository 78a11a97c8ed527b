"""`python -m services.ingest`: consume document events until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal

from services.ingest.bootstrap import bootstrap
from services.ingest.settings import IngestSettings
from trolyao.logs import configure_logging, get_logger


async def serve() -> None:
    settings = IngestSettings()
    configure_logging(service="ingest", log_format=settings.log_format, level=settings.log_level)
    log = get_logger("ingest")
    app = await bootstrap(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, app.consumer.stop)
    await app.consumer.run()
    await app.stop()
    log.info("ingest_stopped")


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
