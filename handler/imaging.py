"""Image rendering: bytes in, bytes out. All Pillow knowledge of the pipeline lives here; no AWS."""

from __future__ import annotations

import dataclasses
import io
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageCms,
    ImageDraw,
    ImageFile,
    ImageFont,
    ImageSequence,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
    features,
)

from handler.renditions import CONTENT_TYPES, RenditionSpec, Watermark

# Registering just these decoders keeps Image.open from importing all of Pillow's plugins on first use.
_DECODERS = (BmpImagePlugin, GifImagePlugin, JpegImagePlugin, PngImagePlugin, TiffImagePlugin, WebPImagePlugin)

# Decided by content: Image.open never tries any other decoder (PSD, EPS, PDF, ICO, ...).
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")
DEFAULT = RenditionSpec()
MIB = 1024 * 1024

# Memory the Python runtime, boto3 and the input bytes already hold before decoding starts.
RUNTIME_OVERHEAD_BYTES = 96 * MIB
# WebP cannot decode at reduced scale and Pillow holds about this much per pixel while decoding it.
WEBP_BYTES_PER_PIXEL = 16
# Rows per strip when pre-shrinking: bounds the temporary premultiplied copy.
STRIP_ROWS = 512
# Cover crops are chosen on a grey copy this many pixels on its long side.
ENTROPY_SAMPLE = 256

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
class Limits:
    """Refusals checked before decoding."""

    max_pixels: int = 80_000_000
    memory_mb: int = 512


@dataclass(frozen=True)
class Rendition:
    """An encoded output image and what it was made from."""

    spec: RenditionSpec
    data: bytes
    format: str
    source_format: str
    original_size: tuple[int, int]
    size: tuple[int, int]
    frames: int = 1

    @property
    def content_type(self) -> str:
        """The MIME type of `data`."""
        return CONTENT_TYPES[self.format]


@dataclass(frozen=True)
class RenditionError:
    """A rendition that could not be made; the others of the upload are unaffected."""

    spec: RenditionSpec
    message: str


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


def render(data: bytes, spec: RenditionSpec = DEFAULT, limits: Limits = Limits()) -> Rendition:
    """One rendition of `data`; raises ImageRejected, or RuntimeError if the rendition itself failed."""
    (result,) = render_all(data, (spec,), limits)
    if isinstance(result, RenditionError):
        raise RuntimeError(result.message)
    return result


def render_all(
    data: bytes,
    specs: Sequence[RenditionSpec],
    limits: Limits = Limits(),
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


@dataclass(frozen=True)
class _Source:
    """What every rendition of one upload shares."""

    format: str
    original_size: tuple[int, int]  # upright
    icc_profile: bytes | None


def _render_open(
    image: ImageFile.ImageFile, specs: Sequence[RenditionSpec], limits: Limits, watermarks: Mapping[str, bytes]
) -> list[Rendition | RenditionError]:
    orientation = _orientation(image)
    swaps_axes = orientation in (5, 6, 7, 8)
    stored_size = image.size
    upright = (stored_size[1], stored_size[0]) if swaps_axes else stored_size
    largest = max((scaled_size(upright, spec) for spec in specs), key=_area)
    # Shrink in the stored orientation and turn the small result: the target is turned to match.
    target = (largest[1], largest[0]) if swaps_axes else largest
    _check_limits(image, target, limits)
    source = _Source(image.format or "unknown", upright, image.info.get("icc_profile"))

    results: dict[int, Rendition | RenditionError] = {}
    animated = [i for i, spec in enumerate(specs) if spec.animated and getattr(image, "is_animated", False)]
    for index in animated:
        results[index] = _guarded(specs[index], lambda spec: _render_animation(image, spec, source, orientation))
    if len(animated) < len(specs):
        image.seek(0)
        # JPEG decodes straight at 1/2, 1/4 or 1/8 scale: ask for about twice the target, never less.
        image.draft(None, (target[0] * 2, target[1] * 2))
        image.load()
        sixteen_bit = image.mode.startswith("I;16")
        base = _to_eight_bit(_reduce(_reducible(image), target), sixteen_bit)
        base, icc_profile = _to_rgb(_oriented(base, orientation), source.icc_profile)
        source = dataclasses.replace(source, icc_profile=icc_profile)
        order = sorted(
            (i for i in range(len(specs)) if i not in results), key=lambda i: -_area(scaled_size(upright, specs[i]))
        )
        for index in order:
            results[index] = _guarded(specs[index], lambda spec: _render_still(base, spec, source, watermarks))
    return [results[index] for index in range(len(specs))]


def _guarded(spec: RenditionSpec, make: Callable[[RenditionSpec], Rendition]) -> Rendition | RenditionError:
    try:
        return make(spec)
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
    picture = _shaped(picture, spec, spec.crop)
    output_format = _output_format(spec, picture)
    picture = _unpremultiplied(picture)
    if spec.watermark is not None:
        picture = _watermarked(picture, spec.watermark, watermarks)
    data = _encode(picture, output_format, spec, source.icc_profile)
    return Rendition(spec, data, output_format, source.format, upright, picture.size)


def _render_animation(image: ImageFile.ImageFile, spec: RenditionSpec, source: _Source, orientation: int) -> Rendition:
    frames, durations = [], []
    for index, frame in enumerate(ImageSequence.Iterator(image)):
        if index >= spec.max_frames:
            break
        durations.append(int(frame.info.get("duration", 100)))
        picture = _oriented(frame.convert("RGBA"), orientation)
        picture = picture.resize(scaled_size(source.original_size, spec), Image.Resampling.LANCZOS)
        # Frames share one crop window: a per-frame smart crop would make the picture jump.
        frames.append(_shaped(picture, spec, "center"))
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        "WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=int(image.info.get("loop", 0)),
        quality=spec.quality,
    )
    return Rendition(spec, buffer.getvalue(), "webp", source.format, source.original_size, frames[0].size, len(frames))


def _shaped(picture: Image.Image, spec: RenditionSpec, crop: str) -> Image.Image:
    """Cut (`cover`) or pad (`contain`) a picture already scaled for `spec`."""
    if spec.fit == "cover":
        window = (min(spec.width, picture.width), min(spec.height, picture.height))
        return picture.crop(_crop_box(picture, window, crop))
    if spec.fit == "contain":
        return _padded(_unpremultiplied(picture), (spec.width, spec.height), spec.background_rgb)
    return picture


def _area(size: tuple[int, int]) -> int:
    return size[0] * size[1]


def _oriented(image: Image.Image, orientation: int) -> Image.Image:
    transpose = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    return image.transpose(transpose) if transpose is not None else image


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


def _check_limits(image: Image.Image, target: tuple[int, int], options: Limits) -> None:
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


def _to_rgb(image: Image.Image, icc_profile: bytes | None) -> tuple[Image.Image, bytes | None]:
    """The base's colour: RGB, or premultiplied RGBa when there is alpha, with the profile describing it.

    An RGB profile is kept; a CMYK or greyscale one is converted to sRGB (the output cannot carry it).
    Without a usable profile the plain conversion is used.
    """
    alpha = None
    if image.mode in ("RGBa", "La"):
        image = image.convert("RGBA" if image.mode == "RGBa" else "LA")
        alpha = image.getchannel("A")
        image = image.convert("RGB" if image.mode == "RGBA" else "L")
    colour, icc_profile = _colour_managed(image, icc_profile)
    if alpha is None:
        return colour, icc_profile
    colour.putalpha(alpha)
    return colour.convert("RGBa"), icc_profile


def _colour_managed(image: Image.Image, icc_profile: bytes | None) -> tuple[Image.Image, bytes | None]:
    if image.mode == "RGB":
        return image, icc_profile if icc_profile and _is_rgb_profile(icc_profile) else None
    if icc_profile:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None  # an unusable profile: fall back to the plain conversion below
        if converted is not None:
            return converted, _SRGB.tobytes()
    return image.convert("RGB"), None


def _is_rgb_profile(icc_profile: bytes) -> bool:
    # ICC header: the data colour space signature sits at bytes 16-19.
    return icc_profile[16:20] == b"RGB "


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBa", "RGBA") and cast(tuple[int, int], image.getchannel(3).getextrema())[0] < 255


def _output_format(spec: RenditionSpec, picture: Image.Image) -> str:
    if spec.format == "auto":
        return "png" if _has_alpha(picture) else "jpeg"
    if spec.format == "avif" and not features.check("avif"):
        raise RuntimeError("this Pillow build has no AVIF encoder; use webp")
    return spec.format


def _unpremultiplied(image: Image.Image) -> Image.Image:
    return image.convert("RGBA") if image.mode == "RGBa" else image


def _crop_box(picture: Image.Image, size: tuple[int, int], mode: str) -> tuple[int, int, int, int]:
    """Where to cut `size` out of `picture`: the centre, or the window with the most detail (entropy)."""
    width, height = size
    left, top = (picture.width - width) // 2, (picture.height - height) // 2
    if mode == "entropy" and (left or top):
        scale = min(1.0, ENTROPY_SAMPLE / max(picture.size))
        grey = _unpremultiplied(picture).convert("L")
        small = grey.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))))
        window = (max(1, round(width * scale)), max(1, round(height * scale)))
        x = _busiest_offset(small, window, horizontal=True) if left else round(left * scale)
        y = _busiest_offset(small, window, horizontal=False, fixed=x) if top else 0
        left = min(picture.width - width, round(x / scale)) if left else left
        top = min(picture.height - height, round(y / scale)) if top else top
    return left, top, left + width, top + height


def _busiest_offset(small: Image.Image, window: tuple[int, int], *, horizontal: bool, fixed: int = 0) -> int:
    slack = (small.width - window[0]) if horizontal else (small.height - window[1])
    centre = slack / 2

    def score(offset: int) -> tuple[float, float]:
        x, y = (offset, (small.height - window[1]) // 2) if horizontal else (fixed, offset)
        # Most detail wins; among equals, the one nearest the centre.
        return round(small.crop((x, y, x + window[0], y + window[1])).entropy(), 3), -abs(offset - centre)

    return max(range(max(0, slack) + 1), key=score)


def _padded(picture: Image.Image, box: tuple[int, int], background: tuple[int, int, int]) -> Image.Image:
    canvas = Image.new("RGBA" if picture.mode == "RGBA" else "RGB", box, (*background, 255))
    offset = ((box[0] - picture.width) // 2, (box[1] - picture.height) // 2)
    if picture.mode == "RGBA":
        canvas.alpha_composite(picture, offset)
    else:
        canvas.paste(picture, offset)
    return canvas


def _watermarked(picture: Image.Image, mark: Watermark, watermarks: Mapping[str, bytes]) -> Image.Image:
    """Lay `mark` over `picture` at its corner, `margin` and `scale` relative to the picture's width."""
    width = max(1, round(picture.width * mark.scale))
    stamp = _text_stamp(mark.text, width) if mark.text else _image_stamp(mark, watermarks, width)
    stamp.putalpha(stamp.getchannel("A").point(lambda alpha: round(alpha * mark.opacity)))
    margin = round(picture.width * mark.margin)
    free_x, free_y = picture.width - stamp.width, picture.height - stamp.height
    x = {"left": margin, "right": free_x - margin}.get(mark.position.rpartition("-")[2], free_x // 2)
    y = {"top": margin, "bottom": free_y - margin}.get(mark.position.partition("-")[0], free_y // 2)
    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    layer.paste(stamp, (x, y))
    marked = Image.alpha_composite(picture.convert("RGBA"), layer)
    return marked if picture.mode == "RGBA" else marked.convert("RGB")


def _image_stamp(mark: Watermark, watermarks: Mapping[str, bytes], width: int) -> Image.Image:
    data = watermarks.get(mark.image_key or "")
    if data is None:
        raise RuntimeError(f"watermark image {mark.image_key!r} is not available")
    with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as logo:
        stamp = logo.convert("RGBA")
    return stamp.resize((width, max(1, round(stamp.height * width / stamp.width))), Image.Resampling.LANCZOS)


def _text_stamp(text: str, width: int) -> Image.Image:
    probe = ImageFont.load_default(size=100)
    left, _, right, _ = probe.getbbox(text)
    font = ImageFont.load_default(size=max(6, round(100 * width / max(1, right - left))))
    stroke = max(1, round(font.size / 16)) if isinstance(font, ImageFont.FreeTypeFont) else 1
    left, top, right, bottom = (round(edge) for edge in font.getbbox(text, stroke_width=stroke))
    stamp = Image.new("RGBA", (max(1, right - left), max(1, bottom - top)), (0, 0, 0, 0))
    ImageDraw.Draw(stamp).text(
        (-left, -top), text, font=font, fill=(255, 255, 255, 255), stroke_width=stroke, stroke_fill=(0, 0, 0, 255)
    )
    return stamp


def _encode(picture: Image.Image, output_format: str, spec: RenditionSpec, icc_profile: bytes | None) -> bytes:
    """Encode without any metadata but the colour profile (EXIF, GPS and XMP are stripped)."""
    if output_format == "jpeg" and picture.mode == "RGBA":
        flat = Image.new("RGB", picture.size, spec.background_rgb)
        flat.paste(picture, mask=picture.getchannel("A"))
        picture = flat
    picture.info = {}
    buffer = io.BytesIO()
    if output_format == "jpeg":
        picture.save(
            buffer, "JPEG", quality=spec.quality, optimize=True, progressive=True, icc_profile=icc_profile, exif=b""
        )
    elif output_format == "png":
        picture.save(buffer, "PNG", icc_profile=icc_profile)
    else:
        picture.save(buffer, output_format.upper(), quality=spec.quality, icc_profile=icc_profile)
    return buffer.getvalue()
