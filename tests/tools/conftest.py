"""The backfill runs against the local emulator, which points this process at itself: restore afterwards."""

from tests.local.conftest import isolated_environment

__all__ = ["isolated_environment"]
