"""BMP in strips: the same bytes as decoding the whole picture, without the whole picture."""

from __future__ import annotations

import io
import struct
import time

import pytest
from PIL import Image

from handler import imaging
from handler.imaging import bmp_strips, memory
from handler.renditions import RenditionSpec
from local.samples import encode, photo

# The largest is small enough that a 1000x800 picture is shrunk by 2 or more: the strip path applies.
SPECS = [RenditionSpec(width=200, height=150), RenditionSpec(name="thumb", width=75, height=75, fit="cover")]


def top_down(data: bytes) -> bytes:
    """The same BMP stored top-down: rows reversed and a negative height (Pillow writes bottom-up only)."""
    offset, (_width, height) = struct.unpack_from("<I", data, 10)[0], struct.unpack_from("<ii", data, 18)
    stride = (len(data) - offset) // height
    rows = [data[offset + row * stride : offset + (row + 1) * stride] for row in range(height)]
    return data[:22] + struct.pack("<i", -height) + data[26:offset] + b"".join(reversed(rows))


def bmps() -> dict[str, bytes]:
    picture = photo(999, 801)  # odd sizes: the last strip, the last box and the row padding are partial
    rgb = encode(picture, "BMP")
    return {
        "RGB": rgb,
        "RGB-top-down": top_down(rgb),
        "L": encode(picture.convert("L"), "BMP"),
        "P": encode(picture.convert("P", palette=Image.Palette.ADAPTIVE), "BMP"),
        "1": encode(picture.convert("1"), "BMP"),
    }


BMPS = bmps()


@pytest.mark.parametrize("name", BMPS)
def test_strip_decoding_gives_the_same_bytes_as_the_whole_picture(name, monkeypatch):
    # GIVEN an uncompressed BMP the strip path takes
    data = BMPS[name]
    assert bmp_strips.strips_apply(Image.open(io.BytesIO(data)))
    # WHEN rendered through strips, and again with the strip path switched off
    decoded = bmp_strips.decoded_strips
    calls = []
    monkeypatch.setattr(bmp_strips, "decoded_strips", lambda *args: calls.append(args) or decoded(*args))
    strips = imaging.render_all(data, SPECS)
    assert len(calls) == 1  # the strip path was taken
    monkeypatch.setattr(bmp_strips, "strips_apply", lambda image: False)
    whole = imaging.render_all(data, SPECS)
    # THEN every rendition is byte for byte the same
    assert [r.data for r in strips] == [r.data for r in whole]  # type: ignore[union-attr]


def test_top_down_bmp_is_upright():
    # GIVEN the same picture stored bottom-up and top-down
    # THEN both render to the same bytes
    assert imaging.render(BMPS["RGB"], SPECS[0]).data == imaging.render(BMPS["RGB-top-down"], SPECS[0]).data


def test_truncated_bmp_takes_the_whole_path_and_is_corrupt():
    data = BMPS["RGB"][: len(BMPS["RGB"]) // 2]
    assert not bmp_strips.strips_apply(Image.open(io.BytesIO(data)))
    with pytest.raises(imaging.CorruptImage):
        imaging.render(data, SPECS[0])


def test_strip_path_model_counts_the_upload_not_the_picture():
    # GIVEN a 24-bit 80 MP BMP (flat, so it is quick to make): 240 MB of upload, 320 MB once decoded whole
    data = encode(Image.new("RGB", (10_000, 8_000), (1, 2, 3)), "BMP")
    image = Image.open(io.BytesIO(data))
    # THEN the model counts the upload and strips, not the picture, and a 512 MB function accepts it
    estimate = imaging.estimated_peak_bytes(image, (800, 600))
    assert estimate - memory.RUNTIME_OVERHEAD_BYTES - len(data) < 64 * 2**20
    assert estimate < 512 * 2**20


def test_strips_past_the_deadline_run_out_of_time_while_decoding():
    # GIVEN a deadline already past
    limits = imaging.Limits(deadline=time.monotonic() - 1)
    # WHEN the first strip is asked for
    # THEN the upload ends as out of time, saying where
    with pytest.raises(imaging.OutOfTime, match="while decoding BMP:"):
        next(bmp_strips.decoded_strips(Image.open(io.BytesIO(BMPS["L"])), 2, limits))
