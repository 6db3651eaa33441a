"""TIFF in groups of strips: the same bytes as decoding the whole picture, without the whole picture."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from PIL import Image

from handler import imaging
from handler.imaging import memory, tiff_strips
from handler.renditions import RenditionSpec
from local.samples import encode, photo
from tests.hostile import writers

# The largest is small enough that the picture is shrunk by 2 or more: the group path applies.
SPECS = [RenditionSpec(width=200, height=150), RenditionSpec(name="thumb", width=75, height=75, fit="cover")]
# Shrunk by 3: groups are a multiple of 3 rows while strips and tiles are not.
SPECS_BY_3 = [RenditionSpec(width=150, height=120), RenditionSpec(name="thumb", width=75, height=75, fit="cover")]
PICTURE = photo(999, 801)  # odd sizes: the last group and the last box are partial


# Pillow writes an uncompressed TIFF as one strip, and a compressed one as one strip when asked.
ONE_STRIP = {"strip_size": 2**30}
PREDICTOR = {"tiffinfo": {317: 2}}  # horizontal differencing before deflate


@pytest.mark.parametrize(
    ("mode", "params"),
    [
        ("RGB", {"compression": "tiff_adobe_deflate"}),
        ("RGB", {"compression": "tiff_lzw"}),
        ("L", {"compression": "packbits"}),
        ("RGBA", {"compression": "tiff_adobe_deflate"}),
        ("CMYK", {"compression": "tiff_lzw"}),
        ("RGB", {}),
        ("LA", {}),
        ("RGBA", {"compression": "tiff_adobe_deflate", **ONE_STRIP}),
        ("L", {"compression": "tiff_adobe_deflate", **ONE_STRIP, **PREDICTOR}),
        ("RGB", {"compression": "tiff_adobe_deflate", **ONE_STRIP, **PREDICTOR}),
    ],
    ids=[
        "RGB-deflate",
        "RGB-lzw",
        "L-packbits",
        "RGBA-deflate",
        "CMYK-lzw",
        "RGB-one-strip-uncompressed",
        "LA-one-strip-uncompressed",
        "RGBA-one-strip-deflate",
        "L-one-strip-deflate-predictor",
        "RGB-one-strip-deflate-predictor",
    ],
)
def test_group_decoding_gives_the_same_bytes_as_the_whole_picture(mode, params, monkeypatch):
    # GIVEN an 8-bit TIFF the group path takes: strips, or one strip cut into groups of rows
    data = encode(PICTURE.convert(mode), "TIFF", **params)
    assert tiff_strips.group_rows(Image.open(io.BytesIO(data)), 2)
    # WHEN rendered through groups of strips, and again with the group path switched off
    decoded = imaging.decoded_groups
    calls = []
    monkeypatch.setattr(imaging, "decoded_groups", lambda *args: calls.append(args) or decoded(*args))
    groups = imaging.render_all(data, SPECS)
    assert len(calls) == 1  # the group path was taken
    monkeypatch.setattr(imaging, "group_rows", lambda image, factor: 0)
    whole = imaging.render_all(data, SPECS)
    # THEN every rendition is byte for byte the same
    assert [r.data for r in groups] == [r.data for r in whole]  # type: ignore[union-attr]


def tiled(compression: str, tile: tuple[int, int], bits: tuple[int, ...] = (8, 8, 8), photometric: int = 2) -> bytes:
    """A tiled TIFF of noise (Pillow writes no tiles); partial tiles at the right and bottom edges."""
    page = writers.TiffPage(999, 801, bits, photometric, compression, tile=tile, rows=writers.Rows(seed=11))
    return writers.tiff([page])


@pytest.mark.parametrize(
    "data",
    [tiled("deflate", (128, 32)), tiled("none", (64, 16), (8,), 1), tiled("packbits", (48, 96), (8, 8, 8, 8), 5)],
    ids=["RGB-deflate", "L-uncompressed", "CMYK-packbits"],
)
def test_tiled_tiff_rows_of_tiles_give_the_same_bytes_as_the_whole_picture(data, monkeypatch):
    # GIVEN a tiled 8-bit TIFF the group path takes, shrunk by 3: rows of tiles are cut again at 63 rows
    assert tiff_strips.group_rows(Image.open(io.BytesIO(data)), 3) == 63
    # WHEN rendered through groups, and again with the group path switched off
    groups = imaging.render_all(data, SPECS_BY_3)
    monkeypatch.setattr(imaging, "group_rows", lambda image, factor: 0)
    whole = imaging.render_all(data, SPECS_BY_3)
    # THEN every rendition is byte for byte the same
    assert [r.data for r in groups] == [r.data for r in whole]  # type: ignore[union-attr]


@dataclass(frozen=True)
class WithoutCompressionTag(writers.TiffPage):
    """An uncompressed TIFF page that leaves Compression out, as the TIFF default allows."""

    def tags(self, offsets: Sequence[int], counts: Sequence[int]) -> dict[int, tuple[int, tuple[int, ...]]]:
        return {number: value for number, value in super().tags(offsets, counts).items() if number != 259}


@pytest.mark.parametrize("rows_per_strip", [0, 16], ids=["one-strip", "strips"])
def test_tiff_without_a_compression_tag_is_read_as_uncompressed_in_groups(rows_per_strip, monkeypatch):
    # GIVEN an uncompressed TIFF without a Compression tag
    data = writers.tiff([WithoutCompressionTag(999, 801, rows_per_strip=rows_per_strip, rows=writers.Rows(seed=5))])
    assert 259 not in Image.open(io.BytesIO(data)).tag_v2
    # WHEN rendered through groups, and again with the group path switched off
    assert tiff_strips.group_rows(Image.open(io.BytesIO(data)), 2)
    groups = imaging.render_all(data, SPECS)
    monkeypatch.setattr(imaging, "group_rows", lambda image, factor: 0)
    whole = imaging.render_all(data, SPECS)
    # THEN every rendition is byte for byte the same
    assert [r.data for r in groups] == [r.data for r in whole]  # type: ignore[union-attr]


def test_planar_tiff_takes_the_whole_picture_path():
    # GIVEN a TIFF storing each channel in its own strips (PlanarConfiguration 2)
    page = writers.TiffPage(999, 801, rows_per_strip=16, extra_tags=((284, writers.TIFF_SHORT, (2,)),))
    # THEN it is not cut into groups (a group of strips would hold one channel's rows)
    assert tiff_strips.group_rows(Image.open(io.BytesIO(writers.tiff([page]))), 2) == 0


@pytest.mark.parametrize(("tile_length", "rows"), [(1024, 64), (1040, 0)])
def test_tiles_up_to_1024_rows_tall_take_the_group_path(tile_length, rows):
    # GIVEN a narrow TIFF taller than its tiles: a row of tiles is decoded at once
    page = writers.TiffPage(16, 1100, (8,), 1, "deflate", tile=(16, tile_length))
    # THEN rows of tiles up to 1024 rows are cut into groups; taller ones take the whole path
    assert tiff_strips.group_rows(Image.open(io.BytesIO(writers.tiff([page]))), 2) == rows


def test_tiles_taller_than_a_group_take_the_whole_picture_path():
    # GIVEN a TIFF whose one row of tiles is the whole picture
    image = Image.open(io.BytesIO(tiled("deflate", (1024, 1024))))
    # THEN it is not cut into groups
    assert tiff_strips.group_rows(image, 2) == 0


@pytest.mark.parametrize(
    ("picture", "params"),
    [
        (PICTURE, {"compression": "tiff_lzw", **ONE_STRIP}),  # one strip that only libtiff can cut
        (PICTURE, {"compression": "packbits", **ONE_STRIP}),
        (PICTURE, {"compression": "jpeg"}),  # JPEG tables shared between strips
        (PICTURE.convert("P"), {"compression": "tiff_lzw"}),  # palette
        (PICTURE, {"compression": "tiff_lzw", "tiffinfo": {0x0112: 6}}),  # turned by Pillow while loading
        (Image.new("I;16", (999, 801)), {"compression": "tiff_lzw"}),  # 16-bit
        (PICTURE, {"compression": "tiff_lzw", "save_all": True, "append_images": [PICTURE]}),  # two pages
    ],
    ids=["one-strip-lzw", "one-strip-packbits", "jpeg", "palette", "orientation", "16-bit", "two-pages"],
)
def test_other_tiffs_take_the_whole_picture_path(picture, params):
    assert tiff_strips.group_rows(Image.open(io.BytesIO(encode(picture, "TIFF", **params))), 2) == 0


def test_group_path_model_is_small():
    # GIVEN a 48 MP deflate TIFF in Pillow's default strips (flat, so it is quick to make)
    data = encode(Image.new("RGB", (8000, 6000), (1, 2, 3)), "TIFF", compression="tiff_adobe_deflate")
    # THEN the model counts groups of strips, not the 192 MB picture
    estimate = imaging.estimated_peak_bytes(Image.open(io.BytesIO(data)), (800, 600))
    assert estimate - memory.RUNTIME_OVERHEAD_BYTES < 64 * 2**20


def test_damaged_strips_in_the_group_path_are_corrupt():
    # GIVEN a deflate TIFF whose middle third of strip data is overwritten with zeros (its IFD is intact)
    data = encode(PICTURE, "TIFF", compression="tiff_adobe_deflate")
    third = len(data) // 3
    damaged = data[:third] + bytes(third) + data[2 * third :]
    # THEN it is refused as corrupt
    with pytest.raises(imaging.CorruptImage):
        imaging.render(damaged, SPECS[0])


def test_one_strip_model_is_small_and_an_80_mp_deflate_tiff_is_accepted():
    # GIVEN an 80 MP RGB TIFF deflated as one strip (flat, so it is quick to make)
    data = encode(Image.new("RGB", (10_000, 8_000), (1, 2, 3)), "TIFF", compression="tiff_adobe_deflate", **ONE_STRIP)
    image = Image.open(io.BytesIO(data))
    # THEN the model counts groups of rows, not the 320 MB picture or the strip, within 60% of 512 MB
    estimate = imaging.estimated_peak_bytes(image, (800, 600))
    assert estimate - memory.RUNTIME_OVERHEAD_BYTES - len(data) < 64 * 2**20
    assert estimate < 0.6 * 512 * 2**20


def test_one_uncompressed_strip_cut_short_is_corrupt():
    # GIVEN an uncompressed one-strip TIFF cut halfway through its strip (Pillow writes the IFD first)
    data = encode(PICTURE, "TIFF")
    tags = Image.open(io.BytesIO(data)).tag_v2
    (offset,), (count,) = tags[273], tags[279]
    short = data[: offset + count // 2]
    # WHEN rendered through groups of rows
    assert tiff_strips.group_rows(Image.open(io.BytesIO(short)), 2)
    # THEN it is refused as corrupt, saying why
    with pytest.raises(imaging.CorruptImage, match=r": TIFF image data is truncated$"):
        imaging.render(short, SPECS[0])


def test_one_deflated_strip_damaged_is_corrupt():
    # GIVEN a one-strip deflate TIFF whose strip starts with 64 zero bytes, not a zlib stream (its IFD is intact)
    data = encode(PICTURE, "TIFF", compression="tiff_adobe_deflate", **ONE_STRIP)
    (offset,) = Image.open(io.BytesIO(data)).tag_v2[273]
    damaged = data[:offset] + bytes(64) + data[offset + 64 :]
    # WHEN rendered through groups of rows
    assert tiff_strips.group_rows(Image.open(io.BytesIO(damaged)), 2)
    # THEN it is refused as corrupt
    with pytest.raises(imaging.CorruptImage):
        imaging.render(damaged, SPECS[0])


def test_groups_past_the_deadline_run_out_of_time_while_decoding():
    # GIVEN a deadline already past
    limits = imaging.Limits(deadline=time.monotonic() - 1)
    data = encode(PICTURE, "TIFF", compression="tiff_lzw")
    image = Image.open(io.BytesIO(data))
    # WHEN the first group is asked for
    # THEN the upload ends as out of time, saying where
    with pytest.raises(imaging.OutOfTime, match="while decoding TIFF:"):
        next(tiff_strips.decoded_groups(image, data, 64, limits))


@pytest.mark.parametrize(
    ("rows_per_strip", "rows"),
    [(21, 63), (40, 100), (801, 64)],
    ids=["strips-of-21-in-63", "strips-of-40-in-100", "one-strip-in-64"],
)
def test_groups_are_the_picture_cut_at_the_rows_asked_for(rows_per_strip, rows):
    # GIVEN a TIFF whose strips do not line up with the groups asked for (a shrink factor of 3, or of 100)
    data = encode(PICTURE, "TIFF", compression="tiff_adobe_deflate", strip_size=rows_per_strip * 999 * 3)
    image = Image.open(io.BytesIO(data))
    assert image.tag_v2[278] == rows_per_strip
    # WHEN it is decoded in groups
    groups = list(tiff_strips.decoded_groups(image, data, rows, imaging.Limits()))
    # THEN every group but the last has exactly the rows asked for, and together they are the picture
    assert [group.height for group in groups[:-1]] == [rows] * (len(groups) - 1)
    stacked = Image.new("RGB", PICTURE.size)
    for index, group in enumerate(groups):
        stacked.paste(group, (0, index * rows))
    assert stacked.tobytes() == Image.open(io.BytesIO(data)).tobytes()
