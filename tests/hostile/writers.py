"""Byte-level image writers for hostile inputs: every header field is ours to choose, including lies.

Pixel payloads come from a `Rows` source (zeros, or seeded noise) and are streamed into the compressor,
so a 72 MP file costs the generator a row at a time. Only the WebP bitstreams (VP8L, VP8) come from
Pillow's encoder; the RIFF container around them, with its canvas, EXIF and frame offsets, is written here.
"""

from __future__ import annotations

import io
import random
import re
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from PIL import Image, ImageCms


@dataclass(frozen=True)
class Rows:
    """Pixel payloads: zero bytes (compress to almost nothing), seeded noise, or given raw bytes."""

    seed: int | None = None
    raw: bytes | None = None

    def reader(self) -> Callable[[int], bytes]:
        """A function returning the next `n` bytes; a fresh reader starts again from the beginning."""
        if self.raw is not None:
            return io.BytesIO(self.raw).read
        if self.seed is not None:
            return random.Random(self.seed).randbytes
        return bytes


ZEROS = Rows()


# ---------------------------------------------------------------------------------------------- PNG
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@dataclass(frozen=True)
class Png:
    """A PNG: IHDR fields as given, optional PLTE/tRNS/iCCP/eXIf, IDAT split into `idat_size` chunks."""

    width: int
    height: int
    bit_depth: int = 8
    colour_type: int = 2
    interlace: bool = False
    rows: Rows = ZEROS
    palette: bytes | None = None
    transparency: bytes | None = None
    icc_profile: bytes | None = None
    exif: bytes | None = None
    idat_size: int = 1 << 20

    def scanline_bytes(self, width: int) -> int:
        """Bytes of one filtered row (without its filter byte) for `width` pixels."""
        return (width * PNG_CHANNELS[self.colour_type] * self.bit_depth + 7) // 8

    def scanlines(self) -> Iterator[bytes]:
        """Filter byte 0 plus payload, row by row, pass by pass when interlaced."""
        read = self.rows.reader()
        passes = ADAM7 if self.interlace else ((0, 0, 1, 1),)
        for x0, y0, dx, dy in passes:
            width, height = -(-(self.width - x0) // dx), -(-(self.height - y0) // dy)
            if width <= 0 or height <= 0:
                continue
            for _ in range(height):
                yield b"\0" + read(self.scanline_bytes(width))

    def tobytes(self) -> bytes:
        """The encoded file."""
        out = io.BytesIO()
        out.write(PNG_SIGNATURE)
        ihdr = struct.pack(">IIBBBBB", self.width, self.height, self.bit_depth, self.colour_type, 0, 0, self.interlace)
        out.write(png_chunk(b"IHDR", ihdr))
        if self.icc_profile is not None:
            out.write(png_chunk(b"iCCP", b"hostile\0\0" + zlib.compress(self.icc_profile, 9)))
        if self.exif is not None:
            out.write(png_chunk(b"eXIf", self.exif))
        if self.palette is not None:
            out.write(png_chunk(b"PLTE", self.palette))
        if self.transparency is not None:
            out.write(png_chunk(b"tRNS", self.transparency))
        compressor = zlib.compressobj(9)
        pending = bytearray()
        for line in self.scanlines():
            pending += compressor.compress(line)
            while len(pending) >= self.idat_size:
                out.write(png_chunk(b"IDAT", bytes(pending[: self.idat_size])))
                del pending[: self.idat_size]
        pending += compressor.flush()
        out.write(png_chunk(b"IDAT", bytes(pending)))
        out.write(png_chunk(b"IEND", b""))
        return out.getvalue()


# ---------------------------------------------------------------------------------------------- TIFF
TIFF_SHORT, TIFF_LONG = 3, 4
COMPRESSION = {"none": 1, "packbits": 32773, "deflate": 8}


def packbits(data: bytes) -> bytes:
    """PackBits: 128-byte runs of one value as repeats, anything else as literals."""
    out = bytearray()
    for start in range(0, len(data), 128):
        chunk = data[start : start + 128]
        if chunk.count(chunk[0]) == len(chunk):
            out += bytes((257 - len(chunk), chunk[0])) if len(chunk) > 1 else bytes((0, chunk[0]))
        else:
            out += bytes((len(chunk) - 1,)) + chunk
    return bytes(out)


@dataclass(frozen=True)
class TiffPage:
    """One IFD. `tile` set: tiled layout, else strips of `rows_per_strip` rows (0: one strip)."""

    width: int
    height: int
    bits: tuple[int, ...] = (8, 8, 8)
    photometric: int = 2
    compression: str = "none"
    sample_format: int = 1
    extra_samples: tuple[int, ...] = ()
    orientation: int | None = None
    rows_per_strip: int = 0
    tile: tuple[int, int] | None = None
    rows: Rows = ZEROS
    extra_tags: tuple[tuple[int, int, tuple[int, ...]], ...] = ()

    def _pixel_bits(self) -> int:
        return sum(self.bits)

    def blocks(self) -> Iterator[bytes]:
        """Each strip or tile, compressed."""
        read = self.rows.reader()
        if self.tile is not None:
            tile_width, tile_height = self.tile
            across, down = -(-self.width // tile_width), -(-self.height // tile_height)
            row_bytes = (tile_width * self._pixel_bits() + 7) // 8
            for _ in range(across * down):
                yield self._compressed(read(row_bytes) for _ in range(tile_height))
            return
        per_strip = self.rows_per_strip or self.height
        row_bytes = (self.width * self._pixel_bits() + 7) // 8
        for top in range(0, self.height, per_strip):
            count = min(per_strip, self.height - top)
            yield self._compressed(read(row_bytes) for _ in range(count))

    def _compressed(self, rows: Iterator[bytes]) -> bytes:
        if self.compression == "deflate":
            compressor = zlib.compressobj(9)
            return b"".join([*(compressor.compress(row) for row in rows), compressor.flush()])
        raw = b"".join(rows)
        return packbits(raw) if self.compression == "packbits" else raw

    def tags(self, offsets: Sequence[int], counts: Sequence[int]) -> dict[int, tuple[int, tuple[int, ...]]]:
        """Tag number -> (type, values)."""
        tags: dict[int, tuple[int, tuple[int, ...]]] = {
            256: (TIFF_LONG, (self.width,)),
            257: (TIFF_LONG, (self.height,)),
            258: (TIFF_SHORT, self.bits),
            259: (TIFF_SHORT, (COMPRESSION[self.compression],)),
            262: (TIFF_SHORT, (self.photometric,)),
            277: (TIFF_SHORT, (len(self.bits),)),
            284: (TIFF_SHORT, (1,)),
            339: (TIFF_SHORT, (self.sample_format,) * len(self.bits)),
        }
        if self.orientation is not None:
            tags[274] = (TIFF_SHORT, (self.orientation,))
        if self.extra_samples:
            tags[338] = (TIFF_SHORT, self.extra_samples)
        if self.tile is not None:
            tags |= {
                322: (TIFF_LONG, (self.tile[0],)),
                323: (TIFF_LONG, (self.tile[1],)),
                324: (TIFF_LONG, tuple(offsets)),
                325: (TIFF_LONG, tuple(counts)),
            }
        else:
            tags |= {
                273: (TIFF_LONG, tuple(offsets)),
                278: (TIFF_LONG, (self.rows_per_strip or self.height,)),
                279: (TIFF_LONG, tuple(counts)),
            }
        for number, kind, values in self.extra_tags:
            tags[number] = (kind, values)
        return tags


def tiff(pages: Sequence[TiffPage], big_endian: bool = False) -> bytes:
    """A TIFF holding `pages` in order; each page's data is written just before its IFD."""
    order = ">" if big_endian else "<"
    out = bytearray(b"MM\0*" if big_endian else b"II*\0")
    out += struct.pack(order + "I", 0)
    previous_link = 4
    for page in pages:
        offsets, counts = [], []
        for block in page.blocks():
            offsets.append(len(out))
            counts.append(len(block))
            out += block
            out += b"\0" * (len(out) % 2)
        ifd_offset = len(out)
        struct.pack_into(order + "I", out, previous_link, ifd_offset)
        entries = sorted(page.tags(offsets, counts).items())
        ifd_size = 2 + 12 * len(entries) + 4
        heap = bytearray()
        table = bytearray(struct.pack(order + "H", len(entries)))
        for number, (kind, values) in entries:
            packed = struct.pack(order + ("H" if kind == TIFF_SHORT else "I") * len(values), *values)
            if len(packed) <= 4:
                table += struct.pack(order + "HHI", number, kind, len(values)) + packed.ljust(4, b"\0")
            else:
                table += struct.pack(order + "HHII", number, kind, len(values), ifd_offset + ifd_size + len(heap))
                heap += packed + b"\0" * (len(packed) % 2)
        previous_link = ifd_offset + len(table)
        out += table + struct.pack(order + "I", 0) + heap
    return bytes(out)


# ---------------------------------------------------------------------------------------------- JPEG
class _BitWriter:
    """Entropy-coded segment bits, most significant first, with 0xFF byte stuffing and 1-bit padding."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.value = 0
        self.count = 0

    def write(self, value: int, bits: int) -> None:
        self.value = (self.value << bits) | value
        self.count += bits
        while self.count >= 8:
            self.count -= 8
            byte = (self.value >> self.count) & 0xFF
            self.out += b"\xff\x00" if byte == 0xFF else bytes((byte,))
        self.value &= (1 << self.count) - 1

    def zeros(self, bits: int) -> None:
        """Many zero bits at once (a flat image's blocks are all zero codes)."""
        head = min(bits, (8 - self.count) % 8)
        self.write(0, head)
        bits -= head
        self.out += bytes(bits // 8)
        self.write(0, bits % 8)

    def flush(self) -> bytes:
        if self.count:
            self.write((1 << (8 - self.count)) - 1, 8 - self.count)
        return bytes(self.out)


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    """One marker segment with its length."""
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _huffman_table(table_class: int, table_id: int, lengths: dict[int, list[int]]) -> bytes:
    counts = bytes(len(lengths.get(length, [])) for length in range(1, 17))
    symbols = bytes(symbol for length in range(1, 17) for symbol in lengths.get(length, []))
    return jpeg_segment(0xC4, bytes(((table_class << 4) | table_id,)) + counts + symbols)


# EOBRUN symbols EOB0..EOB14 (0x00, 0x10, ... 0xE0), each a 4-bit code equal to its index.
_EOB_RUN_SYMBOLS = [r << 4 for r in range(15)]


@dataclass(frozen=True)
class Jpeg:
    """A flat-grey JPEG with 1x1 sampling on every component: each block is a zero DC and an EOB.

    Baseline costs 2 bits per block; progressive costs 1 bit per block for the DC scan and a few bytes
    per AC scan (end-of-band runs of 32767 blocks), so `scans` can be large in a tiny file.
    """

    width: int
    height: int
    components: int = 3
    progressive: bool = False
    scans: int = 0  # AC scans after the DC scan; 0: one per component
    adobe_transform: int | None = None  # APP14 "Adobe": 0 CMYK/RGB, 1 YCbCr, 2 YCCK
    icc_profile: bytes | None = None
    exif: bytes | None = None

    def _blocks(self) -> int:
        return -(-self.width // 8) * -(-self.height // 8)

    def tobytes(self) -> bytes:
        """The encoded file."""
        out = bytearray(b"\xff\xd8")
        if self.exif is not None:
            out += jpeg_segment(0xE1, b"Exif\0\0" + self.exif)
        if self.icc_profile is not None:
            out += _icc_segments(self.icc_profile)
        if self.adobe_transform is not None:
            out += jpeg_segment(0xEE, b"Adobe" + struct.pack(">HHHB", 100, 0, 0, self.adobe_transform))
        out += jpeg_segment(0xDB, b"\0" + bytes([1] * 64))
        frame = struct.pack(">BHHB", 8, self.height, self.width, self.components)
        frame += b"".join(bytes((index + 1, 0x11, 0)) for index in range(self.components))
        out += jpeg_segment(0xC2 if self.progressive else 0xC0, frame)
        out += _huffman_table(0, 0, {1: [0]})
        if self.progressive:
            out += _huffman_table(1, 0, {4: _EOB_RUN_SYMBOLS})
            out += self._progressive_scans()
        else:
            out += _huffman_table(1, 0, {1: [0]})
            out += self._scan_header(range(self.components), 0, 63)
            bits = _BitWriter()
            bits.zeros(2 * self._blocks() * self.components)
            out += bits.flush()
        return bytes(out + b"\xff\xd9")

    def _scan_header(self, components: range, start: int, end: int) -> bytes:
        selectors = b"".join(bytes((index + 1, 0x00)) for index in components)
        return jpeg_segment(0xDA, bytes((len(components),)) + selectors + bytes((start, end, 0)))

    def _progressive_scans(self) -> bytes:
        out = bytearray(self._scan_header(range(self.components), 0, 0))
        dc = _BitWriter()
        dc.zeros(self._blocks() * self.components)
        out += dc.flush()
        band = _BitWriter()
        remaining = self._blocks()
        while remaining:
            run = min(remaining, 32767)
            size = run.bit_length() - 1
            band.write(size, 4)
            band.write(run - (1 << size), size)
            remaining -= run
        band_bits = band.flush()
        for scan in range(self.scans or self.components):
            component = scan % self.components
            out += self._scan_header(range(component, component + 1), 1, 63) + band_bits
        return bytes(out)


def _icc_segments(profile: bytes) -> bytes:
    size = 65519
    chunks = [profile[start : start + size] for start in range(0, len(profile), size)]
    if len(chunks) > 255:
        raise ValueError("an ICC profile over 255 APP2 segments cannot be written")
    return b"".join(
        jpeg_segment(0xE2, b"ICC_PROFILE\0" + bytes((index + 1, len(chunks))) + chunk)
        for index, chunk in enumerate(chunks)
    )


def exif_orientation(orientation: int) -> bytes:
    """A little-endian TIFF-structured EXIF block holding only the Orientation tag."""
    return b"II*\0" + struct.pack("<IHHHIHHI", 8, 1, 274, TIFF_SHORT, 1, orientation, 0, 0)


# ---------------------------------------------------------------------------------------------- ICC
def srgb_profile() -> bytes:
    """LittleCMS's built-in sRGB profile."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def padded_profile(extra_bytes: int) -> bytes:
    """A valid sRGB profile grown by a private tag of `extra_bytes` zero bytes (LittleCMS still parses it)."""
    base = srgb_profile()
    (count,) = struct.unpack_from(">I", base, 128)
    entries = [struct.unpack_from(">4sII", base, 132 + 12 * i) for i in range(count)]
    data_start = 132 + 12 * count
    shifted = [(signature, offset + 12, size) for signature, offset, size in entries]
    body = base[data_start:] + b"\0" * (-len(base) % 4)
    private_offset = data_start + 12 + len(body)
    table = struct.pack(">I", count + 1) + b"".join(struct.pack(">4sII", *entry) for entry in shifted)
    table += struct.pack(">4sII", b"zzzz", private_offset, extra_bytes)
    profile = bytearray(base[:128] + table + body + bytes(extra_bytes))
    struct.pack_into(">I", profile, 0, len(profile))
    profile[84:100] = bytes(16)  # profile ID: "not computed"
    return bytes(profile)


def garbage_rgb_profile(rng: random.Random, size: int = 4096) -> bytes:
    """Noise that only looks like an RGB profile: the colour space field says 'RGB ', nothing else holds."""
    profile = bytearray(rng.randbytes(size))
    struct.pack_into(">I", profile, 0, size)
    profile[16:20] = b"RGB "
    profile[36:40] = b"xxxx"  # not 'acsp'
    return bytes(profile)


# ---------------------------------------------------------------------------------------------- GIF
@dataclass(frozen=True)
class GifFrame:
    """One frame: its rectangle on the logical screen and its palette indices (< 128)."""

    left: int
    top: int
    width: int
    height: int
    pixels: bytes
    delay_cs: int = 2


def _gif_lzw(pixels: bytes) -> bytes:
    """Uncompressed LZW: 8-bit codes (minimum code size 7) and a Clear code before the table would widen."""
    codes = bytearray((128,))
    for start in range(0, len(pixels), 126):
        codes += pixels[start : start + 126] + b"\x80"
    codes += b"\x81"
    blocks = b"".join(bytes((len(codes[i : i + 255]),)) + codes[i : i + 255] for i in range(0, len(codes), 255))
    return b"\x07" + blocks + b"\0"


def gif(width: int, height: int, frames: Sequence[GifFrame], palette: bytes) -> bytes:
    """An animated GIF89a on a `width` x `height` logical screen, looping forever."""
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF6, 0, 0) + palette.ljust(384, b"\0"))
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\0\0\0"
    for frame in frames:
        out += b"\x21\xf9\x04" + struct.pack("<BHBB", 0x04, frame.delay_cs, 0, 0)
        out += b"\x2c" + struct.pack("<HHHHB", frame.left, frame.top, frame.width, frame.height, 0)
        out += _gif_lzw(frame.pixels)
    return bytes(out + b"\x3b")


# ---------------------------------------------------------------------------------------------- BMP
_RUNS = re.compile(rb"(.)\1*", re.DOTALL)


def bmp_rle8(width: int, height: int, rows: Rows, palette_size: int = 256) -> bytes:
    """An 8-bit RLE BMP (bottom-up): each row as runs of up to 255 pixels, then end-of-line."""
    read = rows.reader()
    data = bytearray()
    for _ in range(height):
        for match in _RUNS.finditer(read(width)):
            value, length = match.group()[0] % palette_size, match.end() - match.start()
            data += bytes((255, value)) * (length // 255) + (bytes((length % 255, value)) if length % 255 else b"")
        data += b"\0\0"
    data += b"\0\1"
    palette = b"".join(bytes((i, 255 - i, (i * 7) % 256, 0)) for i in range(palette_size))
    header_size = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(data), 2835, 2835, palette_size, 0)
    return b"BM" + struct.pack("<IHHI", header_size + len(data), 0, 0, header_size) + info + palette + bytes(data)


# ---------------------------------------------------------------------------------------------- WebP
def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) % 2)


def _u24(value: int) -> bytes:
    return struct.pack("<I", value)[:3]


def vp8l_frame(image: Image.Image) -> bytes:
    """The VP8L chunk of `image` encoded lossless by Pillow (libwebp): the one part not written here."""
    return webp_bitstream(image, lossless=True)


def webp_bitstream(image: Image.Image, lossless: bool, **params: object) -> bytes:
    """The VP8L (lossless) or VP8 (lossy) chunk of `image` encoded by Pillow (libwebp)."""
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", lossless=lossless, **params)
    data = buffer.getvalue()
    position = 12
    while position < len(data):
        kind, size = data[position : position + 4], struct.unpack_from("<I", data, position + 4)[0]
        if kind in (b"VP8L", b"VP8 "):
            return data[position : position + 8 + size + size % 2]
        position += 8 + size + size % 2
    raise ValueError("Pillow wrote no VP8L or VP8 chunk")


def still_webp(width: int, height: int, bitstream: bytes, exif: bytes = b"") -> bytes:
    """A still extended-format WebP: VP8X canvas (with the EXIF flag when given), the bitstream, the EXIF."""
    vp8x = bytes((0x08 if exif else 0, 0, 0, 0)) + _u24(width - 1) + _u24(height - 1)
    body = _riff_chunk(b"VP8X", vp8x) + bitstream + (_riff_chunk(b"EXIF", exif) if exif else b"")
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


@dataclass(frozen=True)
class WebpFrame:
    """An ANMF frame at an even offset on the canvas."""

    left: int
    top: int
    width: int
    height: int
    bitstream: bytes  # a VP8L chunk
    duration_ms: int = 20


def animated_webp(width: int, height: int, frames: Sequence[WebpFrame]) -> bytes:
    """An extended-format animated WebP: VP8X canvas, ANIM, one ANMF per frame."""
    vp8x = bytes((0x12, 0, 0, 0)) + _u24(width - 1) + _u24(height - 1)
    body = _riff_chunk(b"VP8X", vp8x) + _riff_chunk(b"ANIM", b"\0\0\0\0\0\0")
    for frame in frames:
        header = _u24(frame.left // 2) + _u24(frame.top // 2) + _u24(frame.width - 1) + _u24(frame.height - 1)
        body += _riff_chunk(b"ANMF", header + _u24(frame.duration_ms) + b"\0" + frame.bitstream)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body
