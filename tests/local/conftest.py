"""The local pipeline points this process at its emulator: each test gets the environment back."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from api import aws as api_aws
from api import settings as api_settings
from tests.conftest import clear_caches as clear_handler_caches


def clear_caches() -> None:
    """Forget the clients and settings of both functions: each test's emulator listens on a new port."""
    clear_handler_caches()
    api_aws.s3.cache_clear()
    api_aws.dynamodb.cache_clear()
    api_settings.settings.cache_clear()


@pytest.fixture(autouse=True)
def isolated_environment() -> Iterator[None]:
    """The demo points this process at its emulator; restore the environment and caches afterwards."""
    saved = dict(os.environ)
    clear_caches()
    yield
    os.environ.clear()
    os.environ.update(saved)
    clear_caches()
