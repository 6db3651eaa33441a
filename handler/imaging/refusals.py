"""Refusals made before decoding: pixels, memory, JPEG scans, ICC size, animation work."""

from __future__ import annotations

from PIL import Image

from handler.imaging import webp_scaled
from handler.imaging.decode import is_bmp_rle, jpeg_layout, upload_bytes, webp_canvas
from handler.imaging.errors import TooLarge
from handler.imaging.limits import MIB, Limits
from handler.imaging.memory import animation_peak_bytes, estimated_peak_bytes, webp_peak_bytes

# A progressive JPEG has about 10 scans (libjpeg's default script); each scan re-reads every coefficient.
MAX_JPEG_SCANS = 100
# Larger profiles are LUT-heavy print profiles or padding; a 15 MB one would be copied into every output.
MAX_ICC_BYTES = 4 * MIB
# Frames x pixels decoded for one animated rendition: about 15 s of CPU at a 512 MB Lambda's 0.29 vCPU.
MAX_ANIMATION_PIXELS = 400_000_000
# Pillow's BMP RLE decoder is pure Python, about 2 s of CPU per 4 MB here (7 s at 0.29 vCPU).
MAX_BMP_RLE_BYTES = 4 * MIB


def check_before_opening(data: bytes, limits: Limits) -> None:
    """Refuse what a decoder would allocate while merely opening: a WebP canvas (libwebp allocates it then).

    A still WebP that webp_scaled decodes allocates nothing when opened: its memory is checked with the rest.
    """
    canvas = webp_canvas(data)
    if canvas is not None:
        _check_pixels(canvas, limits)
        if not webp_scaled.decodes(data):
            _check_memory(f"WEBP {canvas[0]}x{canvas[1]}", webp_peak_bytes(canvas, len(data)), limits)


def check_before_decoding(image: Image.Image, target: tuple[int, int], limits: Limits) -> None:
    """Refuse, from the header alone, an image over a limit or whose decoding would not fit memory."""
    _check_pixels(image.size, limits)
    icc = image.info.get("icc_profile") or b""
    if len(icc) > MAX_ICC_BYTES:
        raise TooLarge(f"its ICC colour profile is {len(icc) // 1024} KB, above {MAX_ICC_BYTES // 1024} KB")
    if image.format == "JPEG":
        scans = jpeg_layout(upload_bytes(image)).scans
        if scans > MAX_JPEG_SCANS:
            raise TooLarge(f"JPEG with {scans} scans, above {MAX_JPEG_SCANS}: re-save it as baseline or progressive")
    size = len(upload_bytes(image))
    if is_bmp_rle(image) and size > MAX_BMP_RLE_BYTES:
        raise TooLarge(
            f"RLE-compressed BMP of {size // MIB} MB, above {MAX_BMP_RLE_BYTES // MIB} MB: "
            "save it as PNG or uncompressed BMP"
        )
    _check_memory(_label(image), estimated_peak_bytes(image, target), limits)


def check_animation(image: Image.Image, frame_size: tuple[int, int], frames: int, limits: Limits) -> None:
    """Refuse an animated rendition whose frames x pixels or memory would exceed the budgets."""
    work = frames * image.width * image.height
    if work > MAX_ANIMATION_PIXELS:
        raise TooLarge(
            f"{frames} frames of {image.width}x{image.height} are {work / 1e6:.0f} megapixels to decode, above "
            f"{MAX_ANIMATION_PIXELS / 1e6:.0f}: lower max_frames or send a smaller animation"
        )
    _check_memory(_label(image), animation_peak_bytes(image, frame_size, frames), limits)


def _label(image: Image.Image) -> str:
    return f"{image.format} {image.width}x{image.height}"


def _check_pixels(size: tuple[int, int], limits: Limits) -> None:
    pixels = size[0] * size[1]
    if pixels > limits.max_pixels:
        raise TooLarge(
            f"{size[0]}x{size[1]} is {pixels / 1e6:.1f} megapixels, above MAX_PIXELS "
            f"({limits.max_pixels / 1e6:.1f} megapixels)"
        )


def _check_memory(label: str, needed: int, limits: Limits) -> None:
    if needed > limits.memory_mb * MIB:
        raise TooLarge(
            f"{label} needs about {needed // MIB} MB to decode: too large "
            f"for {limits.memory_mb} MB, raise memorySize to at least {-(-needed // (64 * MIB)) * 64}"
        )
