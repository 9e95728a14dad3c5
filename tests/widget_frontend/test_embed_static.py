"""Checks on the embed script and the demo page that need no browser."""

from __future__ import annotations

import gzip
import re

from jinja2 import Environment, FileSystemLoader, select_autoescape

from .mock_api import STATIC, TEMPLATES

EMBED = STATIC / "embed.js"
TAG = '<script src="/widget/embed.js" data-framework="bant" async></script>'


def test_embed_js_is_under_20_kb_gzipped() -> None:
    size = len(gzip.compress(EMBED.read_bytes(), compresslevel=9))
    assert size < 20 * 1024, f"embed.js is {size} bytes gzipped"


def test_embed_js_never_builds_html_from_strings() -> None:
    source = EMBED.read_text()
    for pattern in (
        r"\.innerHTML",
        r"\.outerHTML",
        r"insertAdjacentHTML",
        r"document\.write",
        r"\beval\(",
        r"new Function",
        r"createContextualFragment",
    ):
        assert not re.search(pattern, source), f"embed.js uses {pattern}"


def test_embed_js_isolates_styles_in_a_shadow_root() -> None:
    source = EMBED.read_text()
    assert 'attachShadow({ mode: "open" })' in source
    assert ":host { all: initial; }" in source


def test_demo_page_renders_with_autoescape_and_embeds_exactly_one_tag() -> None:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    html = env.get_template("demo.html").render()
    assert html.count("<script") == 1
    assert html.count(TAG) == 1
    # No network: no external fonts, images, stylesheets or scripts.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
