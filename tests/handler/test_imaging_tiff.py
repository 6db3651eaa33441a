"""TIFF in groups of strips: the same bytes as decoding the whole picture, without the whole picture."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from handler import imaging
from handler.imaging import memory, tiff_strips
from handler.renditions import RenditionSpec
from local.samples import encode, photo

SPECS = [RenditionSpec(), RenditionSpec(name="thumb", width=150, height=150, fit="cover")]
PICTURE = photo(1999, 1601)  # odd sizes: the last group and the last box are partial


@pytest.mark.parametrize(
    ("mode", "compression"),
    [
        ("RGB", "tiff_adobe_deflate"),
        ("RGB", "tiff_lzw"),
        ("L", "packbits"),
        ("RGBA", "tiff_adobe_deflate"),
        ("CMYK", "tiff_lzw"),
    ],
)
def test_group_decoding_gives_the_same_bytes_as_the_whole_picture(mode, compression, monkeypatch):
    # GIVEN a stripped 8-bit TIFF the group path takes
    data = encode(PICTURE.convert(mode), "TIFF", compression=compression)
    assert tiff_strips.group_rows(Image.open(io.BytesIO(data)), 2)
    # WHEN rendered through groups of strips, and again with the group path switched off
    groups = imaging.render_all(data, SPECS)
    monkeypatch.setattr(imaging, "group_rows", lambda image, factor: 0)
    whole = imaging.render_all(data, SPECS)
    # THEN every rendition is byte for byte the same
    assert [r.data for r in groups] == [r.data for r in whole]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("picture", "params"),
    [
        (PICTURE, {}),  # uncompressed: written by Pillow as one strip
        (PICTURE, {"compression": "jpeg"}),  # JPEG tables shared between strips
        (PICTURE.convert("P"), {"compression": "tiff_lzw"}),  # palette
        (PICTURE, {"compression": "tiff_lzw", "tiffinfo": {0x0112: 6}}),  # turned by Pillow while loading
        (Image.new("I;16", (1999, 1601)), {"compression": "tiff_lzw"}),  # 16-bit
    ],
    ids=["one-strip", "jpeg", "palette", "orientation", "16-bit"],
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
        imaging.render(damaged)
