"""Fixtures for the widget front-end tests: the mock backend and Debian's headless Chromium.

The browser tests never skip: without Playwright or Chromium they fail with what to install
(see `tests/browser.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, PageErrors, chromium, page_factory

from .mock_api import MockWidgetApi

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "PageErrors"]


@pytest.fixture()
def mock_api() -> Iterator[MockWidgetApi]:
    """A fresh backend per test, so recorded requests and sessions belong to that test."""
    mock = MockWidgetApi().start()
    yield mock
    mock.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture()
def new_page(browser: Any) -> Iterator[Any]:
    """Factory: a page in a fresh browser context (its own localStorage, like another device)."""
    with page_factory(browser) as make:
        yield make
