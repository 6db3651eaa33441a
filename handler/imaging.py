"""Image rendering: bytes in, bytes out. All Pillow knowledge of the pipeline lives here; no AWS."""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from typing import cast

from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageCms,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

# Registering just these decoders keeps Image.open from importing all of Pillow's plugins on first use.
_DECODERS = (BmpImagePlugin, GifImagePlugin, JpegImagePlugin, PngImagePlugin, TiffImagePlugin, WebPImagePlugin)

# Decided by content: Image.open never tries any other decoder (PSD, EPS, PDF, ICO, ...).
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")
OUTPUT_EXTENSIONS = (".jpg", ".jpeg")
OUTPUT_CONTENT_TYPE = "image/jpeg"
WHITE = (255, 255, 255)
MIB = 1024 * 1024

# Memory the Python runtime, boto3 and the input bytes already hold before decoding starts.
RUNTIME_OVERHEAD_BYTES = 96 * MIB
# WebP cannot decode at reduced scale and Pillow holds about this much per pixel while decoding it.
WEBP_BYTES_PER_PIXEL = 16
# Rows per strip when pre-shrinking: bounds the temporary premultiplied copy.
STRIP_ROWS = 512

_ORIENTATION_TAG = 0x0112
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class ImageRejected(Exception):
    """The input cannot become a rendition; retrying will not help. `reason` is a short code."""

    reason = "rejected"


class NotAnImage(ImageRejected):
    reason = "not_an_image"


class TooLarge(ImageRejected):
    reason = "too_large"


class CorruptImage(ImageRejected):
    reason = "corrupt"


@dataclass(frozen=True)
class RenderOptions:
    """What to produce and the limits to enforce before decoding."""

    width: int = 800
    height: int = 600
    quality: int = 85
    max_pixels: int = 80_000_000
    memory_mb: int = 512


@dataclass(frozen=True)
class Rendition:
    """An encoded output image and what it was made from."""

    data: bytes
    content_type: str
    source_format: str
    original_size: tuple[int, int]
    size: tuple[int, int]


def output_key(source_key: str, prefix: str = "resized/") -> str:
    """Destination key: the source key under `prefix`, with `.jpg` appended unless it already says JPEG."""
    if source_key.lower().endswith(OUTPUT_EXTENSIONS):
        return prefix + source_key
    return prefix + source_key + OUTPUT_EXTENSIONS[0]


def fit_inside(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """Largest size with the aspect ratio of `size` that fits in `box`, never larger than `size`."""
    width, height = size
    scale = min(box[0] / width, box[1] / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def render(data: bytes, options: RenderOptions) -> Rendition:
    """Decode `data`, auto-orient, fit inside the box with LANCZOS and encode a JPEG without metadata."""
    image = _open(data)
    try:
        return _render_open(image, options)
    except ImageRejected:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise CorruptImage(f"cannot decode {image.format} image: {error}") from error
    finally:
        image.close()


def _open(data: bytes) -> ImageFile.ImageFile:
    if not data:
        raise NotAnImage("the object is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Our own pixel limit is checked right after; Pillow's warning would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as error:
        raise TooLarge(f"decompression bomb refused: {error}") from error
    except UnidentifiedImageError as error:
        allowed = ", ".join(ALLOWED_FORMATS)
        raise NotAnImage(f"content is not a supported image ({allowed})") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise CorruptImage(f"cannot read image header: {error}") from error


def _render_open(image: ImageFile.ImageFile, options: RenderOptions) -> Rendition:
    source_format = image.format or "unknown"
    stored_size = image.size
    orientation = _orientation(image)
    swaps_axes = orientation in (5, 6, 7, 8)
    # Shrink in the stored orientation and rotate the small result: the box is turned to match.
    box = (options.height, options.width) if swaps_axes else (options.width, options.height)
    target = fit_inside(stored_size, box)
    _check_limits(image, target, options)

    icc_profile = image.info.get("icc_profile")
    # JPEG decodes straight at 1/2, 1/4 or 1/8 scale: ask for about twice the target, never less.
    image.draft(None, (target[0] * 2, target[1] * 2))
    image.load()
    sixteen_bit = image.mode.startswith("I;16")
    working = _to_eight_bit(_reduce(_reducible(image), target), sixteen_bit)
    if working.size != target:
        working = working.resize(target, Image.Resampling.LANCZOS)
    transpose = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    if transpose is not None:
        working = working.transpose(transpose)
    rgb, icc_profile = _to_srgb_compatible(_flatten(working), icc_profile)

    buffer = io.BytesIO()
    rgb.info = {}
    rgb.save(
        buffer,
        "JPEG",
        quality=options.quality,
        optimize=True,
        progressive=True,
        icc_profile=icc_profile,
        exif=b"",
    )
    original = (stored_size[1], stored_size[0]) if swaps_axes else stored_size
    return Rendition(
        data=buffer.getvalue(),
        content_type=OUTPUT_CONTENT_TYPE,
        source_format=source_format,
        original_size=original,
        size=rgb.size,
    )


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block must not lose the image; it just is not rotated
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def estimated_peak_bytes(image: Image.Image, target: tuple[int, int]) -> int:
    """Upper estimate of the decoded working set for `image`, before any decoding."""
    width, height = image.size
    if image.format == "WEBP":
        return width * height * WEBP_BYTES_PER_PIXEL
    if image.format == "JPEG":
        scale = 1
        while scale < 8 and width // (scale * 2) >= target[0] * 2 and height // (scale * 2) >= target[1] * 2:
            scale *= 2
        width, height = math.ceil(width / scale), math.ceil(height / scale)
    bytes_per_pixel = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2}.get(image.mode, 4)
    decoded = width * height * bytes_per_pixel
    # Palette, bilevel and 16-bit images are widened to 8-bit RGB(A)/L at full size before shrinking.
    widened = width * height * 4 if image.mode in ("1", "P", "PA") or image.mode.startswith("I;16") else 0
    return decoded + widened


def _check_limits(image: Image.Image, target: tuple[int, int], options: RenderOptions) -> None:
    width, height = image.size
    pixels = width * height
    if pixels > options.max_pixels:
        raise TooLarge(
            f"{width}x{height} is {pixels / 1e6:.1f} megapixels, above MAX_PIXELS "
            f"({options.max_pixels / 1e6:.1f} megapixels)"
        )
    budget = options.memory_mb * MIB - RUNTIME_OVERHEAD_BYTES
    needed = estimated_peak_bytes(image, target)
    if needed > budget:
        raise TooLarge(
            f"{image.format} {width}x{height} needs about {needed // MIB} MB to decode: too large for "
            f"{options.memory_mb} MB, raise memorySize"
        )


def _reducible(image: Image.Image) -> Image.Image:
    """Modes Image.reduce cannot handle are widened first (palette, bilevel, 16-bit)."""
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode == "PA":
        return image.convert("RGBA")
    if image.mode == "1":
        return image.convert("L")
    if image.mode.startswith("I;16"):
        # 16-bit samples are scaled, not clipped, into the 32-bit integer mode that reduce supports.
        return image.convert("I")
    return image


def _reduce(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Box-shrink by an integer factor to about twice the target, strip by strip, alpha premultiplied.

    Working in strips keeps the premultiplied copy small; a final LANCZOS pass does the quality work.
    """
    factor = min(image.width // (target[0] * 2), image.height // (target[1] * 2))
    premultiplied = _PREMULTIPLIED.get(image.mode)
    if factor < 2:
        return image.convert(premultiplied) if premultiplied else image
    mode = premultiplied or image.mode
    reduced = Image.new(mode, (math.ceil(image.width / factor), math.ceil(image.height / factor)))
    rows = factor * max(1, STRIP_ROWS // factor)
    for top in range(0, image.height, rows):
        strip = image.crop((0, top, image.width, min(top + rows, image.height)))
        if premultiplied:
            strip = strip.convert(premultiplied)
        reduced.paste(strip.reduce(factor), (0, top // factor))
    return reduced


def _to_eight_bit(image: Image.Image, sixteen_bit: bool) -> Image.Image:
    """Integer and float images become 8-bit greyscale: 16-bit by its full range, others by theirs."""
    if image.mode not in ("I", "F"):
        return image
    low, high = cast(tuple[float, float], image.getextrema())  # single-band: (min, max)
    if image.mode == "I" and not sixteen_bit and low >= 0 and high <= 255:
        return image.convert("L")
    if image.mode == "I" and low >= 0 and high <= 65535:
        low, high = 0, 65535
    scale = 255 / (high - low) if high > low else 0.0
    return image.point(lambda value: (value - low) * scale).convert("L")


def _flatten(image: Image.Image) -> Image.Image:
    """Any remaining mode becomes RGB; transparency is composited onto white, not black."""
    if image.mode in ("RGBa", "La"):
        image = image.convert("RGBA" if image.mode == "RGBa" else "LA")
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, WHITE)
        background.paste(image.convert("RGB"), mask=image.getchannel("A"))
        return background
    return image


def _to_srgb_compatible(image: Image.Image, icc_profile: bytes | None) -> tuple[Image.Image, bytes | None]:
    """Return an RGB image and the ICC profile that describes it.

    An RGB source profile is kept as it is; a CMYK or greyscale profile is converted to sRGB, since
    the output cannot carry it. Without a profile the plain conversion is used.
    """
    if icc_profile and image.mode != "RGB":
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None  # an unusable profile: fall back to the plain conversion below
        if converted is not None:
            return converted, _SRGB.tobytes()
    if image.mode != "RGB":
        return image.convert("RGB"), None
    if icc_profile and not _is_rgb_profile(icc_profile):
        return image, None
    return image, icc_profile


def _is_rgb_profile(icc_profile: bytes) -> bool:
    # ICC header: the data colour space signature sits at bytes 16-19.
    return icc_profile[16:20] == b"RGB "
