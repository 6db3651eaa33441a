"""PNG decoded in strips: the full-size picture never exists.

IDAT is inflated a piece at a time; each strip is un-filtered by Pillow's own PNG (zip) decoder, fed the
strip's rows re-wrapped as stored (uncompressed) deflate blocks behind the previous strip's last row,
unfiltered (filter type None), so Up, Average and Paeth filters see the row they were made against.

16-bit colour keeps only each sample's high byte, as Pillow does. PNG filters work byte by byte, each byte
against the bytes at the same place in the pixel to the left and the row above, so the high bytes un-filter
on their own: each row's high bytes (and its filter type) are decoded as the 8-bit picture of the same
colour type, and the low bytes are never un-filtered. 16-bit grey keeps all 16 bits, as Pillow does.
Non-interlaced, not animated, 8- or 16-bit PNGs only; everything else takes the whole-picture path.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import Any

from PIL import (
    Image,
    PngImagePlugin,
    _imaging,  # the C core: an image without a Python wrapper yet
)

from handler.imaging.limits import Limits

try:
    from zlib_ng import zlib_ng as zlib
except ImportError:  # pragma: no cover - zlib-ng is a dependency; plain zlib gives the same bytes, slower
    import zlib  # type: ignore[no-redef]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Rows per strip (rounded to the shrink factor): about 2 MB of RGBA at 8000 pixels wide.
STRIP_ROWS = 64
# Samples per pixel of each colour type: grey, RGB, palette, grey+alpha, RGBA.
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_GREY = 0


def strips_apply(data: bytes) -> bool:
    """Whether PNG `data` (opened by Pillow: IHDR first) is one this path decodes: 8- or 16-bit, not interlaced,
    not animated."""
    _width, _height, depth, _colour_type, interlace = _ihdr(data)
    return depth in (8, 16) and interlace == 0 and b"acTL" not in _chunk_kinds(data)


def decoded_strips(data: bytes, factor: int, limits: Limits) -> Iterator[Image.Image]:
    """The picture of PNG `data` as consecutive strips, each a multiple of `factor` rows (but the last)."""
    width, height, depth, colour_type, _interlace = _ihdr(data)
    stride = 1 + width * _CHANNELS[colour_type] * depth // 8
    rows = factor * max(1, STRIP_ROWS // factor)
    # The header chunks (palette, transparency) as Pillow reads them, no pixels: each strip is made like it.
    template = PngImagePlugin.PngImageFile(io.BytesIO(data))
    high_bytes = depth == 16 and colour_type != _GREY
    mode, rawmode = PngImagePlugin._MODES[(8, colour_type)] if high_bytes else (template.mode, template.tile[0].args)
    stream = Inflater(body for kind, body in _chunks(data) if kind == b"IDAT")
    # Each strip is decoded behind the row above it, unfiltered; above the first is black, as PNG defines.
    previous = bytes((stride - 1) // (2 if high_bytes else 1))
    for top in range(0, height, rows):
        limits.check_time("decoding PNG")
        count = min(rows, height - top)
        filtered = stream.read(count * stride)
        if len(filtered) < count * stride:
            raise OSError("PNG image data is truncated")
        if high_bytes:
            filtered = b"".join(
                filtered[row : row + 1] + filtered[row + 1 : row + stride : 2]
                for row in range(0, len(filtered), stride)
            )
        core = _imaging.new(mode, (width, 1 + count))
        decoder = Image._getdecoder(mode, "zip", rawmode)
        decoder.setimage(core, None)  # extents: the whole strip
        try:
            _feed(decoder, _ZLIB_HEADER + _stored(b"\x00" + previous))
            view = memoryview(filtered)
            for start in range(0, len(view), _STORED_MAX):
                _feed(decoder, _stored(view[start : start + _STORED_MAX]))
        finally:
            decoder.cleanup()
        strip = template._new(core)
        strip = strip.crop((0, 1, width, strip.height))
        previous = strip.crop((0, count - 1, width, count)).tobytes("raw", rawmode)
        yield strip.convert(template.mode)  # 16-bit grey+alpha: LA to RGBA, as Pillow decodes it (else a copy)


# A zlib stream header (deflate, 32 KB window, no preset dictionary); the strips' streams are stored blocks.
_ZLIB_HEADER = b"\x78\x01"
_STORED_MAX = 65535


def _stored(piece: bytes | memoryview) -> bytes:
    """`piece` as a non-final stored deflate block: the decoder ends at the strip's last row, not the stream."""
    return struct.pack("<BHH", 0, len(piece), len(piece) ^ 0xFFFF) + piece


def _feed(decoder: Any, data: bytes) -> None:
    _consumed, error = decoder.decode(data)
    if error < 0:
        raise OSError(f"cannot decode PNG strip (decoder error {error})")


class Inflater:
    """An inflated zlib stream (PNG's IDAT, a TIFF strip) read a piece at a time: never more is held."""

    def __init__(self, chunks: Iterator[memoryview]) -> None:
        self._chunks = chunks
        self._inflater = zlib.decompressobj()
        self._tail: bytes | memoryview = b""

    def read(self, size: int) -> bytes:
        """The next `size` bytes of the stream; fewer only at its end."""
        pieces: list[bytes] = []
        while size:
            try:
                piece = self._inflater.decompress(self._tail, size)
            except zlib.error as error:  # type: ignore[misc]  # not an OSError, which the pipeline reports as corrupt
                raise OSError(f"compressed image data is corrupt: {error}") from error
            self._tail = self._inflater.unconsumed_tail
            pieces.append(piece)
            size -= len(piece)
            if not self._tail:  # all input inflated: the next chunk, if any
                chunk = next(self._chunks, None)
                if chunk is None or self._inflater.eof:
                    break
                self._tail = chunk
        return b"".join(pieces)


def _ihdr(data: bytes) -> tuple[int, int, int, int, int]:
    width, height, depth, colour_type, _compression, _filter, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return width, height, depth, colour_type, interlace


def _chunks(data: bytes) -> Iterator[tuple[bytes, memoryview]]:
    view = memoryview(data)
    position = len(SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", view[position : position + 8])
        yield kind, view[position + 8 : position + 8 + length]
        if kind == b"IEND":
            return  # what follows is not the picture's (Pillow ignores it too), and may be long
        position += 12 + length


def _chunk_kinds(data: bytes) -> set[bytes]:
    return {kind for kind, _body in _chunks(data)}
