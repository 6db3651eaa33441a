"""Opening an upload: format allow-list, header facts and orientation, before any pixel is decoded."""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from handler.imaging import webp_scaled
from handler.imaging.errors import CorruptImage, NotAnImage, TooLarge
from handler.imaging.limits import Limits

# Registering just these decoders keeps Image.open from importing all of Pillow's plugins on first use.
_DECODERS = (BmpImagePlugin, GifImagePlugin, JpegImagePlugin, PngImagePlugin, TiffImagePlugin, WebPImagePlugin)

# Decided by content: Image.open never tries any other decoder (PSD, EPS, PDF, ICO, ...).
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")
# Formats registered by optional decoders (HEIC), added when first enabled.
_EXTRA_FORMATS: list[str] = []
_ORIENTATION_TAG = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}


class _TimedBytes(io.BytesIO):
    """The upload as a file whose every read checks the deadline: decoders read it a block at a time."""

    limits: Limits | None = None

    def read(self, size: int | None = -1, /) -> bytes:
        if self.limits is not None:
            self.limits.check_time("decoding")
        return super().read(size)


def watch_time(image: Image.Image, limits: Limits) -> None:
    """From now on, every read the decoder makes of `image`'s bytes checks `limits`' deadline."""
    reader = getattr(image, "fp", None)
    if isinstance(reader, _TimedBytes):
        reader.limits = limits


def open_image(data: bytes) -> ImageFile.ImageFile:
    """Read the header of `data` (no pixels yet); raises NotAnImage, CorruptImage or TooLarge."""
    if not data:
        raise NotAnImage("the object is empty (0 bytes)")
    formats = ALLOWED_FORMATS + tuple(_EXTRA_FORMATS)
    try:
        with warnings.catch_warnings():
            # Our own pixel limit is checked right after; Pillow's warning would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if webp_scaled.decodes(data):  # a still WebP: opened without the canvases Pillow's opener allocates
                return webp_scaled.WebPStill(_TimedBytes(data))
            return Image.open(_TimedBytes(data), formats=formats)
    except Image.DecompressionBombError as error:
        raise TooLarge(f"decompression bomb refused: {error}") from error
    except UnidentifiedImageError as error:
        allowed = ", ".join(formats)
        raise NotAnImage(f"content is not a supported image ({allowed})") from error
    except ValueError as error:
        if "too large" in str(error).lower() or "too much memory" in str(error).lower():
            # Pillow's limits on compressed metadata (iCCP, zTXt): a well-formed file, just too big.
            raise TooLarge(f"its metadata is too large to read: {error}") from error
        raise CorruptImage(f"cannot read image header: {error}") from error
    except (OSError, SyntaxError, EOFError) as error:
        raise CorruptImage(f"cannot read image header: {error}") from error


def allow_format(name: str) -> None:
    """Let open_image accept `name`, a format an optional plugin has registered with Pillow."""
    if name not in _EXTRA_FORMATS:
        _EXTRA_FORMATS.append(name)


def upload_bytes(image: Image.Image) -> bytes:
    """The bytes `image` was opened from (b"" when it was not opened by open_image)."""
    reader = getattr(image, "fp", None)
    return reader.getvalue() if isinstance(reader, io.BytesIO) else b""


def is_bmp_rle(image: Image.Image) -> bool:
    """Whether `image` is a run-length-encoded BMP (decoded by Pillow in pure Python)."""
    return image.format == "BMP" and any(tile[0] == "bmp_rle" for tile in getattr(image, "tile", ()))


def orients_on_load(image: Image.Image) -> bool:
    """Whether the decoder itself turns the picture upright and reports the upright size at open.

    Pillow does it for TIFF (load_end); libheif applies HEIF's irot/imir and pi-heif drops EXIF orientation.
    """
    return image.format in ("TIFF", "HEIF")


def orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8) of `image`, read without decoding pixels; 1 when absent or unreadable."""
    try:
        # PNG's getexif() loads the whole image to find an eXIf chunk after the pixels.
        exif = _png_exif(upload_bytes(image)) if image.format == "PNG" else image.getexif()
        value = exif.get(_ORIENTATION_TAG)
    except Exception:  # a broken EXIF block must not lose the image; it just is not rotated
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _png_exif(data: bytes) -> Image.Exif:
    """The eXIf chunk of a PNG, found by walking chunk headers (IDAT is skipped, never inflated); empty if none."""
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if kind == b"eXIf":
            exif = Image.Exif()
            exif.load(data[position + 8 : position + 8 + length])
            return exif
        if kind == b"IEND":
            break
        position += 12 + length
    return Image.Exif()


def webp_canvas(data: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP header declares (None if `data` is not WebP): libwebp allocates it on open."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    kind = data[12:16]
    if kind == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if kind == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if kind == b"VP8 ":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    return None


@dataclass(frozen=True)
class JpegLayout:
    """What a JPEG's markers say about how libjpeg will decode it."""

    progressive: bool
    scans: int
    sampling: tuple[tuple[int, int], ...]  # (horizontal, vertical) per component


def jpeg_layout(data: bytes) -> JpegLayout:
    """Walk the markers up to the first scan, then count the scans (SOS markers) of the whole file.

    A sequential frame whose first scan holds every component is single-scan: libjpeg stops with an error
    at any later SOS (measured), so its scans are not counted; counting costs about 1 ms per MB of file.
    """
    position, progressive = 2, False
    sampling: tuple[tuple[int, int], ...] = ()
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            position += 1  # fill bytes and garbage between segments
            continue
        marker = data[position + 1]
        if marker in (0xFF, 0x01) or 0xD0 <= marker <= 0xD9:
            position += 1  # fill byte or standalone marker (TEM, RSTn, SOI, EOI): no length follows
            continue
        if marker == 0xDA:
            if not progressive and position + 4 < len(data) and data[position + 4] == len(sampling):
                return JpegLayout(progressive, 1, sampling)
            # 0xFFDA never appears inside entropy-coded data (0xFF is stuffed as 0xFF00).
            return JpegLayout(progressive, data.count(b"\xff\xda", position), sampling)
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in _JPEG_SOF and position + 10 <= len(data):
            count = data[position + 9]
            table = data[position + 10 : position + 10 + 3 * count]
            sampling = tuple((table[i + 1] >> 4, table[i + 1] & 15) for i in range(0, len(table) - 2, 3))
            progressive = marker in _JPEG_PROGRESSIVE
        position += 2 + length
    return JpegLayout(progressive, 0, sampling)
