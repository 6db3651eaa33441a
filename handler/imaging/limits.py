"""The budgets one upload is rendered within: pixels, memory and time."""

from __future__ import annotations

import time
from dataclasses import dataclass

from handler.imaging.errors import OutOfTime

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Refusals checked before decoding, and the instant work must be done by.

    `deadline` is a `time.monotonic()` instant (None: no time limit); `heic` turns HEIC/HEIF input on.
    """

    max_pixels: int = 80_000_000
    memory_mb: int = 512
    deadline: float | None = None
    heic: bool = True

    def check_time(self, stage: str) -> None:
        """Raise OutOfTime if the deadline has passed; called between stages, frames and strips."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfTime(f"ran out of time while {stage}: raise the function timeout or send a smaller image")
