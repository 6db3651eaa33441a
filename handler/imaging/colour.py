"""Colour: widening to reducible modes, 16-bit and float to 8-bit, CMYK/grey to RGB, ICC profiles."""

from __future__ import annotations

import io
from typing import cast

from PIL import Image, ImageCms

PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_SRGB_BYTES = _SRGB.tobytes()
# Profiles up to this size are copied into every rendition; larger ones are converted to sRGB instead.
MAX_EMBEDDED_ICC_BYTES = 64 * 1024


def reducible(image: Image.Image) -> Image.Image:
    """Modes Image.reduce cannot handle are widened first (palette, bilevel, 16-bit)."""
    if image.mode == "P":
        return image.convert()  # RGBA when the palette has a transparent entry, else RGB
    if image.mode == "PA":
        return image.convert("RGBA")
    if image.mode == "1":
        return image.convert("L")
    if image.mode.startswith("I;16"):
        # 16-bit samples are scaled, not clipped, into the 32-bit integer mode that reduce supports.
        return image.convert("I")
    return image


def to_eight_bit(image: Image.Image, sixteen_bit: bool) -> Image.Image:
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


def to_rgb(image: Image.Image, icc_profile: bytes | None) -> tuple[Image.Image, bytes | None]:
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
    """RGB with the profile to embed: a small RGB profile LittleCMS can parse is kept as it is; any other
    profile LittleCMS can parse is converted to sRGB; one it cannot parse is dropped (read as sRGB)."""
    source = _parsed(icc_profile)
    if image.mode == "RGB" and source is not None and _embeddable(icc_profile):
        return image, icc_profile
    if source is not None:
        try:
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None  # a profile that does not fit the pixels: fall back to the plain conversion
        if converted is not None:
            return converted, _SRGB_BYTES
    return (image if image.mode == "RGB" else image.convert("RGB")), None  # no copy of an RGB base


def _parsed(icc_profile: bytes | None) -> ImageCms.ImageCmsProfile | None:
    if not icc_profile:
        return None
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None


def _embeddable(icc_profile: bytes | None) -> bool:
    # ICC header: the data colour space signature sits at bytes 16-19.
    return icc_profile is not None and len(icc_profile) <= MAX_EMBEDDED_ICC_BYTES and icc_profile[16:20] == b"RGB "


def has_alpha(image: Image.Image) -> bool:
    """Whether any pixel of an RGBA/RGBa image is less than opaque."""
    return image.mode in ("RGBa", "RGBA") and cast(tuple[int, int], image.getchannel(3).getextrema())[0] < 255


def unpremultiplied(image: Image.Image) -> Image.Image:
    """Straight alpha again (encoders and compositing expect it)."""
    return image.convert("RGBA") if image.mode == "RGBa" else image
