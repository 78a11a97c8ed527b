"""`python -m services.ops`: run the ops gRPC service until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal

from services.ops.bootstrap import bootstrap
from services.ops.settings import OpsSettings
from trolyao.logs import configure_logging, get_logger
from trolyao.telemetry import configure_telemetry


async def serve() -> None:
    settings = OpsSettings()
    configure_logging(service="ops", log_format=settings.log_format, level=settings.log_level)
    log = get_logger("ops")
    telemetry = configure_telemetry(service="ops", settings=settings)
    app = await bootstrap(settings)
    log.info("ops_started", port=app.port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await app.stop()
    log.info("ops_stopped")
    telemetry.shutdown()


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
