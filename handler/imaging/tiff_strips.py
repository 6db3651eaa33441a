"""TIFF decoded in groups of rows: the full-size picture never exists.

TIFF strips are compressed independently, so a group of them is handed to Pillow/libtiff as a small TIFF
of its own (the original's layout tags, a shorter ImageLength, offsets into the copied strip bytes).
A TIFF stored as one strip is cut into groups of rows instead: sliced when uncompressed; when deflated,
inflated a group at a time and stored again as uncompressed deflate blocks, so libtiff still undoes the
predictor. Single-page, stripped, chunky 8-bit TIFFs without an orientation only (one strip: uncompressed
or deflated); the rest takes the whole path.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Iterator

from PIL import Image, TiffImagePlugin, TiffTags

from handler.imaging.limits import Limits
from handler.imaging.png_strips import Inflater

# About this many rows per group (rounded to whole strips and shrink factors).
GROUP_ROWS = 64
# Groups longer than this (huge strips or tiles, awkward factors) are not worth it: the whole path is used.
MAX_GROUP_ROWS = 1024
# The tags a group needs to decode like the whole picture: layout, compression, colour, predictor.
_LAYOUT_TAGS = (256, 258, 259, 262, 277, 278, 284, 317, 320, 322, 323, 338, 339)
_IMAGE_LENGTH, _ROWS_PER_STRIP, _TILE_WIDTH, _TILE_LENGTH = 257, 278, 322, 323
# Where the pieces are and how long they are: strips, or tiles (row by row of tiles).
_STRIPS, _TILES = (273, 279), (324, 325)
_COMPRESSIONS = (1, 5, 8, 32773, 32946)  # none, LZW, deflate, PackBits, old deflate
# A single strip is read a group of rows at a time only where that needs no decoder: none, deflate.
_UNCOMPRESSED, _DEFLATE = (1,), (8, 32946)


def group_rows(image: Image.Image, factor: int) -> int:
    """Rows per group for `image` shrunk by `factor` (a multiple of it), or 0 when this path does not apply."""
    if image.format != "TIFF" or image.n_frames != 1:  # type: ignore[attr-defined]
        return 0
    tags = image.tag_v2  # type: ignore[attr-defined]
    bits = tags.get(258, (1,))
    suitable = (
        tags.get(259, 1) in _COMPRESSIONS
        and tags.get(284, 1) == 1
        and tags.get(0x0112, 1) == 1
        and all(int(b) == 8 for b in (bits if isinstance(bits, tuple) else (bits,)))
        and image.mode in ("L", "RGB", "RGBA", "CMYK", "LA")
        and all(tag in tags for tag in _layout(tags))
    )
    if not suitable or (_one_strip(image) and tags.get(259, 1) not in _UNCOMPRESSED + _DEFLATE):
        return 0
    rows = factor * max(1, GROUP_ROWS // factor)
    held = held_rows(image, rows)
    return rows if held <= MAX_GROUP_ROWS and held < image.height else 0


def held_rows(image: Image.Image, rows: int) -> int:
    """Rows libtiff decodes at once for groups of `rows`: `rows` of one strip, else whole strips or rows of
    tiles, about GROUP_ROWS (cut again into groups of `rows`)."""
    if _one_strip(image):
        return rows
    per_piece = _rows_per_piece(image.tag_v2, image.height)  # type: ignore[attr-defined]
    return per_piece * max(1, GROUP_ROWS // per_piece)


def decoded_groups(image: Image.Image, data: bytes, rows: int, limits: Limits) -> Iterator[Image.Image]:
    """The picture as consecutive groups of `rows` rows (the last may be shorter)."""
    tags = image.tag_v2  # type: ignore[attr-defined]
    offsets_tag, counts_tag = _layout(tags)
    offsets, counts = tuple(tags[offsets_tag]), tuple(tags[counts_tag])
    if _one_strip(image):
        strip = memoryview(data)[offsets[0] : offsets[0] + counts[0]]
        return _opened(tags, image.size, rows, _cut_strip(tags, strip, image.size, rows), limits)
    # Whole strips or rows of tiles, about GROUP_ROWS at a time, then cut again into groups of `rows`.
    per_piece = _rows_per_piece(tags, image.height)
    across = math.ceil(image.width / int(tags[_TILE_WIDTH])) if _TILE_WIDTH in tags else 1
    held = held_rows(image, rows)
    pieces = _piece_groups(data, offsets, counts, held // per_piece * across)
    return _recut(_opened(tags, image.size, held, pieces, limits), rows)


def _opened(
    tags: TiffImagePlugin.ImageFileDirectory_v2,
    size: tuple[int, int],
    rows: int,
    groups: Iterator[list[bytes | memoryview]],
    limits: Limits,
) -> Iterator[Image.Image]:
    """Each group of compressed pieces (`rows` rows, the last may be shorter) decoded as a small TIFF."""
    for top, pieces in zip(range(0, size[1], rows), groups, strict=False):
        limits.check_time("decoding TIFF")
        group = Image.open(io.BytesIO(_small_tiff(tags, min(rows, size[1] - top), pieces)))
        group.load()
        yield group


def _recut(groups: Iterator[Image.Image], rows: int) -> Iterator[Image.Image]:
    """The same rows as strips of `rows` rows (the last may be shorter), whatever the groups' heights."""
    held: list[Image.Image] = []
    for group in groups:
        top = 0
        while top < group.height:
            take = min(rows - sum(part.height for part in held), group.height - top)
            held.append(group.crop((0, top, group.width, top + take)))
            top += take
            if sum(part.height for part in held) == rows:
                yield _stacked(held)
                held = []
    if held:
        yield _stacked(held)


def _stacked(parts: list[Image.Image]) -> Image.Image:
    """The parts one below the other: the first, extended by cropping past its bottom, then the rest pasted."""
    first, *rest = parts
    strip = first.crop((0, 0, first.width, first.height + sum(part.height for part in rest)))
    top = first.height
    for part in rest:
        strip.paste(part, (0, top))
        top += part.height
    return strip


def _one_strip(image: Image.Image) -> bool:
    tags = image.tag_v2  # type: ignore[attr-defined]
    return _TILE_WIDTH not in tags and _rows_per_piece(tags, image.height) == image.height


def _layout(tags: TiffImagePlugin.ImageFileDirectory_v2) -> tuple[int, int]:
    return _TILES if _TILE_WIDTH in tags else _STRIPS


def _rows_per_piece(tags: TiffImagePlugin.ImageFileDirectory_v2, height: int) -> int:
    """Rows in each strip, or in each row of tiles."""
    return min(int(tags.get(_TILE_LENGTH, tags.get(_ROWS_PER_STRIP, height))), height)


def _piece_groups(
    data: bytes, offsets: tuple[int, ...], counts: tuple[int, ...], per_group: int
) -> Iterator[list[bytes | memoryview]]:
    """The compressed strips or tiles, `per_group` at a time."""
    for first in range(0, len(offsets), per_group):
        yield [data[offsets[i] : offsets[i] + counts[i]] for i in range(first, min(first + per_group, len(offsets)))]


def _cut_strip(
    tags: TiffImagePlugin.ImageFileDirectory_v2, strip: memoryview, size: tuple[int, int], rows: int
) -> Iterator[list[bytes | memoryview]]:
    """The one strip of a TIFF as strips of `rows` rows each (the last may be shorter), compressed as it is."""
    row_bytes = size[0] * int(tags.get(277, 1))  # 8 bits per sample
    deflated = tags.get(259) in _DEFLATE
    stream = Inflater(iter([memoryview(strip)]))
    for top in range(0, size[1], rows):
        wanted = min(rows, size[1] - top) * row_bytes
        raw = stream.read(wanted) if deflated else strip[top * row_bytes : top * row_bytes + wanted]
        if len(raw) < wanted:
            raise OSError("TIFF image data is truncated")
        yield [zlib.compress(raw, 0) if deflated else raw]


def _small_tiff(tags: TiffImagePlugin.ImageFileDirectory_v2, height: int, pieces: list[bytes | memoryview]) -> bytes:
    ifd = TiffImagePlugin.ImageFileDirectory_v2()  # little-endian ("II"), as the header below
    for tag in _LAYOUT_TAGS:
        if tag in tags:
            ifd[tag] = tags[tag]
            ifd.tagtype[tag] = tags.tagtype[tag]
    ifd[_IMAGE_LENGTH] = height  # the width is the original's
    ifd.tagtype[_IMAGE_LENGTH] = TiffTags.LONG
    offsets_tag, counts_tag = _layout(tags)
    ifd[counts_tag] = tuple(len(piece) for piece in pieces)
    ifd.tagtype[counts_tag] = ifd.tagtype[offsets_tag] = TiffTags.LONG
    # Relative to the end of the directory: Pillow's writer adds where the directory ends to strip offsets,
    # and tile offsets are moved here (the directory's size does not depend on their values).
    starts, position = [], 0
    for piece in pieces:
        starts.append(position)
        position += len(piece)
    ifd[offsets_tag] = tuple(starts)
    if offsets_tag == _TILES[0]:
        end = 8 + len(ifd.tobytes(8))
        ifd[offsets_tag] = tuple(end + start for start in starts)
    return b"II*\x00" + (8).to_bytes(4, "little") + ifd.tobytes(8) + b"".join(pieces)
