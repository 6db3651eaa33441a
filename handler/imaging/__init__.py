"""Image rendering: bytes in, bytes out. All Pillow knowledge of the pipeline lives in this package; no AWS.

This module is the pipeline (open -> check -> decode once -> every rendition); each stage has its own module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from PIL import Image, ImageFile

from handler.imaging import bmp_strips
from handler.imaging.animation import render_animation
from handler.imaging.colour import reducible, to_eight_bit, to_rgb, unpremultiplied
from handler.imaging.decode import ALLOWED_FORMATS, orientation, orients_on_load, upload_bytes, watch_time
from handler.imaging.decode import open_image as _open
from handler.imaging.encode import encode, output_format
from handler.imaging.errors import CorruptImage, ImageRejected, NotAnImage, OutOfTime, TooLarge
from handler.imaging.geometry import (
    fit_cover,
    fit_inside,
    oriented,
    reduce,
    reduce_strips,
    scaled_size,
    shaped,
    shrink_factor,
    swaps_axes,
)
from handler.imaging.heic import HEIF_FORMAT, enable_heic
from handler.imaging.limits import Limits
from handler.imaging.memory import draft_box, draft_request, estimated_peak_bytes, guard_memory
from handler.imaging.png_strips import decoded_strips, strips_apply
from handler.imaging.refusals import check_animation, check_before_decoding, check_before_opening
from handler.imaging.results import Rendition, RenditionError
from handler.imaging.tiff_strips import decoded_groups, group_rows
from handler.imaging.watermark import watermarked
from handler.renditions import RenditionSpec

__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT",
    "CorruptImage",
    "ImageRejected",
    "Limits",
    "NotAnImage",
    "OutOfTime",
    "Rendition",
    "RenditionError",
    "TooLarge",
    "estimated_peak_bytes",
    "fit_cover",
    "fit_inside",
    "guard_memory",
    "render",
    "render_all",
    "scaled_size",
]

DEFAULT = RenditionSpec()
DEFAULT_LIMITS = Limits()


def render(data: bytes, spec: RenditionSpec = DEFAULT, limits: Limits = DEFAULT_LIMITS) -> Rendition:
    """One rendition of `data`; raises ImageRejected, or RuntimeError if the rendition itself failed."""
    (result,) = render_all(data, (spec,), limits)
    if isinstance(result, RenditionError):
        raise RuntimeError(result.message)
    return result


def render_all(
    data: bytes,
    specs: Sequence[RenditionSpec],
    limits: Limits = DEFAULT_LIMITS,
    watermarks: Mapping[str, bytes] | None = None,
) -> list[Rendition | RenditionError]:
    """Decode `data` once, pre-shrunk for the largest rendition, and make every rendition from that base.

    Raises ImageRejected when the upload itself is unusable; a failure of one rendition is returned
    as a RenditionError in its place and does not affect the others.
    """
    if limits.heic:
        enable_heic()
    check_before_opening(data, limits)
    try:
        image = _open(data)
    except MemoryError as error:  # a header that allocates (huge metadata) under the fail-safe
        raise TooLarge("ran out of memory reading the image header: raise memorySize") from error
    try:
        if image.format == HEIF_FORMAT and not limits.heic:
            raise NotAnImage("HEIC/HEIF uploads are turned off (config heic: false)")
        watch_time(image, limits)
        return _render_open(image, specs, limits, watermarks or {})
    except ImageRejected:
        raise
    except MemoryError as error:  # the fail-safe (guard_memory) caught what the memory model missed
        raise TooLarge(
            f"{image.format} {image.width}x{image.height} ran out of memory while decoding: "
            f"raise memorySize or send a smaller image"
        ) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise CorruptImage(f"cannot decode {image.format} image: {error}") from error
    finally:
        image.close()


@dataclasses.dataclass(frozen=True)
class _Source:
    """What every rendition of one upload shares."""

    format: str
    original_size: tuple[int, int]  # upright
    icc_profile: bytes | None


def _render_open(
    image: ImageFile.ImageFile, specs: Sequence[RenditionSpec], limits: Limits, watermarks: Mapping[str, bytes]
) -> list[Rendition | RenditionError]:
    # Pillow's TIFF loader reports the upright size and turns the picture itself while loading.
    turn = 1 if orients_on_load(image) else orientation(image)
    stored_size = image.size
    upright = (stored_size[1], stored_size[0]) if swaps_axes(turn) else stored_size
    # Every rendition keeps the upright aspect ratio, so the widest is also the largest.
    largest = max(scaled_size(upright, spec) for spec in specs)
    # Shrink in the stored orientation and turn the small result: the target is turned to match.
    target = (largest[1], largest[0]) if swaps_axes(turn) else largest
    check_before_decoding(image, target, limits)

    results: dict[int, Rendition | RenditionError] = {}
    animated = [i for i, spec in enumerate(specs) if spec.animated and getattr(image, "is_animated", False)]
    for index in animated:
        spec = specs[index]
        check_animation(image, scaled_size(upright, spec), min(spec.max_frames, getattr(image, "n_frames", 1)), limits)
        results[index] = _guarded(spec, lambda spec: render_animation(image, spec, upright, turn, limits))
    stills = [i for i in range(len(specs)) if i not in results]
    if stills:
        base, icc_profile = _decode_base(image, target, turn, limits)
        source = _Source(image.format or "unknown", upright, icc_profile)
        for index in stills:
            limits.check_time("encoding")
            results[index] = _guarded(specs[index], lambda spec: _render_still(base, spec, source, watermarks))
    return [results[index] for index in range(len(specs))]


def _decode_base(
    image: ImageFile.ImageFile, target: tuple[int, int], turn: int, limits: Limits
) -> tuple[Image.Image, bytes | None]:
    """Decode the first frame once, pre-shrunk to about twice `target`, upright, in RGB(a), and its profile."""
    data = upload_bytes(image)
    factor = shrink_factor(image.size, target)
    if image.format == "PNG" and factor >= 2 and strips_apply(data):
        # PNG: decoded and shrunk strip by strip, the full-size picture never exists.
        reduced = reduce_strips(decoded_strips(data, factor, limits), image.size, factor, reducible, limits)
        reduced = to_eight_bit(reduced, image.mode.startswith("I;16"))
        return to_rgb(oriented(reduced, turn), image.info.get("icc_profile"))
    rows = group_rows(image, factor) if factor >= 2 else 0
    if rows:
        # Stripped 8-bit TIFF: decoded and shrunk a group of strips at a time.
        reduced = reduce_strips(decoded_groups(image, data, rows, limits), image.size, factor, reducible, limits)
        return to_rgb(oriented(reduced, turn), image.info.get("icc_profile"))
    if factor >= 2 and bmp_strips.strips_apply(image):
        # Uncompressed BMP: each strip decoded from its slice of the upload.
        reduced = reduce_strips(bmp_strips.decoded_strips(image, factor, limits), image.size, factor, reducible, limits)
        return to_rgb(oriented(reduced, turn), image.info.get("icc_profile"))
    image.seek(0)
    # JPEG decodes straight at 1/2, 1/4 or 1/8 scale: ask for a margin over the target, never less.
    image.draft(None, draft_request(image.size, target) if image.format == "JPEG" else draft_box(target))
    image.load()
    limits.check_time("shrinking")
    sixteen_bit = image.mode.startswith("I;16")
    base = to_eight_bit(reduce(image, target, reducible, limits), sixteen_bit)
    return to_rgb(oriented(base, turn), image.info.get("icc_profile"))


def _guarded(spec: RenditionSpec, make: Callable[[RenditionSpec], Rendition]) -> Rendition | RenditionError:
    try:
        return make(spec)
    except (ImageRejected, MemoryError):
        raise  # the upload as a whole is refused: the other renditions would hit the same limit
    except Exception as error:  # one rendition's failure must not lose the others
        label = spec.name or "default"
        return RenditionError(spec, f"rendition {label!r} failed: {type(error).__name__}: {error}")


def _render_still(
    base: Image.Image, spec: RenditionSpec, source: _Source, watermarks: Mapping[str, bytes]
) -> Rendition:
    upright = source.original_size
    size = scaled_size(upright, spec)
    # `base` is at least twice the largest rendition: box-reduce from it, never cascade below a target.
    picture = base.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0) if base.size != size else base
    picture = shaped(picture, spec, spec.crop)
    fmt = output_format(spec, picture)
    picture = unpremultiplied(picture)
    if spec.watermark is not None:
        picture = watermarked(picture, spec.watermark, watermarks)
    data = encode(picture, fmt, spec, source.icc_profile)
    return Rendition(spec, data, fmt, source.format, upright, picture.size)
