"""HEIC/HEIF input through pi-heif: on by default, off with Limits(heic=False), same limits as any format.

The fixtures were made with Debian's heif-enc (libheif 1.15, x265): pi-heif itself cannot encode.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from handler import imaging

IMAGES = Path(__file__).parent / "images"
HALVES = (IMAGES / "halves.heic").read_bytes()  # 64x32: left half red, right half blue
PHOTO = (IMAGES / "photo-1024x768.heic").read_bytes()


def test_heic_is_rendered_by_default_with_its_colours():
    result = imaging.render(HALVES)
    out = Image.open(io.BytesIO(result.data)).convert("RGB")
    assert (result.source_format, result.size) == ("HEIF", (64, 32))
    left, right = out.getpixel((4, 16)), out.getpixel((59, 16))
    assert left[0] > 200 and left[2] < 60  # red
    assert right[2] > 200 and right[0] < 60  # blue


def test_heic_can_be_turned_off():
    with pytest.raises(imaging.NotAnImage, match="heic"):
        imaging.render(HALVES, limits=imaging.Limits(heic=False))


def test_heic_gets_the_same_memory_refusal_from_its_header():
    # GIVEN a budget the runtime alone nearly fills
    limits = imaging.Limits(memory_mb=100)
    # THEN the 1024x768 HEIC is refused before libheif decodes it, with what to raise
    with pytest.raises(imaging.TooLarge, match=r"HEIF 1024x768 needs about .* raise memorySize"):
        imaging.render(PHOTO, limits=limits)
    # AND with the default budget it is rendered
    assert imaging.render(PHOTO).size == (800, 600)


def test_heic_gets_the_same_pixel_limit():
    with pytest.raises(imaging.TooLarge, match="MAX_PIXELS"):
        imaging.render(PHOTO, limits=imaging.Limits(max_pixels=500_000))
