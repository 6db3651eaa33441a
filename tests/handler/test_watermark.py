"""Watermarks measured on pixels: where the stamp lands, how wide it is and how strongly it shows.

GIVEN a flat or fully transparent picture (so every changed pixel is the stamp), WHEN a mark is laid over it,
THEN the box of changed pixels and their values follow the mark's position, margin, scale and opacity.
"""

from __future__ import annotations

import pytest
from PIL import Image, ImageChops

from handler.imaging.watermark import watermarked
from handler.renditions import Watermark
from local.samples import encode

BLUE = (0, 0, 255)
CLEAR = (0, 0, 0, 0)


def logo(size: tuple[int, int] = (100, 50), colour: tuple[int, int, int, int] = (255, 0, 0, 255)) -> bytes:
    return encode(Image.new("RGBA", size, colour), "PNG")


def changed_box(before: Image.Image, after: Image.Image) -> tuple[int, int, int, int] | None:
    return ImageChops.difference(before.convert("RGB"), after.convert("RGB")).getbbox()


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ("top-left", (50, 50, 250, 150)),
        ("top-right", (750, 50, 950, 150)),
        ("bottom-left", (50, 350, 250, 450)),
        ("bottom-right", (750, 350, 950, 450)),
        ("center", (400, 200, 600, 300)),
    ],
)
def test_image_stamp_lands_at_its_position_scaled_to_the_picture_width(position, expected):
    # GIVEN a blue 1000x500 picture and a 100x50 logo, 20% of the width, 5% margin
    picture = Image.new("RGB", (1000, 500), BLUE)
    mark = Watermark(image_key="logo.png", position=position, margin=0.05, opacity=1.0, scale=0.2)
    # WHEN stamped
    out = watermarked(picture, mark, {"logo.png": logo()})
    # THEN the logo covers exactly a 200x100 box 50 pixels in from the named edges, in full red
    assert (out.mode, out.size) == ("RGB", (1000, 500))
    assert changed_box(picture, out) == expected
    assert out.getpixel((expected[0], expected[1])) == (255, 0, 0)
    assert out.getpixel((expected[2] - 1, expected[3] - 1)) == (255, 0, 0)


@pytest.mark.parametrize(("opacity", "expected"), [(0.5, (128, 0, 127)), (0.25, (64, 0, 191)), (1.0, (255, 0, 0))])
def test_image_stamp_is_blended_by_its_opacity(opacity, expected):
    picture = Image.new("RGB", (400, 200), BLUE)
    mark = Watermark(image_key="logo.png", position="top-left", margin=0.0, opacity=opacity, scale=0.5)
    out = watermarked(picture, mark, {"logo.png": logo()})
    red, green, blue = out.getpixel((100, 50))
    assert abs(red - expected[0]) <= 1 and green == 0 and abs(blue - expected[2]) <= 1
    assert out.getpixel((250, 50)) == BLUE  # beside the 200x100 stamp


def test_half_transparent_logo_is_weakened_again_by_the_opacity():
    # GIVEN a logo that is itself half transparent, laid at half opacity on a transparent picture
    picture = Image.new("RGBA", (400, 200), CLEAR)
    mark = Watermark(image_key="logo.png", position="top-left", margin=0.0, opacity=0.5, scale=0.5)
    out = watermarked(picture, mark, {"logo.png": logo(colour=(255, 0, 0, 128))})
    # THEN the result keeps its transparency and the stamp is a quarter opaque
    assert out.mode == "RGBA"
    assert out.getpixel((100, 50))[0] == 255 and abs(out.getpixel((100, 50))[3] - 64) <= 1
    assert out.getpixel((300, 150)) == CLEAR


def test_very_thin_logo_keeps_at_least_one_row():
    picture = Image.new("RGB", (100, 100), BLUE)
    mark = Watermark(image_key="line.png", position="top-left", margin=0.0, opacity=1.0, scale=0.1)
    out = watermarked(picture, mark, {"line.png": logo((1000, 2))})
    assert changed_box(picture, out) == (0, 0, 10, 1)


def test_stamp_on_a_tiny_picture_is_one_pixel_wide():
    picture = Image.new("RGB", (8, 8), BLUE)
    mark = Watermark(image_key="logo.png", position="top-left", margin=0.0, opacity=1.0, scale=0.1)
    assert changed_box(picture, watermarked(picture, mark, {"logo.png": logo()})) == (0, 0, 1, 1)


def test_opaque_jpeg_logo_is_stamped_at_the_opacity():
    # GIVEN a logo without an alpha channel (JPEG), laid at half opacity
    picture = Image.new("RGB", (400, 200), BLUE)
    jpeg = encode(Image.new("RGB", (100, 50), (255, 0, 0)), "JPEG", quality=95)
    mark = Watermark(image_key="logo.jpg", position="top-left", margin=0.0, opacity=0.5, scale=0.5)
    out = watermarked(picture, mark, {"logo.jpg": jpeg})
    # THEN all of it shows, half blended
    assert changed_box(picture, out) == (0, 0, 200, 100)
    red, _, blue = out.getpixel((100, 50))
    assert abs(red - 128) <= 4 and abs(blue - 127) <= 4


def test_blank_text_leaves_the_picture_as_it_is():
    picture = Image.new("RGB", (400, 200), BLUE)
    assert changed_box(picture, watermarked(picture, Watermark(text="   ", opacity=1.0), {})) is None


def test_missing_logo_is_an_error_naming_its_key():
    picture = Image.new("RGB", (100, 100), BLUE)
    with pytest.raises(RuntimeError, match=r"watermark image 'brand/logo\.png' is not available"):
        watermarked(picture, Watermark(image_key="brand/logo.png"), {})


def test_logo_in_a_format_uploads_may_not_use_is_refused():
    # GIVEN a logo stored as ICO, a format the engine does not open
    picture = Image.new("RGB", (100, 100), BLUE)
    ico = encode(Image.new("RGBA", (32, 32), (255, 0, 0, 255)), "ICO")
    with pytest.raises(OSError, match="cannot identify"):
        watermarked(picture, Watermark(image_key="logo.ico"), {"logo.ico": ico})


def ink(out: Image.Image) -> tuple[int, int, int, int]:
    box = out.getchannel("A").getbbox()
    assert box is not None
    return box


@pytest.mark.parametrize(
    ("position", "across", "down"),
    [
        ("top-left", "left", "top"),
        ("top-right", "right", "top"),
        ("bottom-left", "left", "bottom"),
        ("bottom-right", "right", "bottom"),
        ("center", "middle", "middle"),
    ],
)
@pytest.mark.parametrize("text", ["Hello", "jolly", "W"])
def test_text_lands_at_its_position_as_wide_as_asked(position, across, down, text):
    # GIVEN a fully transparent 400x200 picture: the alpha channel shows the text and nothing else
    picture = Image.new("RGBA", (400, 200), CLEAR)
    mark = Watermark(text=text, position=position, margin=0.05, opacity=1.0, scale=0.25)
    # WHEN stamped with text a quarter of the width, 20 pixels from the edges
    left, top, right, bottom = ink(watermarked(picture, mark, {}))
    # THEN the ink, outline included, is 100 pixels wide (within font hinting) and exactly that far in
    width, height = right - left, bottom - top
    assert abs(width - 100) <= 4
    assert left == {"left": 20, "right": 380 - width, "middle": (400 - width) // 2}[across]
    assert top == {"top": 20, "bottom": 180 - height, "middle": (200 - height) // 2}[down]


@pytest.mark.parametrize("text", ["Hello", "jolly", "W"])
def test_text_is_outlined_all_around(text):
    # GIVEN text stamped at full opacity on a transparent picture
    out = watermarked(Image.new("RGBA", (400, 200), CLEAR), Watermark(text=text, opacity=1.0), {})
    left, top, right, bottom = ink(out)
    # THEN the ink's outermost rows and columns are outline (dark), never the white fill cut short
    border = [(x, y) for x in range(left, right) for y in (top, bottom - 1)]
    border += [(x, y) for y in range(top, bottom) for x in (left, right - 1)]
    inked = [out.getpixel(xy) for xy in border if out.getpixel(xy)[3] > 0]
    assert inked and max(red for red, *_ in inked) < 128


def test_text_is_white_outlined_in_black_at_the_asked_opacity():
    # GIVEN a mid-grey picture
    picture = Image.new("RGB", (400, 200), (128, 128, 128))
    full = watermarked(picture, Watermark(text="Hello", opacity=1.0), {})
    half = watermarked(picture, Watermark(text="Hello", opacity=0.5), {})
    # THEN at full opacity pure white and pure black show; at half they are halfway to the grey
    assert full.mode == "RGB"
    assert {(255, 255, 255), (0, 0, 0)} <= {colour for _, colour in full.getcolors(400 * 200)}
    darkest, lightest = half.convert("L").getextrema()
    assert 188 <= lightest <= 194 and 62 <= darkest <= 66


def test_tiny_text_stays_legible_at_a_minimum_size():
    # GIVEN text asked to be 4 pixels wide on a 40-pixel picture
    picture = Image.new("RGBA", (40, 40), CLEAR)
    left, top, right, bottom = ink(watermarked(picture, Watermark(text="Hi", opacity=1.0, scale=0.1), {}))
    # THEN it is drawn at a small but readable size instead (several pixels high)
    assert bottom - top >= 4 and right - left > 4
