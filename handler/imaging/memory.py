"""The memory model: an upper estimate of each decoder path's working set, and the fail-safe behind it.

Every estimate is decoder working set + the decoded picture + what the pipeline makes from it. Measured
peaks (VmHWM of a fresh process) per path are in docs/engine.md; the model must stay above them.
"""

from __future__ import annotations

import math
import resource

from PIL import Image

from handler.imaging import bmp_strips, png_strips, tiff_strips, webp_scaled
from handler.imaging.decode import JpegLayout, is_bmp_rle, jpeg_layout, orientation, orients_on_load, upload_bytes
from handler.imaging.geometry import shrink_factor
from handler.imaging.limits import MIB

# Memory the Python runtime, Pillow and boto3 hold before decoding starts (the input bytes come on top).
RUNTIME_OVERHEAD_BYTES = 96 * MIB
# Pillow's WebP decoder (libwebp's animation decoder) holds its canvas, the previous canvas and two copies.
WEBP_BYTES_PER_PIXEL = 16
# A still WebP decoded by libwebp's scaling (webp_scaled): lossless keeps its ARGB pixels (LZ77 references
# reach back anywhere); lossy with alpha, the alpha plane and its own lossless decoder's ARGB pixels; lossy
# rows are decoded, rescaled and dropped (64 RGBA rows, generously); the reduced output is held twice
# (libwebp's, 3-4 B/px, and Pillow's copy, 4 B/px).
WEBP_LOSSLESS_BYTES_PER_PIXEL = 4
WEBP_ALPHA_BYTES_PER_PIXEL = 5
WEBP_LOSSY_ROW_BYTES_PER_COLUMN = 4 * 64
WEBP_OUTPUT_BYTES_PER_PIXEL = 8
# libheif's YCbCr planes (1.5 B/px at 4:2:0) and interleaved RGB (3 B/px), with room for 4:4:4.
HEIF_DECODER_BYTES_PER_PIXEL = 6
# An animated rendition holds per frame: the frame, the decoder's dispose/previous copies, RGBA and turned.
ANIMATION_BYTES_PER_PIXEL = 20
# Rows per strip when pre-shrinking (geometry.reduce): bounds the temporary widened, premultiplied copies.
STRIP_ROWS = 512
# Copies of the pre-shrunk base the widening, alpha, colour and orientation steps may hold at once
# (RGB and L need none of them but the turn).
BASE_COPIES = 4
# JPEG is DCT-scaled (1/2, 1/4, 1/8) to the smallest size covering this multiple of the target: 1.25 measured
# 0.71-0.83x libvips at 12 MP for -0.09 dB; decoding straight to the target (no margin) lost 0.78 dB at 2 MP.
JPEG_DRAFT_MARGIN = 1.25
# ... except at 1/8, where libjpeg keeps only each block's DC term (an 8x8 box average): from 1.25x the target
# that lost 0.4-1 dB against the old engine at 48 MP, so 1/8 needs this margin and 1/4 is used otherwise.
JPEG_DC_ONLY_MARGIN = 2.0

# Pillow's storage per pixel (every mode not listed takes 4 bytes: RGB is stored as RGBX).
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_TIFF_ROWS_PER_STRIP, _TIFF_TILE_WIDTH, _TIFF_TILE_LENGTH = 278, 322, 323
_TIFF_BITS_PER_SAMPLE, _TIFF_SAMPLES_PER_PIXEL = 258, 277
_TIFF_IMAGE_WIDTH, _TIFF_IMAGE_LENGTH = 256, 257


def stored_bytes(mode: str) -> int:
    """Bytes Pillow stores per pixel of `mode`."""
    return _STORED_BYTES.get(mode, 4)


def draft_box(target: tuple[int, int]) -> tuple[int, int]:
    """The box JPEG decoding is asked to cover: a margin over the target so LANCZOS has detail to use."""
    return math.ceil(target[0] * JPEG_DRAFT_MARGIN), math.ceil(target[1] * JPEG_DRAFT_MARGIN)


def jpeg_scale(size: tuple[int, int], target: tuple[int, int]) -> int:
    """The DCT scale denominator (1, 2, 4, 8) Pillow's draft picks for `target` (same rule as Image.draft)."""
    box = draft_box(target)
    fits = min(size[0] // box[0], size[1] // box[1])
    scale = next((scale for scale in (8, 4, 2) if fits >= scale), 1)
    dc_only_fits = min(size[0] / (target[0] * JPEG_DC_ONLY_MARGIN), size[1] / (target[1] * JPEG_DC_ONLY_MARGIN))
    return 4 if scale == 8 and dc_only_fits < 8 else scale


def draft_request(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """The box to hand Image.draft so that Pillow picks jpeg_scale's denominator for a `size` JPEG."""
    scale = jpeg_scale(size, target)
    return size[0] // scale, size[1] // scale  # at least 1: a scale is chosen only where the box fits


def decoded_size(image: Image.Image, target: tuple[int, int]) -> tuple[int, int]:
    """The size the decoder produces for `target` (JPEG decodes at 1/2, 1/4 or 1/8 scale)."""
    if image.format != "JPEG":
        return image.size
    scale = jpeg_scale(image.size, target)
    return math.ceil(image.width / scale), math.ceil(image.height / scale)


def estimated_peak_bytes(image: Image.Image, target: tuple[int, int]) -> int:
    """Upper estimate of the process's peak for decoding `image` and shrinking it for `target`.

    Counts the runtime, the input bytes, the decoder's own buffers, the decoded picture and the pipeline's
    copies; the stills path only (animation_peak_bytes covers animated renditions).
    """
    width, height = decoded_size(image, target)
    data = upload_bytes(image)
    factor = shrink_factor((width, height), target)
    if image.format == "PNG" and factor >= 2 and png_strips.strips_apply(data):
        # Strips of rows: inflated as stored (up to 8 B/px; 16-bit colour: then its high bytes), stored-deflated,
        # decoded, widened, premultiplied (7 copies at 4 B/px at most), then the shrunk base.
        rows = factor * max(1, png_strips.STRIP_ROWS // factor)
        strips = rows * width * (4 * 7 + 2 * 8)
        base = _pipeline_bytes((width, height), target, image.mode, strip_rows=0)
        return RUNTIME_OVERHEAD_BYTES + len(data) + strips + base
    rows = tiff_strips.group_rows(image, factor) if factor >= 2 else 0
    if rows:
        # Groups of rows (whole strips or tile rows, cut again): inflated and stored again (one deflated strip),
        # the compressed pieces, the small TIFF, its decoded picture, widened, premultiplied.
        groups = max(rows, tiff_strips.held_rows(image, rows)) * width * 4 * 8
        return RUNTIME_OVERHEAD_BYTES + len(data) + groups + _pipeline_bytes(image.size, target, image.mode, 0)
    if factor >= 2 and bmp_strips.strips_apply(image):
        # Strips of rows from slices of the upload: decoded, widened, premultiplied, reduced (4 B/px at most).
        strips = factor * max(1, bmp_strips.STRIP_ROWS // factor) * width * 4 * 4
        return RUNTIME_OVERHEAD_BYTES + len(data) + strips + _pipeline_bytes(image.size, target, image.mode, 0)
    if isinstance(image, webp_scaled.WebPStill):
        return RUNTIME_OVERHEAD_BYTES + len(data) + webp_still_bytes(image, target)
    if image.format == "WEBP":
        return webp_peak_bytes(image.size, len(data))
    decoded = width * height * stored_bytes(image.mode)
    working = _decoder_bytes(image) + _pipeline_bytes((width, height), target, image.mode)
    return RUNTIME_OVERHEAD_BYTES + len(data) + decoded + working


def webp_peak_bytes(canvas: tuple[int, int], data_bytes: int) -> int:
    """Peak for a WebP of this canvas: libwebp allocates canvas buffers as the decoder is created."""
    return RUNTIME_OVERHEAD_BYTES + data_bytes + canvas[0] * canvas[1] * WEBP_BYTES_PER_PIXEL


def webp_still_bytes(image: webp_scaled.WebPStill, target: tuple[int, int]) -> int:
    """libwebp decoding a still WebP straight to its reduced size, that picture, and the pipeline's copies."""
    width, height = image.size
    if image.lossless:
        decoder = width * height * WEBP_LOSSLESS_BYTES_PER_PIXEL
    elif image.alpha_plane:
        decoder = width * height * WEBP_ALPHA_BYTES_PER_PIXEL
    else:
        decoder = width * WEBP_LOSSY_ROW_BYTES_PER_COLUMN
    decoded = webp_scaled.scaled_size(image.size, draft_box(target), image.lossless)
    return decoder + math.prod(decoded) * WEBP_OUTPUT_BYTES_PER_PIXEL + _pipeline_bytes(decoded, target, image.mode)


def animation_peak_bytes(image: Image.Image, frame_size: tuple[int, int], frames: int) -> int:
    """Upper estimate of the peak for an animated rendition of `frames` frames at `frame_size`."""
    source = image.width * image.height * ANIMATION_BYTES_PER_PIXEL
    outputs = frames * frame_size[0] * frame_size[1] * 4 * 2  # the RGBA frames and the encoder's copy
    return RUNTIME_OVERHEAD_BYTES + len(upload_bytes(image)) + source + outputs


def _decoder_bytes(image: Image.Image) -> int:
    """The decoder's own buffers beside the picture it fills."""
    width, height = image.size
    if image.format == "JPEG":
        return _jpeg_coefficient_bytes(image.size, jpeg_layout(upload_bytes(image)))
    if image.format == "TIFF":
        turned = width * height * stored_bytes(image.mode) if orients_on_load(image) and orientation(image) > 1 else 0
        return _tiff_buffer_bytes(image) + turned
    if is_bmp_rle(image):
        return 2 * width * height  # Pillow's Python RLE decoder: a bytearray of the picture and its bytes copy
    if image.format == "HEIF":
        # libheif holds the decoded YCbCr planes and its interleaved RGB beside Pillow's copy (7.9 B/px measured).
        return width * height * (HEIF_DECODER_BYTES_PER_PIXEL * (2 if int(image.info.get("bit_depth", 8)) > 8 else 1))
    if image.format == "GIF":
        return width * height  # the frame kept for the next frame's disposal (GIF opens as P or L: 1 B/px)
    return 4 * width * 8  # PNG and the rest: a few rows (Adam7 passes are unpacked row by row too)


def _jpeg_coefficient_bytes(size: tuple[int, int], layout: JpegLayout) -> int:
    """libjpeg keeps every DCT coefficient of the whole image (2 bytes per sample, at full size, whatever the
    DCT scaling) when the file has more than one scan: progressive, or sequential with separate scans."""
    if not layout.progressive and layout.scans <= 1:
        return 64 * size[0]  # one MCU row of sample buffers per component
    if not layout.sampling:
        return 0
    h_max = max(h for h, _ in layout.sampling)
    v_max = max(v for _, v in layout.sampling)
    total = 0
    for h, v in layout.sampling:
        blocks_wide = math.ceil(math.ceil(size[0] * h / h_max) / 8)
        blocks_high = math.ceil(math.ceil(size[1] * v / v_max) / 8)
        # Block rows and columns are padded to whole MCUs.
        total += _round_up(blocks_wide, h) * _round_up(blocks_high, v) * 64 * 2
    return total


def _tiff_buffer_bytes(image: Image.Image) -> int:
    """The strip or tile buffer: Pillow reads a whole strip (raw) or has libtiff decode one (compressed)."""
    tags = image.tag_v2  # type: ignore[attr-defined]
    # Pillow opens only TIFFs whose samples share one depth (given once or per sample, always a tuple).
    bits = int(tags.get(_TIFF_BITS_PER_SAMPLE, (1,))[0]) * int(tags.get(_TIFF_SAMPLES_PER_PIXEL, 1))
    if _TIFF_TILE_WIDTH in tags:
        width, rows = int(tags[_TIFF_TILE_WIDTH]), int(tags[_TIFF_TILE_LENGTH])
    else:  # strips span the picture as stored (Pillow reports a TIFF with an orientation upright)
        width, height = int(tags[_TIFF_IMAGE_WIDTH]), int(tags[_TIFF_IMAGE_LENGTH])
        rows = min(int(tags.get(_TIFF_ROWS_PER_STRIP, height)), height)
    raw = math.ceil(width * bits / 8) * rows
    # libtiff's RGBA interface (YCbCr and old-style JPEG) unpacks a strip to 4 bytes per pixel.
    return max(raw, width * rows * 4)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // max(1, multiple)) * max(1, multiple)


def _pipeline_bytes(size: tuple[int, int], target: tuple[int, int], mode: str, strip_rows: int = STRIP_ROWS) -> int:
    """What the pipeline holds beside the decoded picture: widened strips and copies of the shrunk base."""
    width, height = size
    copies = 1 if mode in ("RGB", "L") else BASE_COPIES
    factor = shrink_factor(size, target)
    if factor < 2:
        return width * height * 4 * copies  # no pre-shrink: the steps copy the whole decoded picture
    rows = factor * max(1, strip_rows // factor) if strip_rows else 0
    strips = rows * width * 4 * 3  # the strip, widened and premultiplied
    base = math.ceil(width / factor) * math.ceil(height / factor) * 4
    return strips + base * copies


# Pages the process maps later from files (decoder libraries, bytecode) that the data limit does not count.
GUARD_MARGIN_BYTES = 32 * MIB


def guard_memory(memory_mb: int) -> None:
    """Fail-safe for what the model misses: allocations past `memory_mb` raise MemoryError, not an OOM kill.

    Sets RLIMIT_DATA so the private writable memory may grow by what is left of `memory_mb` now (minus a
    margin for file-backed pages). RLIMIT_AS cannot be used: glibc's per-thread arenas and thread stacks
    (boto3's transfer threads) reserve far more address space than they use. Call once at cold start.
    """
    status = _proc_status()
    if not status:
        return  # not Linux: nothing to read the current usage from, and no OOM killer to avoid
    growth = memory_mb * MIB - status["VmRSS"] - GUARD_MARGIN_BYTES
    limit = max(status["VmData"] + max(growth, 0), MIB)
    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _proc_status() -> dict[str, int]:
    """VmData and VmRSS of this process in bytes, from /proc/self/status ({} where there is none)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            lines = status.read().splitlines()
    except OSError:
        return {}
    values = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmData", "VmRSS"):
            values[key] = int(value.split()[0]) * 1024
    return values
