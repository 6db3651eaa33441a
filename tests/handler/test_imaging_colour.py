"""Colour: every input mode ends as right-looking 8-bit RGB, and only safe, small ICC profiles are embedded.

GIVEN a picture whose left half is one known colour and right half another, in some mode and format,
WHEN rendered, THEN both halves have the RGB colour worked out here by hand.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms

from handler import imaging
from handler.imaging import colour
from local.samples import encode

WHITE, BLACK = (255, 255, 255), (0, 0, 0)


def halves(mode: str, left: object, right: object, **info: object) -> Image.Image:
    image = Image.new(mode, (64, 32), left)  # type: ignore[arg-type]
    image.paste(right, (32, 0, 64, 32))  # type: ignore[arg-type]
    image.info.update(info)
    return image


def rendered_halves(data: bytes) -> tuple[tuple[int, ...], tuple[int, ...]]:
    out = Image.open(io.BytesIO(imaging.render(data).data))
    assert out.mode == "RGB"
    return out.getpixel((4, 16)), out.getpixel((59, 16))  # type: ignore[return-value]


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 6) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def without_adobe_marker(data: bytes) -> bytes:
    start = data.index(b"\xff\xee")  # APP14 "Adobe"
    length = int.from_bytes(data[start + 2 : start + 4], "big")
    return data[:start] + data[start + 2 + length :]


def palette_with_transparency() -> bytes:
    image = Image.new("P", (64, 32), 0)
    image.putpalette([255, 0, 0, 0, 0, 0])
    image.paste(1, (32, 0, 64, 32))
    return encode(image, "PNG", transparency=1)


CASES = {
    "1": (encode(halves("1", 0, 1), "PNG"), BLACK, WHITE),
    "L": (encode(halves("L", 50, 200), "PNG"), (50, 50, 50), (200, 200, 200)),
    # Transparent right half: flattened onto the default white background.
    "LA": (encode(halves("LA", (200, 255), (0, 0)), "PNG"), (200, 200, 200), WHITE),
    "P-transparency": (palette_with_transparency(), (255, 0, 0), WHITE),
    # 16-bit scaled by its full range: 0 -> 0, 65535 -> 255, 32896 (128 * 257) -> 128.
    "I;16": (encode(halves("I;16", 0, 32896), "PNG"), BLACK, (128, 128, 128)),
    "I;16B": (encode(halves("I;16B", 65535, 0), "TIFF"), WHITE, BLACK),
    # 32-bit integers within 0-255 are taken as they are.
    "I": (encode(halves("I", 10, 200), "TIFF"), (10, 10, 10), (200, 200, 200)),
    # Float is stretched from its own minimum to its maximum.
    "F": (encode(halves("F", 0.25, 0.75), "TIFF"), BLACK, WHITE),
    # Full cyan ink / no ink at all (JPEG CMYK is stored inverted, Adobe-style, with or without the marker).
    "CMYK-adobe": (encode(halves("CMYK", (255, 0, 0, 0), (0, 0, 0, 0)), "JPEG"), (0, 255, 255), WHITE),
    "CMYK-no-adobe": (
        without_adobe_marker(encode(halves("CMYK", (255, 0, 0, 0), (0, 0, 0, 0)), "JPEG")),
        (0, 255, 255),
        WHITE,
    ),
    "CMYK-tiff": (encode(halves("CMYK", (0, 255, 0, 0), (0, 0, 0, 255)), "TIFF"), (255, 0, 255), BLACK),
    # BT.601 full range: red is Y=76 Cb=85 Cr=255; green is Y=150 Cb=44 Cr=21.
    "YCbCr": (encode(halves("YCbCr", (76, 85, 255), (150, 44, 21)), "TIFF"), (254, 0, 0), (0, 255, 0)),
    # CIELAB L*=50 a*=b*=0 is sRGB grey 119; L*=100 is white.
    "LAB": (encode(halves("LAB", (128, 128, 128), (255, 128, 128)), "TIFF"), (119, 119, 119), WHITE),
    "RGBX": (encode(halves("RGBX", (255, 0, 0, 0), (0, 0, 255, 0)), "TIFF"), (255, 0, 0), (0, 0, 255)),
}


@pytest.mark.parametrize("case", CASES)
def test_every_mode_renders_its_colours(case):
    data, left, right = CASES[case]
    actual_left, actual_right = rendered_halves(data)
    assert near(actual_left, left), actual_left
    assert near(actual_right, right), actual_right


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_small_parseable_rgb_profile_is_embedded_as_it_is():
    out = Image.open(io.BytesIO(imaging.render(encode(halves("RGB", 1, 2), "JPEG", icc_profile=SRGB)).data))
    assert out.info.get("icc_profile") == SRGB


def test_unparseable_profile_claiming_rgb_is_not_copied():
    # GIVEN a profile whose header says RGB but which LittleCMS cannot parse
    broken = SRGB[:16] + b"RGB " + b"\x00" * 200
    out = Image.open(io.BytesIO(imaging.render(encode(halves("RGB", 1, 2), "JPEG", icc_profile=broken)).data))
    # THEN no profile is embedded (the pixels are read as sRGB)
    assert "icc_profile" not in out.info


def test_large_parseable_profile_is_converted_to_srgb_not_copied():
    # GIVEN a valid RGB profile padded past the embedding limit (LittleCMS ignores bytes past the tags)
    padded = SRGB + b"\x00" * (colour.MAX_EMBEDDED_ICC_BYTES + 1)
    padded = len(padded).to_bytes(4, "big") + padded[4:]
    assert ImageCms.ImageCmsProfile(io.BytesIO(padded))  # it really parses
    data = encode(halves("RGB", (200, 30, 30), (30, 30, 200)), "JPEG", icc_profile=padded)
    result = imaging.render(data)
    out = Image.open(io.BytesIO(result.data))
    # THEN the small sRGB profile is embedded instead and the output stays about the size of its pixels
    embedded = out.info["icc_profile"]
    assert len(embedded) < 4096 and "sRGB" in ImageCms.getProfileDescription(
        ImageCms.ImageCmsProfile(io.BytesIO(embedded))
    )
    assert len(result.data) < 64 * 32 * 3 + 16 * 1024
    assert near(out.getpixel((4, 16)), (200, 30, 30), 12)
