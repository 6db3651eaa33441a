"""The local pipeline points this process at its emulator: each test gets the environment back."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import clear_caches


@pytest.fixture(autouse=True)
def isolated_environment() -> Iterator[None]:
    """The demo points this process at its emulator; restore the environment and caches afterwards."""
    saved = dict(os.environ)
    clear_caches()
    yield
    os.environ.clear()
    os.environ.update(saved)
    clear_caches()
