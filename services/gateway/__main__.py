"""`python -m services.gateway`: serve the HTTP API with uvicorn."""

from __future__ import annotations

import uvicorn

from services.gateway.entrypoints.app import create_app
from services.gateway.settings import GatewaySettings
from trolyao.logs import configure_logging
from trolyao.telemetry import configure_telemetry


def main() -> None:
    settings = GatewaySettings()
    configure_logging(service="gateway", log_format=settings.log_format, level=settings.log_level)
    telemetry = configure_telemetry(service="gateway", settings=settings)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        # Forwarded headers count only from configured proxies: otherwise any client could rotate
        # X-Forwarded-For past the per-address lockout and write any address in the audit trail.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies,
        timeout_graceful_shutdown=5,
    )
    telemetry.shutdown()


if __name__ == "__main__":
    main()
