"""Serve the web console (plain ES modules, no build step) under `/console`.

The console is static: one HTML shell, a style sheet and a few JavaScript modules, read once when
the app is built (they are small: see docs/console.md for the measured transfer size). Everything
it shows comes from the public API with the staff member's bearer token; these routes carry no
data and need no credential.

Each asset is kept raw and gzip-compressed; answers carry a strong ETag (a revalidation is a 304)
and `Cache-Control: no-cache` (no file names with hashes without a build step, so the browser asks
each time and the answer is almost always an empty 304). A strict Content-Security-Policy allows
only the console's own scripts and styles and calls to this origin.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse

CONSOLE_PREFIX = "/console"
ASSETS_DIR = Path(__file__).resolve().parent / "console_static"
INDEX_FILE = "index.html"
GZIP_LEVEL = 9
# Compressing a tiny file costs more header than it saves.
MIN_GZIP_BYTES = 512
CACHE_CONTROL = "no-cache"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}


@dataclass(frozen=True, slots=True)
class ConsoleAsset:
    """One file of the console, ready to send."""

    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


def load_assets(directory: Path) -> dict[str, ConsoleAsset]:
    """Every file under `directory`, by its path relative to it (forward slashes)."""
    assets: dict[str, ConsoleAsset] = {}
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        body = path.read_bytes()
        media_type = (
            _MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        compressible = len(body) >= MIN_GZIP_BYTES and not media_type.startswith(("image/png", "image/jpeg"))
        assets[path.relative_to(directory).as_posix()] = ConsoleAsset(
            body=body,
            gzipped=gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0) if compressible else None,
            media_type=media_type,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        )
    return assets


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def asset_response(request: Request, asset: ConsoleAsset) -> Response:
    """The asset, gzipped when the client accepts it, or 304 when the client's copy is current."""
    headers = {
        "ETag": asset.etag,
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept-Encoding",
        **SECURITY_HEADERS,
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if asset.gzipped is not None and _accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def mount_console(app: FastAPI, directory: Path = ASSETS_DIR) -> None:
    """Add `GET /console/...` to `app` (left out of the OpenAPI document)."""
    assets = load_assets(directory)
    index = assets[INDEX_FILE]

    @app.get(CONSOLE_PREFIX, include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse(CONSOLE_PREFIX + "/", status_code=308)

    @app.get(CONSOLE_PREFIX + "/{asset_path:path}", include_in_schema=False)
    async def console_asset(request: Request, asset_path: str) -> Response:
        # The console routes with `#/...`, so any unknown path that is not a file gets the shell.
        asset = assets.get(asset_path) if asset_path else index
        if asset is None:
            if "." in asset_path.rsplit("/", 1)[-1]:
                return Response(
                    "Không tìm thấy tệp.", status_code=404, media_type="text/plain; charset=utf-8"
                )
            asset = index
        return asset_response(request, asset)


__all__ = ["ASSETS_DIR", "CONSOLE_PREFIX", "ConsoleAsset", "asset_response", "load_assets", "mount_console"]
