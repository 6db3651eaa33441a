"""PNG decoded in strips: the full-size picture never exists.

IDAT is inflated a piece at a time; each strip is un-filtered by Pillow's own PNG (zip) decoder, fed the
strip's rows re-wrapped as stored (uncompressed) deflate blocks behind the previous strip's last row,
unfiltered (filter type None), so Up, Average and Paeth filters see the row they were made against.
Non-interlaced 8-bit PNGs only; everything else takes the whole-picture path.
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
# Bytes per pixel of each 8-bit colour type: grey, RGB, palette, grey+alpha, RGBA.
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Chunks the strips need to decode like the whole picture (palette, transparency); the rest is metadata.
_KEPT = (b"PLTE", b"tRNS")


def strips_apply(data: bytes) -> bool:
    """Whether `data` is a PNG this path decodes: 8-bit, not interlaced, not animated."""
    header = _ihdr(data)
    if header is None:
        return False
    _width, _height, depth, colour_type, interlace = header
    return depth == 8 and colour_type in _CHANNELS and interlace == 0 and b"acTL" not in _chunk_kinds(data)


def decoded_strips(data: bytes, factor: int, limits: Limits) -> Iterator[Image.Image]:
    """The picture of PNG `data` as consecutive strips, each a multiple of `factor` rows (but the last)."""
    header = _ihdr(data)
    assert header is not None
    width, height, _depth, colour_type, _interlace = header
    stride = 1 + width * _CHANNELS[colour_type]
    rows = factor * max(1, STRIP_ROWS // factor)
    # The header chunks (palette, transparency) as Pillow reads them, no pixels: each strip is made like it.
    template = PngImagePlugin.PngImageFile(io.BytesIO(data))
    rawmode = template.tile[0].args
    stream = _Inflater(body for kind, body in _chunks(data) if kind == b"IDAT")
    previous = b""
    for top in range(0, height, rows):
        limits.check_time("decoding PNG")
        count = min(rows, height - top)
        lead = 1 if previous else 0
        core = _imaging.new(template.mode, (width, count + lead))
        decoder = Image._getdecoder(template.mode, "zip", rawmode)
        decoder.setimage(core, (0, 0, width, count + lead))
        try:
            _feed(decoder, _ZLIB_HEADER)
            if lead:
                _feed(decoder, _stored(b"\x00" + previous))
            needed = count * stride
            while needed:
                piece = stream.read(min(_STORED_MAX, needed))
                if not piece:
                    raise OSError("PNG image data is truncated")
                _feed(decoder, _stored(piece))
                needed -= len(piece)
        finally:
            decoder.cleanup()
        strip = template._new(core)
        if lead:
            strip = strip.crop((0, 1, width, count + 1))
        previous = strip.crop((0, count - 1, width, count)).tobytes()
        yield strip


# A zlib stream header (deflate, 32 KB window, no preset dictionary); the strips' streams are stored blocks.
_ZLIB_HEADER = b"\x78\x01"
_STORED_MAX = 65535


def _stored(piece: bytes) -> bytes:
    """`piece` as a non-final stored deflate block: the decoder ends at the strip's last row, not the stream."""
    return struct.pack("<BHH", 0, len(piece), len(piece) ^ 0xFFFF) + piece


def _feed(decoder: Any, data: bytes) -> None:
    _consumed, error = decoder.decode(data)
    if error < 0:
        raise OSError(f"cannot decode PNG strip (decoder error {error})")


class _Inflater:
    """The inflated IDAT stream, read in pieces of at most a given size (never more is held)."""

    def __init__(self, chunks: Iterator[memoryview]) -> None:
        self._chunks = chunks
        self._inflater = zlib.decompressobj()
        self._tail: bytes | memoryview = b""

    def read(self, size: int) -> bytes:
        """Up to `size` bytes of the stream; b"" at its end."""
        while True:
            try:
                piece = self._inflater.decompress(self._tail, size)
            except zlib.error as error:  # type: ignore[misc]  # not an OSError, which the pipeline reports as corrupt
                raise OSError(f"PNG image data is corrupt: {error}") from error
            self._tail = self._inflater.unconsumed_tail
            if piece:
                return piece
            if self._inflater.eof:
                return b""
            if not self._tail:
                chunk = next(self._chunks, None)
                if chunk is None:
                    return b""
                self._tail = chunk


def _ihdr(data: bytes) -> tuple[int, int, int, int, int] | None:
    if not data.startswith(SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 29:
        return None
    width, height, depth, colour_type, _compression, _filter, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return width, height, depth, colour_type, interlace


def _chunks(data: bytes) -> Iterator[tuple[bytes, memoryview]]:
    view = memoryview(data)
    position = len(SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", view[position : position + 8])
        yield kind, view[position + 8 : position + 8 + length]
        if kind == b"IEND":
            return
        position += 12 + length


def _chunk_kinds(data: bytes) -> set[bytes]:
    return {kind for kind, _body in _chunks(data)}


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
