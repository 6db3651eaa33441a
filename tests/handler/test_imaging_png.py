"""PNG in strips: the same bytes as decoding the whole picture, without the whole picture."""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from PIL import Image

from handler import imaging
from handler.imaging import memory, png_strips
from handler.renditions import RenditionSpec
from local.samples import encode, photo, transparent_logo

# The largest is small enough that a 1000x800 picture is shrunk by 2 or more: the strip path applies.
SPECS = [RenditionSpec(width=200, height=150), RenditionSpec(name="thumb", width=75, height=75, fit="cover")]


def pngs() -> dict[str, bytes]:
    picture = photo(999, 801)  # odd sizes: the last strip and the last box are partial
    with_alpha = picture.copy()
    with_alpha.putalpha(picture.getchannel("G"))
    logo = transparent_logo(850, 750).convert("P")
    return {
        "RGB": encode(picture, "PNG"),
        "RGBA": encode(with_alpha, "PNG"),
        "L": encode(picture.convert("L"), "PNG"),
        "LA": encode(with_alpha.convert("LA"), "PNG"),
        "P-transparency": encode(logo, "PNG", transparency=logo.getpixel((0, 0))),
    }


PNGS = pngs()


def filtered(row: bytes, above: bytes, kind: int, bpp: int) -> bytes:
    """`row` under PNG filter `kind` (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth) against the row `above`."""
    out = bytearray(len(row))
    for i, value in enumerate(row):
        a, b, c = (row[i - bpp], above[i], above[i - bpp]) if i >= bpp else (0, above[i], 0)
        paeth = min((abs(b - c), 0, a), (abs(a - c), 1, b), (abs(a + b - 2 * c), 2, c))[2]
        out[i] = (value - (0, a, b, (a + b) // 2, paeth)[kind]) & 0xFF
    return bytes((kind,)) + bytes(out)


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_file(size: tuple[int, int], depth: int, colour_type: int, rows: list[bytes]) -> bytes:
    """A PNG of already filtered `rows` (each with its filter byte), deflated in two IDAT chunks."""
    header = struct.pack(">IIBBBBB", *size, depth, colour_type, 0, 0, 0)
    pixels = zlib.compress(b"".join(rows), 1)
    halves = (pixels[: len(pixels) // 2], pixels[len(pixels) // 2 :])
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + b"".join(chunk(b"IDAT", h) for h in halves) + chunk(b"IEND", b"")


def png16(picture: Image.Image, colour_type: int) -> bytes:
    """A 16-bit PNG of an 8-bit `picture` (its values as high bytes, varied low bytes), every row filter in turn.

    Pillow writes 16 bits only for greyscale and picks its own filters; this covers every filter at every
    strip boundary, where the row above comes from the previous strip.
    """
    width, height = picture.size
    samples, bpp = len(picture.getbands()), 2 * len(picture.getbands())
    raw, above, rows = picture.tobytes(), bytes(width * bpp), []
    for y in range(height):
        row = bytearray(width * bpp)
        row[0::2] = raw[y * width * samples : (y + 1) * width * samples]
        row[1::2] = bytes((value * 7 + y) & 0xFF for value in row[0::2])
        rows.append(filtered(bytes(row), above, y % 5, bpp))
        above = bytes(row)
    return png_file(picture.size, 16, colour_type, rows)


def png16s() -> dict[str, bytes]:
    picture = photo(131, 71)  # two strips at a shrink of 2 (odd sizes: the last strip and box are partial)
    with_alpha = picture.copy()
    with_alpha.putalpha(picture.getchannel("G"))
    return {
        "I;16": png16(picture.convert("L"), 0),
        "RGB;16": png16(picture, 2),
        "LA;16": png16(with_alpha.convert("LA"), 4),
        "RGBA;16": png16(with_alpha, 6),
    }


PNG16S = png16s()
# Shrunk by 2: a strip boundary at row 64, which is Paeth-filtered against the last row of the first strip.
SMALL_SPECS = [RenditionSpec(width=30, height=16), RenditionSpec(name="thumb", width=12, height=12, fit="cover")]


@pytest.mark.parametrize("name", PNG16S)
def test_sixteen_bit_strips_are_the_pixels_pillow_decodes(name):
    # GIVEN a 16-bit PNG using every row filter
    data = PNG16S[name]
    assert png_strips.strips_apply(data)
    # WHEN it is decoded in strips
    strips = list(png_strips.decoded_strips(data, 2, imaging.Limits()))
    # THEN the strips, stacked, are the pixels Pillow decodes from the whole file (high bytes of colour samples)
    whole = Image.open(io.BytesIO(data))
    stacked = Image.new(whole.mode, whole.size)
    for top, strip in zip(range(0, whole.height, 64), strips, strict=True):
        stacked.paste(strip, (0, top))
    assert [strip.mode for strip in strips] == [whole.mode] * 2
    assert stacked.tobytes() == whole.tobytes()


@pytest.mark.parametrize("name", PNG16S)
def test_sixteen_bit_renditions_are_those_of_the_whole_picture(name, monkeypatch):
    # GIVEN a 16-bit PNG the strip path takes
    data = PNG16S[name]
    # WHEN rendered through strips, and again with the strip path switched off
    strips = imaging.render_all(data, SMALL_SPECS)
    monkeypatch.setattr(imaging, "strips_apply", lambda data: False)
    whole = imaging.render_all(data, SMALL_SPECS)
    # THEN every rendition is byte for byte the same (16-bit grey: scaled by its full range, like the whole path)
    assert [r.data for r in strips] == [r.data for r in whole]  # type: ignore[union-attr]


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
        encode(Image.new("1", (1600, 1200)), "PNG"),
        encode(Image.new("L", (1600, 1200)), "PNG", bits=4),
        interlaced(encode(Image.new("RGB", (1600, 1200)), "PNG")),
    ],
    ids=["1-bit", "4-bit", "interlaced"],
)
def test_other_pngs_take_the_whole_picture_path(data):
    assert not png_strips.strips_apply(data)


def test_animated_png_takes_the_whole_picture_path():
    frames = [photo(64, 48), photo(64, 48).rotate(180)]
    assert not png_strips.strips_apply(encode(frames[0], "PNG", save_all=True, append_images=frames[1:]))


def test_bytes_after_the_end_of_a_png_are_not_read_as_chunks():
    # GIVEN a PNG followed by bytes that look like an animation chunk (files are sometimes concatenated)
    data = PNGS["RGB"] + chunk(b"acTL", bytes(8))
    # THEN it is still decoded in strips, as Pillow ignores what follows IEND
    assert png_strips.strips_apply(data)


def test_a_chunk_after_the_pixels_claiming_2_gb_ends_the_chunk_walk():
    # GIVEN a PNG with a chunk between its pixels and IEND whose length field says 2 GB (Pillow reads no
    # chunk after IDAT when opening, so nothing has checked it)
    end = PNGS["RGB"].index(b"IEND") - 4
    data = PNGS["RGB"][:end] + struct.pack(">I4s", 2**31, b"zzZz") + PNGS["RGB"][end:]
    # THEN the walk for chunk kinds stops there, and the strip path still applies
    assert png_strips.strips_apply(data)


def test_png_cut_inside_its_end_chunk_still_renders_from_complete_pixels():
    # GIVEN a PNG whose last 6 bytes are missing: IEND's header is cut, every pixel is there
    data = PNGS["RGB"][:-6]
    assert png_strips.strips_apply(data)
    # WHEN rendered through strips
    # THEN it renders the same as the whole file
    assert imaging.render(data, SPECS[0]).data == imaging.render(PNGS["RGB"], SPECS[0]).data


def test_truncated_png_in_the_strip_path_is_corrupt():
    data = PNGS["RGB"]
    with pytest.raises(imaging.CorruptImage):
        imaging.render(data[: len(data) // 2], SPECS[0])


def test_strip_path_model_is_small():
    # GIVEN a 48 MP RGBA PNG header (flat, so it is quick to make)
    data = encode(Image.new("RGBA", (8000, 6000), (1, 2, 3, 4)), "PNG")
    # THEN the model counts strips, not the 192 MB picture
    image = Image.open(io.BytesIO(data))
    estimate = imaging.estimated_peak_bytes(image, (800, 600))
    assert estimate - memory.RUNTIME_OVERHEAD_BYTES < 64 * 2**20


def test_png_whose_compressed_pixels_are_damaged_in_the_strip_path_is_corrupt():
    # GIVEN a PNG whose IDAT overwrites the zlib stream's header (damage further in may inflate to garbage rows)
    data = bytearray(PNGS["RGB"])
    start = data.index(b"IDAT") + 4
    data[start : start + 2] = b"\xff\xff"
    # WHEN rendered through strips
    assert png_strips.strips_apply(bytes(data))
    # THEN it is refused as a corrupt image, like the whole-picture path would, saying why
    with pytest.raises(imaging.CorruptImage, match="compressed image data is corrupt"):
        imaging.render(bytes(data), SPECS[0])


GREY = photo(181, 139).convert("L")
GREY_ROWS = [b"\x00" + GREY.tobytes()[y * 181 : (y + 1) * 181] for y in range(139)]


def test_png_whose_pixels_end_inside_the_last_strip_is_corrupt():
    # GIVEN a PNG whose complete zlib stream holds all rows but the last 3 (the last strip is short)
    data = png_file(GREY.size, 8, 0, GREY_ROWS[:-3])
    # WHEN rendered through strips
    # THEN it is refused as corrupt, saying why
    with pytest.raises(imaging.CorruptImage, match=r": PNG image data is truncated$"):
        imaging.render_all(data, SMALL_SPECS)


def test_png_with_an_unknown_row_filter_is_corrupt():
    # GIVEN a PNG whose row 70 (in the second strip) names filter type 7, which does not exist
    rows = [*GREY_ROWS[:70], b"\x07" + GREY_ROWS[70][1:], *GREY_ROWS[71:]]
    # WHEN rendered through strips
    # THEN it is refused as corrupt, naming the decoder's error
    with pytest.raises(imaging.CorruptImage, match="cannot decode PNG strip"):
        imaging.render_all(png_file(GREY.size, 8, 0, rows), SMALL_SPECS)


def test_strips_past_the_deadline_run_out_of_time_while_decoding():
    # GIVEN a deadline already past
    limits = imaging.Limits(deadline=time.monotonic() - 1)
    # WHEN the first strip is asked for
    # THEN the upload ends as out of time, saying where
    with pytest.raises(imaging.OutOfTime, match="while decoding PNG:"):
        next(png_strips.decoded_strips(png_file(GREY.size, 8, 0, GREY_ROWS), 2, limits))
