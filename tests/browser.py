"""Debian's headless Chromium, driven by Playwright, for the widget's browser tests.

The browser tests never skip: without Playwright or Chromium they fail and say what to install.
`QUALIBOT_CHROMIUM` points at another Chromium binary.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("QUALIBOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def sync_api() -> Any:
    """`playwright.sync_api`, or a test failure that says how to get it and Chromium."""
    try:
        from playwright import sync_api as api
    except ImportError:
        pytest.fail(
            "The widget's browser tests need Playwright for Python: pip install -e '.[dev]' "
            "(no `playwright install` needed: Debian's Chromium is used).",
            pytrace=False,
        )
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"The widget's browser tests need Chromium at {CHROMIUM}: apt-get install chromium "
            "(or point QUALIBOT_CHROMIUM at a Chromium binary).",
            pytrace=False,
        )
    return api


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium for a group of tests."""
    api = sync_api()
    with api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class PageErrors(list[str]):
    """Uncaught exceptions and alert()/confirm() dialogs seen on a page."""


@contextmanager
def page_factory(browser: Any) -> Iterator[Callable[..., Any]]:
    """Pages in fresh browser contexts (own localStorage: like another device). Uncaught page
    errors and dialogs (an `alert(1)` from injected markup would open one) are collected on
    `page.errors` and fail the test at the end."""
    contexts: list[Any] = []
    errors = PageErrors()

    def on_dialog(dialog: Any) -> None:
        errors.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def make(**context_options: Any) -> Any:
        context_options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(**context_options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(5000)
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("dialog", on_dialog)
        page.errors = errors
        return page

    try:
        yield make
    finally:
        for context in contexts:
            context.close()
    assert not errors, errors


# --- the widget on a page ---------------------------------------------------------------------
# Playwright's CSS engine pierces open shadow roots, so these selectors reach inside the widget.
W = "qualibot-widget"
LAUNCHER = f"{W} .launcher"
PANEL = f"{W} .panel"
INPUT = f"{W} #qb-input"
SEND = f"{W} .composer .send"


def in_shadow(page: Any, expression: str) -> Any:
    """Evaluate `expression` with `root` bound to the widget's shadow root."""
    return page.evaluate(
        f"(() => {{ const root = document.querySelector('{W}').shadowRoot; "
        f"return {expression}; }})()"
    )


def messages(page: Any) -> list[tuple[str, str]]:
    """(from, text) for every bubble, without the screen-reader prefix (its first child)."""
    rows = in_shadow(
        page,
        "[...root.querySelectorAll('.msg')].map(m => ["
        "m.classList.contains('visitor') ? 'visitor' : 'bot',"
        "[...m.querySelector('.bubble').childNodes].slice(1).map(n => n.textContent).join('')])",
    )
    return [tuple(row) for row in rows]


def wait_for_bot(page: Any, text: str) -> None:
    page.locator(f"{W} .msg.bot .bubble", has_text=text).last.wait_for()
