"""The hostile inputs of issue 11, generated from one seed: small files with huge peaks, bombs, ICC abuse,
TIFF orientation, frame bombs, and every pixel mode an upload can arrive in.

Each case knows its upright size (so the rendition's size is checked independently of the engine) and,
where the picture has content, colours expected at given points of the output.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

from tests.hostile import writers as w

SEED = 11
CACHE = Path(__file__).resolve().parents[2] / "build" / "hostile"
MAX_PIXELS = 80_000_000
RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
# Displayed quadrant colours, clockwise from top left, probed at the centre of each quadrant.
QUADRANT_PROBES = {(0.25, 0.25): RED, (0.75, 0.25): GREEN, (0.75, 0.75): BLUE, (0.25, 0.75): YELLOW}


@dataclass(frozen=True)
class Case:
    """One hostile upload and what a correct outcome must look like."""

    name: str
    kind: str  # the issue-11 class it belongs to
    make: Callable[[random.Random], bytes]
    upright: tuple[int, int]
    animated: bool = False  # also ask for an animated rendition (frame bombs reach the animation path)
    valid: bool = True  # a well-formed file: refusing it as corrupt would tell the uploader something false
    renders: bool = False  # a strip path keeps it within the budget: refusing it would be a regression
    probes: dict[tuple[float, float], tuple[int, int, int]] = field(default_factory=dict)

    def path(self) -> Path:
        """The generated file, cached by name and by the generator's own source."""
        sources = b"".join(Path(module).read_bytes() for module in (__file__, w.__file__))
        digest = hashlib.sha256(sources + self.name.encode() + str(SEED).encode()).hexdigest()[:12]
        path = CACHE / f"{self.name}-{digest}.bin"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{random.getrandbits(32)}.tmp")
            temporary.write_bytes(self.make(random.Random(f"{SEED}:{self.name}")))
            temporary.replace(path)
        return path


def _noise(rng: random.Random) -> w.Rows:
    return w.Rows(rng.getrandbits(32))


def _palette(rng: random.Random, entries: int = 256) -> bytes:
    return rng.randbytes(entries * 3)


def _quadrants(size: tuple[int, int]) -> Image.Image:
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    half_w, half_h = size[0] // 2, size[1] // 2
    for box, colour in (
        ((0, 0, half_w - 1, half_h - 1), RED),
        ((half_w, 0, size[0] - 1, half_h - 1), GREEN),
        ((half_w, half_h, size[0] - 1, size[1] - 1), BLUE),
        ((0, half_h, half_w - 1, size[1] - 1), YELLOW),
    ):
        draw.rectangle(box, fill=colour)
    return image


def _oriented_tiff(orientation: int, compression: str) -> Callable[[random.Random], bytes]:
    """A TIFF storing quadrants turned as a camera would for `orientation` (6 or 8), with the tag set."""
    stored_for = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}

    def make(_: random.Random) -> bytes:
        stored = _quadrants((400, 200)).transpose(stored_for[orientation])
        page = w.TiffPage(
            stored.width,
            stored.height,
            compression=compression,
            orientation=orientation,
            rows_per_strip=16,
            rows=w.Rows(raw=stored.tobytes()),
        )
        return w.tiff([page])

    return make


def _gigapixel_png(rng: random.Random) -> bytes:
    """A 10-gigapixel header and the first rows only: refusing must not need the rest."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"".join(b"\0" + rng.randbytes(12_500) for _ in range(8)))
    return w.PNG_SIGNATURE + w.png_chunk(b"IHDR", header) + w.png_chunk(b"IDAT", rows) + w.png_chunk(b"IEND", b"")


def _gif_frame_bomb(rng: random.Random) -> bytes:
    frames = [w.GifFrame(i % 8000, i // 8000, 1, 1, bytes((i % 128,))) for i in range(3000)]
    return w.gif(8000, 8000, frames, _palette(rng, 128))


def _small_gif(rng: random.Random) -> bytes:
    frames = [w.GifFrame(0, 0, 600, 400, bytes(b % 128 for b in rng.randbytes(600 * 400))) for _ in range(4)]
    return w.gif(600, 400, frames, _palette(rng, 128))


def _webp_frames(canvas: tuple[int, int], count: int) -> Callable[[random.Random], bytes]:
    def make(rng: random.Random) -> bytes:
        tile = w.vp8l_frame(Image.frombytes("RGBA", (16, 16), rng.randbytes(16 * 16 * 4)))
        across = canvas[0] // 16
        frames = [w.WebpFrame(16 * (i % across), 16 * (i // across), 16, 16, tile) for i in range(count)]
        return w.animated_webp(*canvas, frames)

    return make


def _small_webp(rng: random.Random) -> bytes:
    frames = [
        w.WebpFrame(0, 0, 600, 400, w.vp8l_frame(Image.frombytes("RGB", (600, 400), rng.randbytes(600 * 400 * 3))))
        for _ in range(3)
    ]
    return w.animated_webp(600, 400, frames)


def _still_webp(lossless: bool, orientation: int = 1) -> Callable[[random.Random], bytes]:
    """80 MP of quadrants as a still WebP, stored turned as a camera would for `orientation` (1 or 6)."""

    def make(_: random.Random) -> bytes:
        stored = _quadrants((10000, 8000) if orientation == 1 else (8000, 10000))
        if orientation == 6:
            stored = stored.transpose(Image.Transpose.ROTATE_90)
        bitstream = w.webp_bitstream(stored, lossless, method=0)
        exif = w.exif_orientation(orientation) if orientation != 1 else b""
        return w.still_webp(*stored.size, bitstream, exif)

    return make


def _still_webp_with_alpha(_: random.Random) -> bytes:
    picture = _quadrants((10000, 8000)).convert("RGBA")
    picture.putalpha(Image.linear_gradient("L").resize(picture.size))
    buffer = io.BytesIO()
    picture.save(buffer, "WEBP", quality=80, method=0)  # VP8X + ALPH + VP8, as libwebp writes it
    return buffer.getvalue()


def _tiff_mode(
    bits: tuple[int, ...], photometric: int, big_endian: bool = False, **options: object
) -> Callable[[random.Random], bytes]:
    def make(rng: random.Random) -> bytes:
        page = w.TiffPage(1200, 900, bits, photometric, rows=_noise(rng), **options)  # type: ignore[arg-type]
        return w.tiff([page], big_endian)

    return make


def _png_mode(**options: object) -> Callable[[random.Random], bytes]:
    def make(rng: random.Random) -> bytes:
        return w.Png(1200, 900, rows=_noise(rng), **options).tobytes()  # type: ignore[arg-type]

    return make


FIFTEEN_MB = 15 * 1024 * 1024

CASES = [
    # -- small files, huge peaks
    Case(
        "jpeg-progressive-444-9000x8800",
        "huge peak",
        lambda r: w.Jpeg(9000, 8800, progressive=True).tobytes(),
        (9000, 8800),
    ),
    Case(
        "jpeg-progressive-cmyk-adobe-9000x6700",
        "huge peak",
        lambda r: w.Jpeg(9000, 6700, components=4, progressive=True, adobe_transform=0).tobytes(),
        (9000, 6700),
    ),
    Case(
        "png-grey16-72mp",
        "huge peak",
        lambda r: w.Png(9000, 8000, bit_depth=16, colour_type=0).tobytes(),
        (9000, 8000),
        renders=True,
    ),
    Case(
        "png-rgba16-72mp",
        "huge peak",
        lambda r: w.Png(9000, 8000, bit_depth=16, colour_type=6).tobytes(),
        (9000, 8000),
        renders=True,
    ),
    Case(
        "tiff-single-strip-deflate-72mp",
        "huge peak",
        lambda r: w.tiff([w.TiffPage(9000, 8000, compression="deflate")]),
        (9000, 8000),
        renders=True,
    ),
    Case(
        "png-palette-just-under-max-pixels",
        "huge peak",
        lambda r: w.Png(10000, 7999, colour_type=3, palette=_palette(r), transparency=bytes(16)).tobytes(),
        (10000, 7999),
    ),
    # -- decompression bombs
    Case("jpeg-baseline-444-79mp", "decompression bomb", lambda r: w.Jpeg(8900, 8900).tobytes(), (8900, 8900)),
    Case(
        "png-rgba-interlaced-79mp",
        "decompression bomb",
        lambda r: w.Png(8900, 8900, colour_type=6, interlace=True).tobytes(),
        (8900, 8900),
    ),
    Case(
        "png-rgb-one-pixel-over-max",
        "decompression bomb",
        lambda r: w.Png(MAX_PIXELS + 1, 1, colour_type=0).tobytes(),
        (MAX_PIXELS + 1, 1),
    ),
    Case(
        "png-10-gigapixel-header",
        "decompression bomb",
        _gigapixel_png,
        (100_000, 100_000),
        valid=False,
    ),
    Case("bmp-rle8-79mp", "decompression bomb", lambda r: w.bmp_rle8(8900, 8900, w.ZEROS), (8900, 8900)),
    Case(
        "tiff-tiled-deflate-79mp",
        "decompression bomb",
        lambda r: w.tiff([w.TiffPage(8900, 8900, compression="deflate", tile=(4096, 4096))]),
        (8900, 8900),
    ),
    Case(
        "tiff-strips-packbits-72mp",
        "decompression bomb",
        lambda r: w.tiff([w.TiffPage(9000, 8000, compression="packbits", rows_per_strip=64)]),
        (9000, 8000),
    ),
    Case(
        "gif-79mp-screen-one-pixel",
        "decompression bomb",
        lambda r: w.gif(8900, 8900, [w.GifFrame(0, 0, 1, 1, b"\1")], _palette(r, 128)),
        (8900, 8900),
    ),
    Case("webp-79mp-canvas-one-frame", "decompression bomb", _webp_frames((10000, 7900), 1), (10000, 7900)),
    # -- still WebP at 80 MP: libwebp decodes it straight to twice the target, no full-size canvas
    Case(
        "webp-80mp-still-lossy-orientation-6",
        "WebP still",
        _still_webp(False, 6),
        (8000, 10000),
        probes=QUADRANT_PROBES,
    ),
    Case("webp-80mp-still-lossless", "WebP still", _still_webp(True), (10000, 8000), probes=QUADRANT_PROBES),
    Case("webp-80mp-still-lossy-alpha", "WebP still", _still_webp_with_alpha, (10000, 8000)),
    # -- scan bomb
    Case(
        "jpeg-scan-bomb-8000-scans",
        "scan bomb",
        lambda r: w.Jpeg(8000, 6000, progressive=True, scans=8000).tobytes(),
        (8000, 6000),
    ),
    # -- ICC
    Case(
        "jpeg-icc-15mb-valid",
        "ICC",
        lambda r: w.Jpeg(4000, 3000, icc_profile=w.padded_profile(FIFTEEN_MB)).tobytes(),
        (4000, 3000),
    ),
    Case(
        "jpeg-icc-unparseable-rgb-header",
        "ICC",
        lambda r: w.Jpeg(4000, 3000, icc_profile=w.garbage_rgb_profile(r)).tobytes(),
        (4000, 3000),
    ),
    Case(
        "png-iccp-15mb-valid",
        "ICC",
        lambda r: w.Png(1200, 900, rows=_noise(r), icc_profile=w.padded_profile(FIFTEEN_MB)).tobytes(),
        (1200, 900),
    ),
    Case(
        "png-iccp-unparseable-rgb-header",
        "ICC",
        lambda r: w.Png(1200, 900, rows=_noise(r), icc_profile=w.garbage_rgb_profile(r)).tobytes(),
        (1200, 900),
    ),
    # -- TIFF orientation (applied once, however the TIFF is decoded)
    Case(
        "tiff-orientation-6-deflate",
        "TIFF orientation",
        _oriented_tiff(6, "deflate"),
        (400, 200),
        probes=QUADRANT_PROBES,
    ),
    Case(
        "tiff-orientation-6-uncompressed",
        "TIFF orientation",
        _oriented_tiff(6, "none"),
        (400, 200),
        probes=QUADRANT_PROBES,
    ),
    Case(
        "tiff-orientation-8-packbits",
        "TIFF orientation",
        _oriented_tiff(8, "packbits"),
        (400, 200),
        probes=QUADRANT_PROBES,
    ),
    # -- frame bombs
    Case("gif-3000-frames-on-64mp-screen", "frame bomb", _gif_frame_bomb, (8000, 8000), animated=True),
    Case("webp-500-frames-on-64mp-canvas", "frame bomb", _webp_frames((8000, 8000), 500), (8000, 8000), animated=True),
    Case(
        "tiff-5000-pages",
        "frame bomb",
        lambda r: w.tiff([w.TiffPage(64, 64, compression="deflate")] * 5000),
        (64, 64),
        animated=True,
    ),
    # -- pixel modes
    Case("mode-1-png", "mode", _png_mode(colour_type=0, bit_depth=1), (1200, 900)),
    Case("mode-L-png", "mode", _png_mode(colour_type=0), (1200, 900)),
    Case("mode-LA-png", "mode", _png_mode(colour_type=4), (1200, 900)),
    Case("mode-RGBA-png-interlaced", "mode", _png_mode(colour_type=6, interlace=True), (1200, 900)),
    Case(
        "mode-P-transparency-png",
        "mode",
        lambda r: w.Png(
            1200, 900, colour_type=3, rows=_noise(r), palette=_palette(r), transparency=bytes(range(256))
        ).tobytes(),
        (1200, 900),
    ),
    Case("mode-I16-png", "mode", _png_mode(colour_type=0, bit_depth=16), (1200, 900)),
    Case("mode-I16-tiff", "mode", _tiff_mode((16,), 1), (1200, 900)),
    Case("mode-I16B-tiff", "mode", _tiff_mode((16,), 1, big_endian=True), (1200, 900)),
    Case("mode-I-tiff", "mode", _tiff_mode((32,), 1, sample_format=2), (1200, 900)),
    Case("mode-F-tiff", "mode", _tiff_mode((32,), 1, sample_format=3), (1200, 900)),
    Case(
        "mode-CMYK-adobe-jpeg",
        "mode",
        lambda r: w.Jpeg(1200, 900, components=4, adobe_transform=0).tobytes(),
        (1200, 900),
    ),
    Case("mode-CMYK-no-adobe-jpeg", "mode", lambda r: w.Jpeg(1200, 900, components=4).tobytes(), (1200, 900)),
    Case("mode-CMYK-tiff", "mode", _tiff_mode((8, 8, 8, 8), 5), (1200, 900)),
    Case("mode-YCbCr-tiff", "mode", _tiff_mode((8, 8, 8), 6, extra_tags=((530, w.TIFF_SHORT, (1, 1)),)), (1200, 900)),
    Case("mode-LAB-tiff", "mode", _tiff_mode((8, 8, 8), 8), (1200, 900)),
    Case("mode-RGBX-tiff", "mode", _tiff_mode((8, 8, 8, 8), 2, extra_samples=(0,)), (1200, 900)),
    Case("mode-P-gif-animated", "mode", _small_gif, (600, 400), animated=True),
    Case("mode-P-bmp-rle8", "mode", lambda r: w.bmp_rle8(1200, 900, _noise(r)), (1200, 900)),
    Case("mode-RGB-webp-animated", "mode", _small_webp, (600, 400), animated=True),
    Case(
        "mode-YCbCr-jpeg-progressive-with-exif",
        "mode",
        lambda r: w.Jpeg(1200, 900, progressive=True, exif=w.exif_orientation(6)).tobytes(),
        (900, 1200),
    ),
]
