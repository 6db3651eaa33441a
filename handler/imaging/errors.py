"""Why an upload cannot become a rendition: one exception per reason, each final (a retry will not help)."""

from __future__ import annotations


class ImageRejected(Exception):
    """The input cannot become a rendition; retrying will not help. `reason` is a short code."""

    reason = "rejected"

    @property
    def message(self) -> str:
        """The human-readable explanation (what was refused and what to change)."""
        return str(self)


class NotAnImage(ImageRejected):
    reason = "not_an_image"


class TooLarge(ImageRejected):
    reason = "too_large"


class CorruptImage(ImageRejected):
    reason = "corrupt"


class OutOfTime(ImageRejected):
    reason = "timeout"
