"""Encoding a finished picture: output format choice and metadata stripping."""

from __future__ import annotations

import io

from PIL import Image, features

from handler.imaging.colour import has_alpha
from handler.renditions import RenditionSpec


def output_format(spec: RenditionSpec, picture: Image.Image) -> str:
    """The format `spec` asks for; `auto` is PNG when the picture has transparency, else JPEG."""
    if spec.format == "auto":
        return "png" if has_alpha(picture) else "jpeg"
    if spec.format == "avif" and not features.check("avif"):
        raise RuntimeError("this Pillow build has no AVIF encoder; use webp")
    return spec.format


def encode(picture: Image.Image, fmt: str, spec: RenditionSpec, icc_profile: bytes | None) -> bytes:
    """Encode without any metadata but the colour profile (EXIF, GPS and XMP are stripped)."""
    if fmt == "jpeg" and picture.mode == "RGBA":
        flat = Image.new("RGB", picture.size, spec.background_rgb)
        flat.paste(picture, mask=picture.getchannel("A"))
        picture = flat
    picture.info = {}  # Pillow's encoders fall back to the picture's own metadata (comment, dpi, XMP)
    buffer = io.BytesIO()
    # Each encoder takes the options that apply to it: PNG has no quality, only JPEG has progressive scans
    # (libjpeg optimises the Huffman tables of progressive JPEGs by itself).
    picture.save(buffer, fmt, quality=spec.quality, progressive=True, icc_profile=icc_profile)
    return buffer.getvalue()
