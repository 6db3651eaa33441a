"""What rendering returns: an encoded rendition, or the reason one rendition could not be made."""

from __future__ import annotations

from dataclasses import dataclass

from handler.renditions import CONTENT_TYPES, RenditionSpec


@dataclass(frozen=True)
class Rendition:
    """An encoded output image and what it was made from."""

    spec: RenditionSpec
    data: bytes
    format: str
    source_format: str
    original_size: tuple[int, int]
    size: tuple[int, int]
    frames: int = 1

    @property
    def content_type(self) -> str:
        """The MIME type of `data`."""
        return CONTENT_TYPES[self.format]


@dataclass(frozen=True)
class RenditionError:
    """A rendition that could not be made; the others of the upload are unaffected."""

    spec: RenditionSpec
    message: str
