"""The public HTTP API (FastAPI): the composition root of the gateway.

Built by `create_app(settings)`: no module-level state, so tests build as many apps as they like.
Authentication happens in one dependency (`current_principal`, which also applies the
per-credential rate limit, shared by every replica through NATS) and authorisation in one check
(`require` → `authorize`); every route module receives both through `RouteContext` and uses nothing
else.
"""

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Request, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.adapters.access_tokens import AccessTokenVerifier
from services.gateway.adapters.backends import Backends
from services.gateway.adapters.rate_counters import JetStreamRateCounter
from services.gateway.domain.authorization import Forbidden, Principal, Scope, authorize
from services.gateway.domain.problems import FORBIDDEN, RATE_LIMITED, UNAUTHENTICATED, ApiProblem
from services.gateway.domain.rate_limit import RateLimiter, RateWindow, SharedRateLimiter, retry_after_header
from services.gateway.entrypoints import (
    routes_accounts,
    routes_answers,
    routes_api_keys,
    routes_audit,
    routes_document_index,
    routes_documents,
    routes_event_credentials,
    routes_ingest_queue,
    routes_login,
    routes_openai,
    routes_quality,
    routes_reports,
    routes_snapshots,
    routes_units,
)
from services.gateway.entrypoints.api_docs import mount_api_docs
from services.gateway.entrypoints.change_audit import ChangeAudit, remember_principal
from services.gateway.entrypoints.console import mount_console
from services.gateway.entrypoints.document_paths import EncodedSlashes
from services.gateway.entrypoints.errors import BodySizeLimit, install_error_handlers, install_problem_openapi
from services.gateway.entrypoints.knowledge_changes import QualityWorkers
from services.gateway.entrypoints.routing import RouteContext
from services.gateway.entrypoints.routing_accounts import AccountRouteContext
from services.gateway.entrypoints.schemas.common import Problem
from services.gateway.entrypoints.schemas.health import HealthOut, ReadinessOut
from services.gateway.service import Gateway
from services.gateway.settings import GatewaySettings
from trolyao.logs import get_logger
from trolyao.messaging import RATE_LIMIT_RETENTION_SECONDS
from trolyao.telemetry.http import instrument_fastapi

log = get_logger("gateway")

API_KEY_PREFIX = "tly_"
AUTHENTICATED_PREFIX = "/v1/"
OPENAPI_REF_TEMPLATE = "#/components/schemas/{model}"
DOCUMENT_UPLOAD_MARKER = "/documents/"
TAG_OPERATIONS = "vận hành"
CORS_METHODS = ["GET", "POST", "PUT", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type", "Accept", "Last-Event-ID"]
CORS_EXPOSED = ["Retry-After", "Location"]

API_DESCRIPTION = """
API công khai của nền tảng trợ lý ảo: mỗi đơn vị của Bộ có trợ lý riêng, chỉ trả lời từ tri thức của
đơn vị mình, luôn kèm nguồn trích dẫn, và nói "chưa có thông tin" thay vì bịa.

* **Xác thực**: mọi yêu cầu cần `Authorization: Bearer <khóa API hoặc token>`. Khóa API gắn với một
  hoặc nhiều đơn vị và quyền `read` / `write` / `admin`; thông tin xác thực của đơn vị A không bao giờ
  chạm được dữ liệu của đơn vị B (403/404).
* **Lỗi**: luôn theo RFC 9457 (`application/problem+json`) với mã `code` ổn định và thông điệp tiếng Việt.
* **Giới hạn**: mỗi thông tin xác thực có hạn mức tần suất (429 kèm `Retry-After`); nội dung gửi lên có
  giới hạn kích thước (413); khi retrieval/ops/NATS không phản hồi, trả 503 kèm lý do, không treo.
* **Hội thoại**: gửi lại `conversation_id` để hỏi nối tiếp; hoặc dùng `POST /v1/chat/completions`
  tương thích OpenAI (`model` = mã đơn vị).
"""


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """The gateway's FastAPI app, wired to the dependencies named in `settings`."""
    settings = settings or GatewaySettings()
    backends = Backends(
        retrieval_addr=settings.retrieval_route(),
        ops_addr=settings.ops_addr,
        nats_url=settings.nats_url,
        nats_credential=settings.nats_credential(),
        service_token=settings.service_token.get_secret_value(),
        timeout=settings.rpc_timeout_seconds,
        jetstream_replicas=settings.jetstream_replicas,
    )
    gateway = Gateway(settings=settings, backends=backends)
    quality_workers = QualityWorkers(gateway.quality)
    limiter = SharedRateLimiter(
        local=RateLimiter(rate_per_second=settings.rate_limit_per_second, burst=settings.rate_limit_burst),
        counter=JetStreamRateCounter(lambda: backends.js),
        window=RateWindow.for_limit(
            rate_per_second=settings.rate_limit_per_second,
            burst=settings.rate_limit_burst,
            max_seconds=RATE_LIMIT_RETENTION_SECONDS / 2,
        ),
        on_unavailable=lambda error: log.warning("rate_limit_counter_unavailable", error=str(error)),
    )
    bootstrap_key_digest = (
        hashlib.sha256(settings.bootstrap_api_key.encode()).digest() if settings.bootstrap_api_key else None
    )
    bearer_scheme = HTTPBearer(
        auto_error=False,
        scheme_name="bearer",
        description="Khóa API (`tly_...`) hoặc token truy cập của tài khoản.",
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await backends.start()
        quality_workers.start()
        yield
        await quality_workers.stop()
        await backends.stop()

    app = FastAPI(
        title="trolyao — Trợ lý ảo của các đơn vị",
        version="1.0.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served offline by mount_api_docs, not from a CDN
        redoc_url=None,
    )
    app.state.backends = backends
    app.state.gateway = gateway
    access_tokens = AccessTokenVerifier(backends)
    app.state.access_token_verifier = access_tokens
    install_error_handlers(app)
    # Innermost: it sees the matched route, and records before the response leaves.
    app.add_middleware(ChangeAudit, record=backends.record_audit_event)
    app.add_middleware(EncodedSlashes)  # `%2F` inside a document id stays inside its path segment
    app.add_middleware(
        BodySizeLimit,
        default_limit=settings.max_request_bytes,
        upload_limit=settings.max_upload_bytes,
        upload_marker=DOCUMENT_UPLOAD_MARKER,
    )
    if settings.cors_origins:
        # Added last, so it wraps everything: 413 and 429 answers carry CORS headers too.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=CORS_EXPOSED,
        )

    async def authenticate(credential: str) -> Principal:
        """Turn a bearer credential into a principal, or raise 401 (503 when ops is down)."""
        if bootstrap_key_digest is not None and hmac.compare_digest(
            hashlib.sha256(credential.encode()).digest(), bootstrap_key_digest
        ):
            return Principal(
                subject="bootstrap",
                kind="api_key",
                units=frozenset(),
                all_units=True,
                scopes=frozenset({"read", "write", "admin"}),
            )
        if credential.startswith(API_KEY_PREFIX):
            return await backends.authenticate_api_key(credential)
        return await access_tokens.verify(credential)

    async def current_principal(
        request: Request,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
    ) -> Principal:
        """The one authentication dependency: who is calling, within their rate limit."""
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise ApiProblem(UNAUTHENTICATED, "Thiếu tiêu đề Authorization: Bearer <khóa API hoặc token>.")
        principal = await authenticate(credential.strip())
        remember_principal(request.scope, principal)
        wait = await limiter.acquire(principal.subject)
        if wait > 0:
            log.info("rate_limited", subject=principal.subject, retry_after=round(wait, 2))
            raise ApiProblem(
                RATE_LIMITED,
                "Thông tin xác thực này đã gửi quá nhiều yêu cầu; vui lòng thử lại sau ít giây.",
                headers={"Retry-After": retry_after_header(wait)},
            )
        return principal

    def require(principal: Principal, unit: str | None, scope: Scope) -> None:
        """The one authorisation check (403 unless `principal` holds `scope` on `unit`)."""
        try:
            authorize(principal, unit=unit, scope=scope)
        except Forbidden as error:
            detail = (
                "Thông tin xác thực không được cấp quyền cho đơn vị này."
                if unit is not None and str(error) == unit
                else "Thông tin xác thực không đủ quyền cho thao tác này."
            )
            raise ApiProblem(FORBIDDEN, detail) from error

    context = RouteContext(
        gateway=gateway,
        principal=current_principal,
        require=require,
        clock=lambda: app.state.access_token_verifier.clock(),
    )
    for module in (
        routes_units,
        routes_api_keys,
        routes_event_credentials,
        routes_documents,
        routes_document_index,
        routes_ingest_queue,
        routes_answers,
        routes_openai,
        routes_reports,
        routes_quality,
        routes_snapshots,
    ):
        app.include_router(module.build_router(context))
    # Routes that take people's access tokens (never API keys); they share the app's token verifier.
    account_context = AccountRouteContext(backends=backends, tokens=access_tokens)
    for account_module in (routes_login, routes_accounts, routes_audit):
        app.include_router(account_module.build_router(account_context))
    mount_console(app)  # the web console's static files under /console (docs/console.md)
    mount_api_docs(app, title=app.title)  # /docs and /redoc with their assets from this origin

    # ---------------------------------------------------------------- health

    @app.get("/healthz", response_model=HealthOut, tags=[TAG_OPERATIONS], summary="Gateway còn sống")
    async def healthz() -> HealthOut:
        """Trả về `{"status": "ok"}` khi tiến trình gateway đang chạy (không kiểm tra các phụ thuộc)."""
        return HealthOut(status="ok")

    @app.get(
        "/readyz",
        response_model=ReadinessOut,
        tags=[TAG_OPERATIONS],
        summary="Sẵn sàng phục vụ",
        responses={
            503: {"model": ReadinessOut, "description": "Có phụ thuộc chưa sẵn sàng (kèm lý do tiếng Việt)."}
        },
    )
    async def readyz() -> JSONResponse:
        """Kiểm tra từng phụ thuộc (NATS, retrieval, kho vector, ops); 503 kèm lý do khi có phụ thuộc
        hỏng, ví dụ `{"ready": false, "dependencies": {"retrieval": {"ready": false, "reason": "dịch vụ
        tìm kiếm (retrieval) không phản hồi"}}}`."""
        checks = await backends.readiness()
        ready = all(ok for ok, _ in checks.values())
        body = ReadinessOut(
            ready=ready,
            dependencies={name: {"ready": ok, "reason": reason} for name, (ok, reason) in checks.items()},
        )
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    # Spans and per-route metrics for every request; GET /metrics only with the scrape token.
    instrument_fastapi(app, scrape_token=settings.metrics_token.get_secret_value())
    install_problem_openapi(
        app,
        Problem.model_json_schema(ref_template=OPENAPI_REF_TEMPLATE),
        authenticated_prefix=AUTHENTICATED_PREFIX,
    )
    return app


__all__ = ["create_app"]
