"""`/docs` and `/redoc` render in Debian's headless Chromium with every request outside the gateway
refused, as on a ministry network without Internet access (issue 16)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Route, expect

from stack.launcher import Stack

pytestmark = [pytest.mark.stack, pytest.mark.timeout(120)]

RENDER_WAIT_MS = 30_000


@pytest.mark.parametrize(
    ("page_path", "rendered"), [("/docs", ".swagger-ui .info .title"), ("/redoc", ".api-info h1")]
)
def test_docs_render_with_only_the_gateway_reachable(
    browser: Browser, running_stack: Stack, page_path: str, rendered: str
) -> None:
    origin = running_stack.gateway_url
    refused: list[str] = []

    def only_the_gateway(route: Route) -> None:
        if route.request.url.startswith(origin + "/"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    context = browser.new_context()
    try:
        context.route("**/*", only_the_gateway)
        page = context.new_page()
        page.goto(origin + page_path)
        expect(page.locator(rendered).first).to_contain_text("Trợ lý ảo", timeout=RENDER_WAIT_MS)
        assert refused == [], refused
    finally:
        context.close()
