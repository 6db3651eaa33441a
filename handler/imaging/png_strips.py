"""PNG decoded in strips: the full-size picture never exists.

IDAT is inflated a few rows at a time; each strip is handed to Pillow's own PNG decoder (which un-filters
it in C) as a small PNG whose first row is the previous strip's last row, unfiltered (filter type None),
so Up, Average and Paeth filters see the row they were made against. Non-interlaced 8-bit PNGs only;
everything else takes the whole-picture path.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator

from PIL import Image, PngImagePlugin

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
    kept = b"".join(_chunk(kind, bytes(body)) for kind, body in _chunks(data) if kind in _KEPT)
    idat = (body for kind, body in _chunks(data) if kind == b"IDAT")
    previous = b""
    for top, block in zip(range(0, height, rows), _inflated(idat, rows * stride), strict=False):
        limits.check_time("decoding PNG")
        count = min(rows, height - top)
        if len(block) < count * stride:
            raise OSError("PNG image data is truncated")
        raw = (b"\x00" + previous if previous else b"") + block[: count * stride]
        lead = 1 if previous else 0
        strip = _decode(width, count + lead, colour_type, kept, raw)
        if lead:
            strip = strip.crop((0, 1, width, count + 1))
        previous = strip.crop((0, count - 1, width, count)).tobytes()
        yield strip


def _decode(width: int, height: int, colour_type: int, kept: bytes, raw: bytes) -> Image.Image:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    png = SIGNATURE + _chunk(b"IHDR", ihdr) + kept + _chunk(b"IDAT", zlib.compress(raw, 0)) + _chunk(b"IEND", b"")
    strip = PngImagePlugin.PngImageFile(io.BytesIO(png))
    strip.load()
    return strip


def _inflated(chunks: Iterator[memoryview], size: int) -> Iterator[bytes]:
    """The inflated stream in blocks of `size` bytes (the last may be shorter); never more than one block."""
    inflater = zlib.decompressobj()
    pending = bytearray()
    for chunk in chunks:
        tail: bytes | memoryview = chunk
        while tail:
            pending += inflater.decompress(tail, size - len(pending))
            tail = inflater.unconsumed_tail
            if len(pending) == size:
                yield bytes(pending)
                pending.clear()
    pending += inflater.flush()
    while pending:
        yield bytes(pending[:size])
        del pending[:size]


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
