"""Image rendering: bytes in, bytes out. All Pillow knowledge of the pipeline lives in this package; no AWS.

This module is the pipeline (open -> check -> decode once -> every rendition); each stage has its own module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from PIL import Image, ImageFile

from handler.imaging.animation import render_animation
from handler.imaging.colour import reducible, to_eight_bit, to_rgb, unpremultiplied
from handler.imaging.decode import ALLOWED_FORMATS, orientation
from handler.imaging.decode import open_image as _open
from handler.imaging.encode import encode, output_format
from handler.imaging.errors import CorruptImage, ImageRejected, NotAnImage, OutOfTime, TooLarge
from handler.imaging.geometry import area, fit_cover, fit_inside, oriented, reduce, scaled_size, shaped, swaps_axes
from handler.imaging.limits import Limits
from handler.imaging.memory import check_limits, estimated_peak_bytes, guard_memory
from handler.imaging.results import Rendition, RenditionError
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
    """Decode `data` once and make every rendition, largest first, each from the decoded base.

    Raises ImageRejected when the upload itself is unusable; a failure of one rendition is returned
    as a RenditionError in its place and does not affect the others.
    """
    image = _open(data)
    try:
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
    turn = orientation(image)
    stored_size = image.size
    upright = (stored_size[1], stored_size[0]) if swaps_axes(turn) else stored_size
    largest = max((scaled_size(upright, spec) for spec in specs), key=area)
    # Shrink in the stored orientation and turn the small result: the target is turned to match.
    target = (largest[1], largest[0]) if swaps_axes(turn) else largest
    check_limits(image, target, limits)
    source = _Source(image.format or "unknown", upright, image.info.get("icc_profile"))

    results: dict[int, Rendition | RenditionError] = {}
    animated = [i for i, spec in enumerate(specs) if spec.animated and getattr(image, "is_animated", False)]
    for index in animated:
        results[index] = _guarded(specs[index], lambda spec: render_animation(image, spec, upright, turn, limits))
    if len(animated) < len(specs):
        image.seek(0)
        # JPEG decodes straight at 1/2, 1/4 or 1/8 scale: ask for about twice the target, never less.
        image.draft(None, (target[0] * 2, target[1] * 2))
        image.load()
        sixteen_bit = image.mode.startswith("I;16")
        base = to_eight_bit(reduce(reducible(image), target), sixteen_bit)
        base, icc_profile = to_rgb(oriented(base, turn), source.icc_profile)
        source = dataclasses.replace(source, icc_profile=icc_profile)
        order = sorted(
            (i for i in range(len(specs)) if i not in results), key=lambda i: -area(scaled_size(upright, specs[i]))
        )
        for index in order:
            results[index] = _guarded(specs[index], lambda spec: _render_still(base, spec, source, watermarks))
    return [results[index] for index in range(len(specs))]


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
