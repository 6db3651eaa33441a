"""Sizes and shapes: fit, orientation, integer pre-shrink, cover crops and contain padding."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from PIL import Image

from handler.imaging.colour import PREMULTIPLIED, unpremultiplied
from handler.imaging.limits import Limits
from handler.renditions import RenditionSpec

# Rows per strip when pre-shrinking: bounds the temporary premultiplied copy.
STRIP_ROWS = 512
# Cover crops are chosen on a grey copy this many pixels on its long side.
ENTROPY_SAMPLE = 256

_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def fit_inside(size: tuple[int, int], box: tuple[int, int], upscale: bool = False) -> tuple[int, int]:
    """Largest size with the aspect ratio of `size` that fits in `box`; never larger unless `upscale`."""
    width, height = size
    scale = min(box[0] / width, box[1] / height)
    scale = scale if upscale else min(scale, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def fit_cover(size: tuple[int, int], box: tuple[int, int], upscale: bool = False) -> tuple[int, int]:
    """Smallest size with the aspect ratio of `size` that covers `box`; never larger unless `upscale`."""
    width, height = size
    scale = max(box[0] / width, box[1] / height)
    scale = scale if upscale else min(scale, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def scaled_size(size: tuple[int, int], spec: RenditionSpec) -> tuple[int, int]:
    """The size the whole picture is scaled to for `spec`, before any crop or padding."""
    fit = fit_cover if spec.fit == "cover" else fit_inside
    return fit(size, (spec.width, spec.height), spec.upscale)


def area(size: tuple[int, int]) -> int:
    """Pixels in `size`."""
    return size[0] * size[1]


def swaps_axes(orientation: int) -> bool:
    """Whether the EXIF orientation turns the stored picture by 90 degrees."""
    return orientation in (5, 6, 7, 8)


def oriented(image: Image.Image, orientation: int) -> Image.Image:
    """`image` turned upright for its EXIF orientation (1-8)."""
    transpose = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    return image.transpose(transpose) if transpose is not None else image


def shrink_factor(size: tuple[int, int], target: tuple[int, int]) -> int:
    """The integer box-shrink that keeps the picture at least twice the target (below 2: none)."""
    return min(size[0] // (target[0] * 2), size[1] // (target[1] * 2))


def reduce(
    image: Image.Image, target: tuple[int, int], widen: Callable[[Image.Image], Image.Image], limits: Limits
) -> Image.Image:
    """Box-shrink by an integer factor to about twice the target, strip by strip, alpha premultiplied.

    Each strip is widened (`widen`: palette, bilevel, 16-bit to modes reduce supports) and premultiplied
    on its own, so no full-size widened copy ever exists; a final LANCZOS pass does the quality work.
    """
    factor = shrink_factor(image.size, target)
    if factor < 2:
        return _premultiplied(widen(image))
    rows = factor * max(1, STRIP_ROWS // factor)
    strips = (image.crop((0, top, image.width, min(top + rows, image.height))) for top in range(0, image.height, rows))
    return reduce_strips(strips, image.size, factor, widen, limits)


def reduce_strips(
    strips: Iterable[Image.Image],
    size: tuple[int, int],
    factor: int,
    widen: Callable[[Image.Image], Image.Image],
    limits: Limits,
) -> Image.Image:
    """Box-shrink a picture given as consecutive strips (each a multiple of `factor` rows but the last)."""
    reduced: Image.Image | None = None
    top = 0
    for strip in strips:
        limits.check_time("shrinking")
        small = _premultiplied(widen(strip)).reduce(factor)
        if reduced is None:
            reduced = Image.new(small.mode, (math.ceil(size[0] / factor), math.ceil(size[1] / factor)))
        reduced.paste(small, (0, top // factor))
        top += strip.height
    if reduced is None or top != size[1]:
        raise OSError(f"image data ends after {top} of {size[1]} rows")
    return reduced


def _premultiplied(image: Image.Image) -> Image.Image:
    return image.convert(PREMULTIPLIED[image.mode]) if image.mode in PREMULTIPLIED else image


def shaped(picture: Image.Image, spec: RenditionSpec, crop: str) -> Image.Image:
    """Cut (`cover`) or pad (`contain`) a picture already scaled for `spec`."""
    if spec.fit == "cover":
        window = (min(spec.width, picture.width), min(spec.height, picture.height))
        return picture.crop(_crop_box(picture, window, crop))
    if spec.fit == "contain":
        return _padded(unpremultiplied(picture), (spec.width, spec.height), spec.background_rgb)
    return picture


def _crop_box(picture: Image.Image, size: tuple[int, int], mode: str) -> tuple[int, int, int, int]:
    """Where to cut `size` out of `picture`: the centre, or the window with the most detail (entropy)."""
    width, height = size
    left, top = (picture.width - width) // 2, (picture.height - height) // 2
    if mode != "center" and (left or top):
        scale = min(1.0, ENTROPY_SAMPLE / max(picture.size))
        grey = unpremultiplied(picture).convert("L")
        small = grey.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))))
        window = (max(1, round(width * scale)), max(1, round(height * scale)))
        # Across first, on the middle rows; then down, in the columns chosen.
        x = _busiest_offset(small, window, 0, fixed=(small.height - window[1]) // 2)
        y = _busiest_offset(small, window, 1, fixed=x)
        left, top = min(picture.width - width, round(x / scale)), min(picture.height - height, round(y / scale))
    return left, top, left + width, top + height


def _busiest_offset(small: Image.Image, window: tuple[int, int], axis: int, fixed: int) -> int:
    """Offset along `axis` (0: x, 1: y) of the window with the most detail, the other axis at `fixed`."""
    slack = small.size[axis] - window[axis]
    centre = slack / 2

    def score(offset: int) -> tuple[float, float]:
        x, y = (offset, fixed) if axis == 0 else (fixed, offset)
        # Most detail wins; among equals, the one nearest the centre.
        return round(small.crop((x, y, x + window[0], y + window[1])).entropy(), 3), -abs(offset - centre)

    return max(range(slack + 1), key=score)


def _padded(picture: Image.Image, box: tuple[int, int], background: tuple[int, int, int]) -> Image.Image:
    canvas = Image.new("RGBA" if picture.mode == "RGBA" else "RGB", box, background)  # opaque
    offset = ((box[0] - picture.width) // 2, (box[1] - picture.height) // 2)
    if picture.mode == "RGBA":
        canvas.alpha_composite(picture, offset)
    else:
        canvas.paste(picture, offset)
    return canvas
