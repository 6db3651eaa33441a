"""Colour: widening to reducible modes, 16-bit and float to 8-bit, CMYK/grey to RGB, ICC profiles."""

from __future__ import annotations

import io
from typing import cast

from PIL import Image, ImageCms

PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def reducible(image: Image.Image) -> Image.Image:
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


def has_alpha(image: Image.Image) -> bool:
    """Whether any pixel of an RGBA/RGBa image is less than opaque."""
    return image.mode in ("RGBa", "RGBA") and cast(tuple[int, int], image.getchannel(3).getextrema())[0] < 255


def unpremultiplied(image: Image.Image) -> Image.Image:
    """Straight alpha again (encoders and compositing expect it)."""
    return image.convert("RGBA") if image.mode == "RGBa" else image
