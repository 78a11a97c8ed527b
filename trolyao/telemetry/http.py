"""The gateway's HTTP telemetry: FastAPI instrumentation and the Prometheus `/metrics` route.

`instrument_fastapi(app)` is called once from `create_app`: every request becomes a SERVER span
named after its route (`POST /v1/units/{unit}/ask`) with the unit as an attribute, and feeds
`http.server.duration` (rate, errors by status code and latency, per route). Health probes and
the scrape itself are not traced. Bodies, query strings and headers are never recorded, and no
metric label comes from the client (the route template, not the path; never the `Host`).

`/metrics` lists units and their answer counts, so the public port serves it only to a scraper
holding the scrape token (`Authorization: Bearer <token>`); without a token configured it is not
served there at all (each service can serve its metrics on a listener of its own instead).
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.trace import Span
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from trolyao.telemetry import attributes as attr
from trolyao.telemetry.setup import active_telemetry

METRICS_PATH = "/metrics"
# Regexes (searched in the URL) of requests that get no span: probes and the scrape.
UNTRACED_URLS = r"/healthz$,/readyz$,/metrics$"
UNIT_IN_PATH = re.compile(r"^/v1/units/([^/]+)")
NOT_EXPORTED = "Metrics are not exported for Prometheus here (TROLYAO_TELEMETRY_METRICS_EXPORTER).\n"
NOT_FOUND = 404
UNAUTHORIZED = 401
SCRAPE_CHALLENGE = 'Bearer realm="metrics"'


def annotate_unit(span: Span, scope: dict[str, Any]) -> None:
    """Server request hook: the unit named in the path, as `trolyao.unit`."""
    if not span.is_recording():
        return
    match = UNIT_IN_PATH.match(str(scope.get("path", "")))
    if match:
        span.set_attribute(attr.UNIT, match.group(1))


def prometheus_metrics() -> Response:
    """The process's metrics in Prometheus' text format (404 when Prometheus export is off)."""
    telemetry = active_telemetry()
    if telemetry is None or telemetry.prometheus_registry is None:
        return PlainTextResponse(NOT_EXPORTED, status_code=NOT_FOUND)
    return Response(generate_latest(telemetry.prometheus_registry), media_type=CONTENT_TYPE_LATEST)


def scrape_guard(token: str) -> Any:
    """A route dependency: 401 unless the request carries `Authorization: Bearer <token>`."""
    expected = f"Bearer {token}".encode()

    def require_scrape_token(request: Request) -> None:
        presented = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(presented, expected):
            raise HTTPException(UNAUTHORIZED, headers={"WWW-Authenticate": SCRAPE_CHALLENGE})

    return require_scrape_token


def instrument_fastapi(app: FastAPI, *, scrape_token: str = "") -> None:
    """Trace and measure every request of `app`; serve `GET /metrics` to holders of `scrape_token`
    (not at all when it is empty)."""
    FastAPIInstrumentor.instrument_app(
        app,
        server_request_hook=annotate_unit,
        excluded_urls=UNTRACED_URLS,
        exclude_spans=["receive", "send"],
    )
    # A plain (sync) function: FastAPI runs it on a worker thread, so the collection that the
    # scrape triggers never blocks the event loop.
    if scrape_token:
        app.add_api_route(
            METRICS_PATH,
            prometheus_metrics,
            methods=["GET"],
            include_in_schema=False,
            dependencies=[Depends(scrape_guard(scrape_token))],
        )
