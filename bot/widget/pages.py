"""The demo page (`GET /`) and the embed script (`GET /widget/embed.js`)."""

from __future__ import annotations

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


def create_pages_router() -> APIRouter:
    demo = template_environment().get_template("demo.html").render().encode()
    script = embed_script()
    etag = '"' + hashlib.sha256(script).hexdigest()[:20] + '"'
    router = APIRouter(tags=["pages"])

    @router.get("/", include_in_schema=False)
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

    @router.get("/widget/embed.js", include_in_schema=False)
    def embed(request: Request) -> Response:
        headers = {
            "Cache-Control": SCRIPT_CACHE,
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(script, media_type="text/javascript; charset=utf-8", headers=headers)

    return router
