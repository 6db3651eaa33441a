"""The memory model: an upper estimate of each decoder path's working set, checked before decoding."""

from __future__ import annotations

import math
import resource

from PIL import Image

from handler.imaging.errors import TooLarge
from handler.imaging.limits import MIB, Limits

# Memory the Python runtime, boto3 and the input bytes already hold before decoding starts.
RUNTIME_OVERHEAD_BYTES = 96 * MIB
# WebP cannot decode at reduced scale and Pillow holds about this much per pixel while decoding it.
WEBP_BYTES_PER_PIXEL = 16


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


def check_limits(image: Image.Image, target: tuple[int, int], limits: Limits) -> None:
    """Refuse, before decoding, an image over the pixel limit or whose decoding would not fit memory."""
    width, height = image.size
    pixels = width * height
    if pixels > limits.max_pixels:
        raise TooLarge(
            f"{width}x{height} is {pixels / 1e6:.1f} megapixels, above MAX_PIXELS "
            f"({limits.max_pixels / 1e6:.1f} megapixels)"
        )
    budget = limits.memory_mb * MIB - RUNTIME_OVERHEAD_BYTES
    needed = estimated_peak_bytes(image, target)
    if needed > budget:
        raise TooLarge(
            f"{image.format} {width}x{height} needs about {needed // MIB} MB to decode: too large for "
            f"{limits.memory_mb} MB, raise memorySize"
        )


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
