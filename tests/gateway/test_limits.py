"""Limits and failures, on gateway apps built in-process by `create_app(settings)`:
per-credential rate limits (429 + Retry-After), 503 with a reason (never a hang) when retrieval,
ops or NATS are down, body size limits, and CORS for configured portal origins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TypeVar

import httpx
import pytest

from services.gateway.entrypoints.app import create_app
from services.gateway.settings import GatewaySettings
from stack.launcher import Stack
from stack.natsserver import free_port
from tests.gateway.conftest import bearer

pytestmark = pytest.mark.timeout(120)

ADMIN_KEY = "tly_limits_admin_" + "x" * 20
PORTAL = "https://congthongtin.bo.gov.vn"
DEAD_RPC_TIMEOUT_SECONDS = 2.0
NO_HANG_SECONDS = 10.0
T = TypeVar("T")


@asynccontextmanager
async def serve(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, behind an in-process HTTP client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30) as client:
            yield client


def run(scenario: Callable[[], Coroutine[object, object, T]]) -> T:
    return asyncio.run(scenario())


def dead_settings(**overrides: object) -> GatewaySettings:
    """Every dependency points at a port nothing listens on."""
    values: dict[str, object] = {
        "retrieval_addr": f"127.0.0.1:{free_port()}",
        "ops_addr": f"127.0.0.1:{free_port()}",
        "nats_url": f"nats://127.0.0.1:{free_port()}",
        "bootstrap_api_key": ADMIN_KEY,
        "rpc_timeout_seconds": DEAD_RPC_TIMEOUT_SECONDS,
    }
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]


@pytest.mark.stack
def test_rate_limit_answers_429_with_retry_after(running_stack: Stack) -> None:
    settings = GatewaySettings(
        retrieval_addresses=",".join(running_stack.retrieval_addresses),
        ops_addr=f"127.0.0.1:{running_stack.ports.ops}",
        nats_url=running_stack.nats_url,
        service_token=running_stack.service_token,
        bootstrap_api_key=ADMIN_KEY,
        rate_limit_per_second=0.5,
        rate_limit_burst=3,
    )

    async def scenario() -> list[httpx.Response]:
        async with serve(settings) as client:
            return [await client.get("/v1/units", headers=bearer(ADMIN_KEY)) for _ in range(5)]

    replies = run(scenario)
    assert [r.status_code for r in replies[:3]] == [200, 200, 200]
    limited = replies[3]
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 2


SHARED_WINDOW_SECONDS = 300.0
SHARED_BURST = 4
WINDOW_EDGE_MARGIN_SECONDS = 15.0


async def nats_ready(client: httpx.AsyncClient) -> None:
    while not (await client.get("/readyz")).json()["dependencies"]["nats"]["ready"]:
        await asyncio.sleep(0.1)


@pytest.mark.stack
def test_two_replicas_share_one_rate_limit(
    running_stack: Stack, new_unit: Callable[[str], str], issue_key: Callable[..., str]
) -> None:
    """Three gateway apps on one real nats-server: together they let one window's allowance through
    (the burst plus its refill: what one replica alone may pass), not three times the burst."""
    key = issue_key([new_unit("rl")], ["read"])  # a credential of its own: its counters are this test's only
    settings = GatewaySettings(
        retrieval_addresses=",".join(running_stack.retrieval_addresses),
        ops_addr=f"127.0.0.1:{running_stack.ports.ops}",
        nats_url=running_stack.nats_url,
        service_token=running_stack.service_token,
        rate_limit_per_second=SHARED_BURST / SHARED_WINDOW_SECONDS,
        rate_limit_burst=SHARED_BURST,
    )
    # Start inside a window, not at its edge (where the next window would let another burst through).
    left = SHARED_WINDOW_SECONDS - time.time() % SHARED_WINDOW_SECONDS
    if left < WINDOW_EDGE_MARGIN_SECONDS:
        time.sleep(left + 0.5)

    async def scenario() -> list[httpx.Response]:
        async with serve(settings) as first, serve(settings) as second, serve(settings) as third:
            replicas = (first, second, third)
            for client in replicas:
                await nats_ready(client)
            replies = []
            for _ in range(SHARED_BURST):  # in turn, so each replica alone stays within its own bucket
                for client in replicas:
                    replies.append(await client.get("/v1/units", headers=bearer(key)))
            return replies

    replies = run(scenario)
    statuses = [reply.status_code for reply in replies]
    allowance = 2 * SHARED_BURST  # the burst plus one window's refill
    assert statuses.count(200) == allowance, statuses
    assert statuses[:allowance] == [200] * allowance and set(statuses[allowance:]) == {429}
    retry_afters = [int(reply.headers["Retry-After"]) for reply in replies[allowance:]]
    assert all(0 < seconds <= SHARED_WINDOW_SECONDS for seconds in retry_afters)


def test_dependencies_down_give_503_with_reason_and_never_hang() -> None:
    async def scenario() -> dict[str, httpx.Response]:
        async with serve(dead_settings()) as client:
            admin = bearer(ADMIN_KEY)
            return {
                "ask": await client.post(
                    "/v1/units/cuc-bao-chi/ask", json={"question": "xin chào"}, headers=admin
                ),
                "units": await client.get("/v1/units", headers=admin),
                "api_key": await client.get("/v1/units", headers=bearer("tly_0123456789ab_secret")),
                "documents": await client.get("/v1/units/cuc-bao-chi/documents", headers=admin),
                "readyz": await client.get("/readyz"),
            }

    started = time.monotonic()
    replies = run(scenario)
    assert time.monotonic() - started < NO_HANG_SECONDS
    for name in ("ask", "units", "api_key", "documents"):
        reply = replies[name]
        assert reply.status_code == 503, (name, reply.text)
        assert reply.headers["content-type"].startswith("application/problem+json")
        assert reply.json()["code"] == "dependency_unavailable"
        assert reply.headers["Retry-After"]
    assert "ops" in replies["units"].json()["detail"]
    assert "ops" in replies["documents"].json()["detail"]  # a unit route first checks the unit exists
    readiness = replies["readyz"].json()
    assert replies["readyz"].status_code == 503 and readiness["ready"] is False
    assert "retrieval" in readiness["dependencies"]["retrieval"]["reason"]


def test_retrieval_down_is_503_naming_retrieval(running_stack: Stack) -> None:
    settings = GatewaySettings(
        retrieval_addr=f"127.0.0.1:{free_port()}",
        ops_addr=f"127.0.0.1:{running_stack.ports.ops}",
        nats_url=running_stack.nats_url,
        service_token=running_stack.service_token,
        bootstrap_api_key=ADMIN_KEY,
        rpc_timeout_seconds=DEAD_RPC_TIMEOUT_SECONDS,
    )

    async def scenario() -> httpx.Response:
        async with serve(settings) as client:
            while not (await client.get("/readyz")).json()["dependencies"]["nats"]["ready"]:
                await asyncio.sleep(0.1)
            return await client.post(
                "/v1/units/cuc-bao-chi/ask",
                json={"question": "xin chào", "conversation_id": "abc"},
                headers=bearer(ADMIN_KEY),
            )

    reply = run(scenario)
    assert reply.status_code == 503
    assert "retrieval" in reply.json()["detail"]


def test_bodies_over_the_limit_are_refused_even_when_streamed() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b'{"question": "' + b"a" * 1024

    async def scenario() -> list[httpx.Response]:
        settings = dead_settings(
            max_request_bytes=16 * 1024, max_upload_bytes=32 * 1024, cors_origins=[PORTAL]
        )
        async with serve(settings) as client:
            declared = await client.post(
                "/v1/units/cuc-bao-chi/ask",
                content=b"x" * 20_000,
                headers={**bearer(ADMIN_KEY), "Origin": PORTAL},
            )
            streamed = await client.put(
                "/v1/units/cuc-bao-chi/faq/x",
                content=chunks(),
                headers={**bearer(ADMIN_KEY), "content-type": "application/json"},
            )
            # A body no route reads, and a caller not even authenticated: still refused as problem+json
            unread = await client.request(
                "GET", "/v1/units", content=b"x" * 20_000, headers={"Origin": PORTAL}
            )
            upload = await client.put(
                "/v1/units/cuc-bao-chi/documents/d1",
                files={"file": ("a.txt", b"a" * 40_000, "text/plain")},
                headers=bearer(ADMIN_KEY),
            )
            within_upload_limit = await client.put(
                "/v1/units/cuc-bao-chi/documents/d1",
                files={"file": ("a.txt", b"a" * 20_000, "text/plain")},
                headers=bearer(ADMIN_KEY),
            )
            return [declared, streamed, unread, upload, within_upload_limit]

    declared, streamed, unread, upload, within_upload_limit = run(scenario)
    for reply in (declared, streamed, unread, upload):
        assert reply.status_code == 413, reply.text
        assert reply.headers["content-type"].startswith("application/problem+json")
        assert reply.json()["code"] == "payload_too_large"
    assert "16 KB" in declared.json()["detail"] and "32 KB" in upload.json()["detail"]
    for reply in (declared, unread):
        assert reply.headers["access-control-allow-origin"] == PORTAL
    assert within_upload_limit.status_code != 413  # uploads have their own, larger limit


def test_cors_allows_configured_portals_only() -> None:
    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with serve(dead_settings(cors_origins=[PORTAL])) as client:
            preflight = {
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            }
            allowed = await client.options(
                "/v1/units/cuc-bao-chi/ask", headers={"Origin": PORTAL, **preflight}
            )
            refused = await client.options(
                "/v1/units/cuc-bao-chi/ask", headers={"Origin": "https://evil.example", **preflight}
            )
            simple = await client.get("/v1/units", headers={"Origin": PORTAL})
            return allowed, refused, simple

    allowed, refused, simple = run(scenario)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == PORTAL
    assert "access-control-allow-origin" not in refused.headers
    assert simple.status_code == 401 and simple.headers["access-control-allow-origin"] == PORTAL
