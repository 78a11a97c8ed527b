"""The interactive API documentation (Swagger UI at `/docs`, ReDoc at `/redoc`), served offline.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, which a ministry network without
Internet access (or a strict proxy) never reaches. The same files ship inside the PyPI package
`fastapi-offline` (Swagger UI's bundle and style sheet, ReDoc's standalone bundle, a favicon);
the gateway serves them itself under `DOCS_ASSETS_PREFIX`, and the pages reference only those
same-origin URLs, and a Content-Security-Policy keeps the browser from fetching anything else
(ReDoc's footer links a logo on its vendor's CDN; it is simply not shown). The pages and assets carry
no data and need no credential.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = DOCS_URL + "/oauth2-redirect"
DOCS_ASSETS_PREFIX = "/docs-assets"
# (package, folder inside it) holding swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png
ASSETS_PACKAGE = ("fastapi_offline", "static")
SWAGGER_JS = DOCS_ASSETS_PREFIX + "/swagger-ui-bundle.js"
SWAGGER_CSS = DOCS_ASSETS_PREFIX + "/swagger-ui.css"
REDOC_JS = DOCS_ASSETS_PREFIX + "/redoc.standalone.js"
FAVICON = DOCS_ASSETS_PREFIX + "/favicon.png"
ASSET_URLS = (SWAGGER_JS, SWAGGER_CSS, REDOC_JS, FAVICON)
# FastAPI's pages start the UI with an inline script; ReDoc runs its search index in a blob: worker.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _same_origin_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
    return page


def mount_api_docs(app: FastAPI, *, title: str) -> None:
    """Serve `/docs`, `/docs/oauth2-redirect` and `/redoc` with assets from this origin only.

    The app must be built with `docs_url=None, redoc_url=None` (FastAPI's CDN pages).
    """
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(DOCS_ASSETS_PREFIX, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _same_origin_only(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{title} — tài liệu API",
                swagger_js_url=SWAGGER_JS,
                swagger_css_url=SWAGGER_CSS,
                swagger_favicon_url=FAVICON,
                oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            )
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return _same_origin_only(get_swagger_ui_oauth2_redirect_html())

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _same_origin_only(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{title} — tài liệu API",
                redoc_js_url=REDOC_JS,
                redoc_favicon_url=FAVICON,
                with_google_fonts=False,
            )
        )


__all__ = ["ASSET_URLS", "DOCS_ASSETS_PREFIX", "DOCS_URL", "REDOC_URL", "mount_api_docs"]
