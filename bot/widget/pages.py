"""The demo page (`GET /`) and the embed script (`GET /widget/embed.js`)."""

from __future__ import annotations

import gzip
import hashlib
from importlib.resources import files

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

SCRIPT_CACHE = "public, max-age=300"  # short: a deploy reaches every site within minutes

#: The demo page loads only itself and the widget (styles inline, the widget's API same-origin).
DEMO_CSP = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def template_environment() -> Environment:
    """Jinja2 for the widget's pages: HTML is autoescaped."""
    return Environment(
        loader=PackageLoader("bot.widget", "templates"),
        autoescape=select_autoescape(["html", "htm", "j2"]),
        auto_reload=False,  # packaged templates: don't stat the file on every render
    )


def embed_script() -> bytes:
    return (files("bot.widget") / "static" / "embed.js").read_bytes()


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an `Accept-Encoding` header allows gzip (`gzip`, `x-gzip` or `*`, not q=0)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            quality = params.strip().lower()
            return not (quality.startswith("q=") and _is_zero(quality[2:]))
    return False


def _is_zero(quality: str) -> bool:
    try:
        return float(quality) == 0
    except ValueError:
        return False


def create_pages_router() -> APIRouter:
    demo = template_environment().get_template("demo.html").render().encode()
    script = embed_script()
    # compressed once: every visitor of every site loads it, and it is ~3x smaller gzipped
    script_gzip = gzip.compress(script, compresslevel=9, mtime=0)
    digest = hashlib.sha256(script).hexdigest()[:20]
    etag, etag_gzip = f'"{digest}"', f'"{digest}-gzip"'
    router = APIRouter(tags=["pages"])

    @router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def demo_page() -> Response:
        return HTMLResponse(
            demo,
            headers={
                "Cache-Control": "no-cache",
                "Content-Security-Policy": DEMO_CSP,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "strict-origin-when-cross-origin",
            },
        )

    @router.api_route("/widget/embed.js", methods=["GET", "HEAD"], include_in_schema=False)
    def embed(request: Request) -> Response:
        compressed = accepts_gzip(request.headers.get("accept-encoding", ""))
        tag = etag_gzip if compressed else etag
        headers = {
            "Cache-Control": SCRIPT_CACHE,
            "ETag": tag,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
        if tag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if compressed:
            headers["Content-Encoding"] = "gzip"
        return Response(
            script_gzip if compressed else script,
            media_type="text/javascript; charset=utf-8",
            headers=headers,
        )

    return router
