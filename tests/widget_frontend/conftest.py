"""Fixtures for the widget front-end tests: the mock backend. (The browser and its pages,
`browser` and `new_page`, come from `tests/conftest.py`.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .mock_api import MockWidgetApi


@pytest.fixture()
def mock_api() -> Iterator[MockWidgetApi]:
    """A fresh backend per test, so recorded requests and sessions belong to that test."""
    mock = MockWidgetApi().start()
    yield mock
    mock.stop()
