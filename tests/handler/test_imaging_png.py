"""PNG in strips: the same bytes as decoding the whole picture, without the whole picture."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from handler import imaging
from handler.imaging import memory, png_strips
from handler.renditions import RenditionSpec
from local.samples import encode, photo, transparent_logo

# The largest is small enough that a 2000x1600 picture is shrunk by 2 or more: the strip path applies.
SPECS = [RenditionSpec(width=400, height=300), RenditionSpec(name="thumb", width=150, height=150, fit="cover")]


def pngs() -> dict[str, bytes]:
    picture = photo(1999, 1601)  # odd sizes: the last strip and the last box are partial
    with_alpha = picture.copy()
    with_alpha.putalpha(picture.getchannel("G"))
    logo = transparent_logo(1700, 1500).convert("P")
    return {
        "RGB": encode(picture, "PNG"),
        "RGBA": encode(with_alpha, "PNG"),
        "L": encode(picture.convert("L"), "PNG"),
        "LA": encode(with_alpha.convert("LA"), "PNG"),
        "P-transparency": encode(logo, "PNG", transparency=logo.getpixel((0, 0))),
    }


PNGS = pngs()


@pytest.mark.parametrize("name", PNGS)
def test_strip_decoding_gives_the_same_bytes_as_the_whole_picture(name, monkeypatch):
    # GIVEN an 8-bit PNG the strip path takes
    data = PNGS[name]
    assert png_strips.strips_apply(data)
    # WHEN rendered through strips, and again with the strip path switched off
    decoded = imaging.decoded_strips
    calls = []
    monkeypatch.setattr(imaging, "decoded_strips", lambda *args: calls.append(args) or decoded(*args))
    strips = imaging.render_all(data, SPECS)
    assert len(calls) == 1  # the strip path was taken
    monkeypatch.setattr(imaging, "strips_apply", lambda data: False)
    whole = imaging.render_all(data, SPECS)
    # THEN every rendition is byte for byte the same
    assert [r.data for r in strips] == [r.data for r in whole]  # type: ignore[union-attr]


def interlaced(data: bytes) -> bytes:
    """The same PNG with its IHDR interlace byte set to Adam7 (only the header is read here)."""
    return data[:28] + b"\x01" + data[29:]


@pytest.mark.parametrize(
    "data",
    [
        encode(Image.new("I;16", (1600, 1200)), "PNG"),
        encode(Image.new("1", (1600, 1200)), "PNG"),
        interlaced(encode(Image.new("RGB", (1600, 1200)), "PNG")),
    ],
    ids=["16-bit", "1-bit", "interlaced"],
)
def test_other_pngs_take_the_whole_picture_path(data):
    assert not png_strips.strips_apply(data)


def test_truncated_png_in_the_strip_path_is_corrupt():
    data = PNGS["RGB"]
    with pytest.raises(imaging.CorruptImage):
        imaging.render(data[: len(data) // 2])


def test_strip_path_model_is_small():
    # GIVEN a 48 MP RGBA PNG header (flat, so it is quick to make)
    data = encode(Image.new("RGBA", (8000, 6000), (1, 2, 3, 4)), "PNG")
    # THEN the model counts strips, not the 192 MB picture
    image = Image.open(io.BytesIO(data))
    estimate = imaging.estimated_peak_bytes(image, (800, 600))
    assert estimate - memory.RUNTIME_OVERHEAD_BYTES < 64 * 2**20


def test_png_whose_compressed_pixels_are_damaged_in_the_strip_path_is_corrupt():
    # GIVEN an RGB PNG (fully deflated, so any damage breaks inflate) whose IDAT bytes are overwritten halfway
    data = bytearray(encode(photo(1999, 1601), "PNG", compress_level=1))
    start = data.index(b"IDAT") + 4
    middle = start + (len(data) - start) // 2
    data[middle : middle + 64] = b"\xff" * 64
    # WHEN rendered through strips
    assert png_strips.strips_apply(bytes(data))
    # THEN it is refused as a corrupt image, like the whole-picture path would
    with pytest.raises(imaging.CorruptImage):
        imaging.render(bytes(data))
