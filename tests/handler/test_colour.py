"""Colour steps one at a time, on pixels worked out by hand: widening, 8-bit scaling, profiles and alpha.

GIVEN a tiny picture with known samples (and, where it matters, an ICC profile built here byte by byte),
WHEN one colour step runs, THEN the mode, the samples and the profile to embed are the ones computed here.
"""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, ImageCms

from handler.imaging import colour

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
D50 = (0.9642, 1.0, 0.8249)


def s15_16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def linear_grey_profile() -> bytes:
    """A minimal ICC v2 greyscale display profile with a linear tone curve (gamma 1.0)."""
    white = b"XYZ " + bytes(4) + b"".join(s15_16(v) for v in D50)
    tags = {b"wtpt": white, b"kTRC": b"curv" + bytes(4) + struct.pack(">IH", 1, 256) + bytes(2)}
    start = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags.items():
        table += signature + struct.pack(">II", start + len(body), len(data))
        body += data
    header = (
        struct.pack(">I", start + len(body))
        + bytes(4)
        + bytes([2, 0x10, 0, 0])
        + b"mntrGRAYXYZ "
        + bytes(12)
        + b"acsp"
        + bytes(28)
        + b"".join(s15_16(v) for v in D50)
        + bytes(48)
    )
    return header + struct.pack(">I", len(tags)) + table + body


def padded(profile: bytes, size: int) -> bytes:
    """`profile` grown to `size` bytes (LittleCMS reads the tags and ignores the rest), its header updated."""
    grown = profile + bytes(size - len(profile))
    return size.to_bytes(4, "big") + grown[4:]


# Linear 100/255 grey shown in sRGB: 1.055 * 0.392 ** (1 / 2.4) - 0.055 = 0.659, i.e. 168.
LINEAR_100_IN_SRGB = 168


def is_srgb(profile: bytes) -> bool:
    return "sRGB" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(profile)))


def samples(image: Image.Image) -> list[object]:
    return [image.getpixel((x, 0)) for x in range(image.width)]


def row(mode: str, values: list[object]) -> Image.Image:
    image = Image.new(mode, (len(values), 1))
    for x, value in enumerate(values):
        image.putpixel((x, 0), value)  # type: ignore[arg-type]
    return image


def test_palette_becomes_rgb_and_keeps_its_transparent_index_as_alpha():
    image = row("P", [0, 1])
    image.putpalette([255, 0, 0, 0, 0, 255])
    assert (colour.reducible(image).mode, samples(colour.reducible(image))) == ("RGB", [(255, 0, 0), (0, 0, 255)])
    image.info["transparency"] = 1
    assert samples(colour.reducible(image)) == [(255, 0, 0, 255), (0, 0, 255, 0)]


def test_palette_with_alpha_and_bilevel_are_widened():
    palette_alpha = Image.new("PA", (1, 1), (0, 100))
    palette_alpha.putpalette([10, 20, 30])
    assert samples(colour.reducible(palette_alpha)) == [(10, 20, 30, 100)]
    bilevel = row("1", [0, 1])
    assert (colour.reducible(bilevel).mode, samples(colour.reducible(bilevel))) == ("L", [0, 255])


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_sixteen_bit_is_widened_without_clipping(mode):
    widened = colour.reducible(row(mode, [0, 300, 65535]))
    assert (widened.mode, samples(widened)) == ("I", [0, 300, 65535])


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "I", "F", "CMYK"])
def test_modes_reduce_handles_are_left_alone(mode):
    image = Image.new(mode, (2, 1))
    assert colour.reducible(image) is image


@pytest.mark.parametrize(
    ("mode", "values", "sixteen_bit", "expected"),
    [
        ("I", [0, 10, 255], False, [0, 10, 255]),  # 8-bit values in a 32-bit mode: taken as they are
        ("I", [0, 10, 255], True, [0, 0, 0]),  # the same values from a 16-bit file are nearly black
        ("I", [1000, 32896, 65535], True, [3, 128, 255]),  # 16-bit: by the full 0-65535 range (x 255/65535)
        ("I", [1000, 32896, 65535], False, [3, 128, 255]),  # 32-bit within 16 bits: the same
        ("I", [0, 256], False, [0, 0]),  # just past 8 bits: by the 16-bit range
        ("I", [-100, 0, 155], False, [0, 100, 255]),  # outside 0-65535: by its own range
        ("I", [1000, 65536], False, [0, 255]),
        ("F", [0.25, 0.5, 0.75], False, [0, 127, 255]),  # float: by its own range (127.5 truncated)
        ("F", [0.5, 0.5], False, [0, 0]),  # flat: black, not a division by zero
    ],
)
def test_deep_samples_are_scaled_to_eight_bits(mode, values, sixteen_bit, expected):
    out = colour.to_eight_bit(row(mode, values), sixteen_bit)
    assert (out.mode, samples(out)) == ("L", expected)


def test_eight_bit_modes_are_not_rescaled():
    image = row("RGB", [(1, 2, 3)])
    assert colour.to_eight_bit(image, True) is image


def test_rgb_without_profile_is_kept_as_it_is():
    image = row("RGB", [(200, 30, 30)])
    out, profile = colour.to_rgb(image, None)
    assert out is image and profile is None


@pytest.mark.parametrize("profile", [None, b"", b"not a profile", SRGB[:16] + b"RGB " + bytes(200)])
def test_grey_without_a_usable_profile_becomes_plain_rgb(profile):
    out, embedded = colour.to_rgb(row("L", [100]), profile)
    assert (out.mode, samples(out), embedded) == ("RGB", [(100, 100, 100)], None)


def test_small_rgb_profile_is_embedded_as_it_is():
    image = row("RGB", [(200, 30, 30)])
    out, embedded = colour.to_rgb(image, SRGB)
    assert out is image and embedded == SRGB


@pytest.mark.parametrize(("size", "kept"), [(64 * 1024, True), (64 * 1024 + 1, False)])
def test_rgb_profiles_up_to_64_kib_are_embedded_larger_ones_converted(size, kept):
    profile = padded(SRGB, size)
    out, embedded = colour.to_rgb(row("RGB", [(200, 30, 30)]), profile)
    assert samples(out) == [(200, 30, 30)]  # sRGB to sRGB: the same colour either way
    assert embedded is not None
    assert (embedded == profile) is kept
    assert kept or (len(embedded) < 4096 and is_srgb(embedded))


def test_grey_profile_is_applied_and_replaced_by_srgb():
    # GIVEN grey 100 tagged with a linear-light grey profile
    out, embedded = colour.to_rgb(row("L", [100]), linear_grey_profile())
    # THEN it is shown as the lighter sRGB grey of the same light, described by an sRGB profile
    assert out.mode == "RGB"
    assert all(abs(value - LINEAR_100_IN_SRGB) <= 2 for value in out.getpixel((0, 0)))
    assert embedded is not None and is_srgb(embedded)


def test_profile_that_does_not_fit_the_pixels_is_dropped():
    image = row("RGB", [(200, 30, 30)])
    out, embedded = colour.to_rgb(image, linear_grey_profile())  # a grey profile on RGB pixels
    assert samples(out) == [(200, 30, 30)] and embedded is None


@pytest.mark.parametrize(
    ("mode", "straight", "expected"),
    [("RGBA", (200, 40, 0, 128), (200, 40, 0, 128)), ("LA", (100, 128), (100, 100, 100, 128))],
)
def test_alpha_is_kept_premultiplied_around_the_colour_conversion(mode, straight, expected):
    premultiplied = row(mode, [straight]).convert(colour.PREMULTIPLIED[mode])
    out, embedded = colour.to_rgb(premultiplied, None)
    assert out.mode == "RGBa" and embedded is None
    assert all(abs(a - e) <= 2 for a, e in zip(out.convert("RGBA").getpixel((0, 0)), expected, strict=True))


def test_alpha_keeps_its_small_rgb_profile():
    # GIVEN a see-through picture with an RGB profile small enough to embed (not the built-in sRGB bytes)
    profile = padded(SRGB, 5000)
    premultiplied = row("RGBA", [(200, 40, 0, 128)]).convert("RGBa")
    out, embedded = colour.to_rgb(premultiplied, profile)
    # THEN that profile is embedded as it is
    assert out.mode == "RGBa" and embedded == profile


def test_alpha_survives_a_profile_conversion():
    premultiplied = row("LA", [(100, 128)]).convert("La")
    out, embedded = colour.to_rgb(premultiplied, linear_grey_profile())
    red, green, blue, alpha = out.convert("RGBA").getpixel((0, 0))
    assert out.mode == "RGBa" and embedded is not None
    assert alpha == 128 and all(abs(value - LINEAR_100_IN_SRGB) <= 3 for value in (red, green, blue))


@pytest.mark.parametrize(
    ("mode", "values", "expected"),
    [
        ("RGBA", [(1, 2, 3, 255), (1, 2, 3, 255)], False),
        ("RGBA", [(1, 2, 3, 255), (1, 2, 3, 254)], True),
        ("RGBa", [(1, 2, 3, 255), (0, 0, 0, 0)], True),
        ("RGBa", [(1, 2, 3, 255)], False),
        ("RGB", [(1, 2, 3)], False),
    ],
)
def test_has_alpha_only_when_some_pixel_is_see_through(mode, values, expected):
    assert colour.has_alpha(row(mode, values)) is expected


def test_unpremultiplied_restores_straight_colour():
    premultiplied = row("RGBA", [(255, 0, 0, 128)]).convert("RGBa")
    assert premultiplied.getpixel((0, 0))[0] < 200  # really premultiplied
    straight = colour.unpremultiplied(premultiplied)
    assert straight.mode == "RGBA" and straight.getpixel((0, 0)) == (255, 0, 0, 128)
    image = row("RGB", [(1, 2, 3)])
    assert colour.unpremultiplied(image) is image
