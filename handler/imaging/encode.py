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
    picture.info = {}
    buffer = io.BytesIO()
    if fmt == "jpeg":
        picture.save(
            buffer, "JPEG", quality=spec.quality, optimize=True, progressive=True, icc_profile=icc_profile, exif=b""
        )
    elif fmt == "png":
        picture.save(buffer, "PNG", icc_profile=icc_profile)
    else:
        picture.save(buffer, fmt.upper(), quality=spec.quality, icc_profile=icc_profile)
    return buffer.getvalue()
