"""BMP decoded in strips: the full-size picture never exists.

Uncompressed BMP rows are raw (bottom-up or top-down, each padded to 4 bytes), so a strip of rows is one
slice of the upload, decoded by Pillow's own raw decoder with the file's raw mode, stride and direction.
RLE-compressed BMPs take the whole-picture path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from PIL import Image, _imaging

from handler.imaging.decode import upload_bytes
from handler.imaging.limits import Limits

# Rows per strip (rounded to the shrink factor): about 2 MB of RGB at 8000 pixels wide.
STRIP_ROWS = 64


def strips_apply(image: Image.Image) -> bool:
    """Whether `image` is a BMP this path decodes: one raw tile covering the picture, all rows present."""
    return _layout(image) is not None


def decoded_strips(image: Image.Image, factor: int, limits: Limits) -> Iterator[Image.Image]:
    """The picture of BMP `image` as consecutive strips, each a multiple of `factor` rows (but the last)."""
    layout = _layout(image)
    assert layout is not None
    offset, (rawmode, stride, direction) = layout
    data = memoryview(upload_bytes(image))
    width, height = image.size
    rows = factor * max(1, STRIP_ROWS // factor)
    for top in range(0, height, rows):
        limits.check_time("decoding BMP")
        count = min(rows, height - top)
        first = top if direction == 1 else height - top - count  # the strip's first row as stored
        core = _imaging.new(image.mode, (width, count))
        decoder = Image._getdecoder(image.mode, "raw", (rawmode, stride, direction))
        decoder.setimage(core, None)  # extents: the whole strip
        try:
            # The raw decoder fails only on a stride shorter than a row, which Pillow never computes.
            decoder.decode(data[offset + first * stride : offset + (first + count) * stride])
        finally:
            decoder.cleanup()
        yield image._new(core)  # with the palette and info of the whole picture


def _layout(image: Image.Image) -> tuple[int, tuple[Any, ...]] | None:
    """The pixel offset and raw decoder arguments (raw mode, stride, direction), if this path applies."""
    tiles = getattr(image, "tile", None) or []
    if image.format != "BMP" or len(tiles) != 1:
        return None
    tile = tiles[0]
    if tile.codec_name != "raw" or tuple(tile.extents) != (0, 0, *image.size) or len(tile.args) != 3:
        return None
    _rawmode, stride, direction = tile.args
    if direction not in (1, -1) or tile.offset + stride * image.height > len(upload_bytes(image)):
        return None  # a truncated file takes the whole path, which reports it
    return tile.offset, tuple(tile.args)
