"""Time budget, animation budget and orientation read without decoding."""

from __future__ import annotations

import dataclasses
import io
import struct
import time

import pytest
from PIL import Image

from handler import imaging
from handler.imaging import decode, memory, refusals
from handler.renditions import RenditionSpec
from local.samples import encode, photo, quadrants


def test_work_past_the_deadline_ends_in_out_of_time():
    # GIVEN a deadline already passed
    limits = imaging.Limits(deadline=time.monotonic() - 1)
    # WHEN a picture is rendered
    with pytest.raises(imaging.OutOfTime) as raised:
        imaging.render(encode(photo(600, 400), "PNG"), limits=limits)
    # THEN it ends in a timeout refusal that names the stage and what to change
    assert raised.value.reason == "timeout"
    assert "decoding" in raised.value.message and "timeout" in raised.value.message


def test_a_deadline_in_the_future_changes_nothing():
    limits = imaging.Limits(deadline=time.monotonic() + 60)
    assert imaging.render(encode(photo(600, 400), "PNG"), limits=limits).size == (600, 400)


def animation(frames: int, size: tuple[int, int]) -> bytes:
    images = [Image.new("RGB", size, (index * 6, 255 - index * 6, 0)) for index in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=50)


def test_animation_over_the_frame_pixel_budget_is_refused_before_decoding(monkeypatch):
    # GIVEN a budget of 1 MP of frames and a 40-frame 200x200 animation (1.6 MP)
    monkeypatch.setattr(refusals, "MAX_ANIMATION_PIXELS", 1_000_000)
    data = animation(40, (200, 200))
    spec = RenditionSpec(name="anim", format="webp", animated=True)
    # THEN the animated rendition is refused for the whole upload
    with pytest.raises(imaging.TooLarge, match="40 frames of 200x200"):
        imaging.render(data, spec)
    # AND max_frames within the budget makes it acceptable
    assert imaging.render(data, RenditionSpec(name="anim", format="webp", animated=True, max_frames=20)).frames == 20


def upright_quadrants_check(data: bytes) -> None:
    out = Image.open(io.BytesIO(imaging.render(data).data)).convert("RGB")
    assert out.size == (800, 400)
    assert out.getpixel((100, 100))[0] > 200 and out.getpixel((100, 100))[1] < 60  # red top left
    assert out.getpixel((700, 300))[2] > 200 and out.getpixel((700, 300))[0] < 60  # blue bottom right


def test_tiff_orientation_is_applied_once():
    # GIVEN a TIFF stored turned for orientation 6 (Pillow's TIFF loader turns it upright itself)
    stored = quadrants(1600, 800).transpose(Image.Transpose.ROTATE_90)
    data = encode(stored, "TIFF", compression="tiff_adobe_deflate", tiffinfo={0x0112: 6})
    # THEN the rendition is upright, not turned twice
    upright_quadrants_check(data)


def test_png_orientation_is_read_without_decoding_the_pixels():
    # GIVEN a PNG with an eXIf chunk saying orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(quadrants(1600, 800).transpose(Image.Transpose.ROTATE_90), "PNG", exif=exif.tobytes())
    image = decode.open_image(data)
    # WHEN its orientation is read THEN it is found, and no pixel has been decoded
    assert decode.orientation(image) == 6
    assert image.tile  # still waiting to be decoded
    # AND the rendition is upright
    upright_quadrants_check(data)


def rle8_bmp(width: int, height: int) -> bytes:
    """An 8-bit RLE BMP written by hand (Pillow cannot write RLE): one run per pixel, the slowest case."""
    row = b"".join(bytes((1, x & 0xFF)) for x in range(width)) + b"\x00\x00"
    pixels = row * height + b"\x00\x01"
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def test_small_rle_bmp_is_decoded():
    out = Image.open(io.BytesIO(imaging.render(rle8_bmp(64, 16)).data)).convert("L")
    assert out.size == (64, 16)
    assert abs(out.getpixel((40, 8)) - 40) <= 8  # the grey ramp of the palette indices


def test_large_rle_bmp_is_refused_before_its_slow_decoder_runs():
    data = rle8_bmp(2100, 1000)  # 4.2 MB of runs
    with pytest.raises(imaging.TooLarge, match="RLE-compressed BMP"):
        imaging.render(data)


def test_png_with_a_huge_compressed_icc_profile_is_too_large_not_corrupt():
    # GIVEN a well-formed PNG whose iCCP chunk inflates to 5 MB (past Pillow's limit on metadata)
    data = encode(Image.new("RGB", (64, 64)), "PNG", icc_profile=b"\0" * (5 * 2**20))
    # THEN it is refused as too large: calling it corrupt would tell the uploader something false
    with pytest.raises(imaging.TooLarge, match="metadata is too large"):
        imaging.render(data)


@dataclasses.dataclass(frozen=True)
class RecordingLimits(imaging.Limits):
    """Limits that record where the deadline is checked instead of checking it."""

    stages: list[str] = dataclasses.field(default_factory=list)

    def check_time(self, stage: str) -> None:
        self.stages.append(stage)


@pytest.mark.parametrize(
    ("fmt", "decoding", "strips"),
    [("PNG", "decoding PNG", 2), ("TIFF", "decoding TIFF", 2), ("JPEG", "decoding", 1)],  # JPEG: DCT-scaled
)
def test_the_deadline_is_checked_while_decoding_between_strips_and_before_encoding(fmt, decoding, strips):
    # GIVEN a picture shrunk by 2x or more, in two strip-decoded formats (Pillow's TIFF: one uncompressed
    # strip, cut into groups of rows) and a whole-picture one
    limits = RecordingLimits()
    imaging.render(encode(photo(3400, 2600), fmt), limits=limits)
    # THEN the deadline was checked while decoding, for every shrunk strip and before encoding
    assert limits.stages.count(decoding) >= 2
    assert limits.stages.count("shrinking") >= strips
    assert limits.stages[-1] == "encoding"


def test_scans_after_a_single_scan_sequential_jpeg_end_decoding_as_corrupt():
    # GIVEN a baseline JPEG whose one scan holds every component, followed by 2,000 more copies of that scan
    data = encode(photo(640, 480), "JPEG", quality=90)
    scan = data[data.index(b"\xff\xda") : data.rindex(b"\xff\xd9")]
    padded = data[: data.rindex(b"\xff\xd9")] + scan * 2000 + b"\xff\xd9"
    # THEN the marker walk does not count them (libjpeg never decodes a second scan of a single-scan frame)
    assert decode.jpeg_layout(padded).scans == 1
    # AND decoding stops at the second scan: a corrupt image, not 2,000 scans of work
    with pytest.raises(imaging.CorruptImage):
        imaging.render(padded)


def test_a_sequential_jpeg_with_separate_component_scans_has_them_counted():
    # GIVEN a progressive JPEG (scans per band and per component)
    data = encode(photo(640, 480), "JPEG", quality=90, progressive=True)
    # THEN its scans are counted from the whole file
    assert decode.jpeg_layout(data).scans == data.count(b"\xff\xda") > 1


@pytest.mark.parametrize(
    ("size", "scale"),
    [((4000, 3000), 4), ((8000, 6000), 4), ((16000, 12000), 8), ((2000, 1500), 2), ((1200, 900), 1)],
)
def test_jpeg_is_dct_scaled_to_cover_a_margin_and_to_one_eighth_only_with_twice_the_target(size, scale):
    # GIVEN a JPEG of `size` and an 800x600 rendition
    # WHEN the decode scale is chosen: at least 1.25x the target, and 2x for 1/8 (DC terms only)
    chosen = memory.jpeg_scale(size, (800, 600))
    # THEN it is the largest denominator that keeps that margin
    assert chosen == scale
    request = memory.draft_request(size, (800, 600))
    assert min(size[0] // request[0], size[1] // request[1]) // chosen == 1  # Pillow's draft picks the same
