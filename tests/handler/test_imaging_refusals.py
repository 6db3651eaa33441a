"""Refusals before decoding, at their edges: exactly at a limit is accepted, one past it is refused.

The amounts (pixels, bytes, scans, frames, memory) are worked out here from the headers the tests build; the
refusal messages tell the uploader what was too much and what to change, so they are checked whole.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

import pytest
from PIL import Image

from handler import imaging
from handler.imaging import decode, limits, memory, refusals
from local.samples import encode
from tests.handler.test_imaging_limits import rle8_bmp
from tests.handler.test_imaging_memory import jpeg_header

MIB = 2**20
BASE = memory.RUNTIME_OVERHEAD_BYTES  # the runtime before decoding (tuned, not derived)
ROOMY = imaging.Limits(max_pixels=10**9, memory_mb=100_000)


def refusal(check: Callable[..., None], *args: object) -> str:
    with pytest.raises(imaging.TooLarge) as raised:
        check(*args)
    assert raised.value.reason == "too_large"
    return raised.value.message


def webp_header(width: int, height: int, length: int = 30) -> bytes:
    """An extended WebP's 30-byte header declaring `width` x `height`, padded to `length` bytes."""
    vp8x = bytes(4) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return (b"RIFF" + struct.pack("<I", len(body)) + body).ljust(length, b"\0")


# --- before opening: the WebP canvas libwebp allocates on open ---


def test_webp_canvas_exactly_filling_the_memory_size_is_accepted_and_a_megabyte_less_refused():
    # GIVEN a 1 MB upload declaring a 2048x1024 canvas: 96 MB runtime + 1 MB + 16 B/px x 2 MP = 129 MB
    data = webp_header(2048, 1024, length=MIB)
    needed = BASE + MIB + 2048 * 1024 * 16
    assert needed == 129 * MIB
    # THEN 129 MB is enough
    refusals.check_before_opening(data, imaging.Limits(memory_mb=129))
    # AND 128 MB is refused with the need and the next multiple of 64 MB to raise memorySize to
    message = refusal(refusals.check_before_opening, data, imaging.Limits(memory_mb=128))
    assert message == (
        "WEBP 2048x1024 needs about 129 MB to decode: too large for 128 MB, raise memorySize to at least 192"
    )


def test_webp_canvas_over_max_pixels_is_refused_before_opening():
    data = webp_header(3000, 2000)
    refusals.check_before_opening(data, imaging.Limits(max_pixels=6_000_000))
    message = refusal(refusals.check_before_opening, data, imaging.Limits(max_pixels=5_999_999))
    assert message == "3000x2000 is 6.0 megapixels, above MAX_PIXELS (6.0 megapixels)"
    message = refusal(refusals.check_before_opening, data, imaging.Limits(max_pixels=2_500_000))
    assert message == "3000x2000 is 6.0 megapixels, above MAX_PIXELS (2.5 megapixels)"


def test_other_formats_are_not_checked_before_opening():
    data = encode(Image.new("RGB", (64, 64)), "PNG")
    refusals.check_before_opening(data, imaging.Limits(max_pixels=1, memory_mb=1))


# --- before decoding: pixels, profile, scans, slow RLE, memory ---


def opened(data: bytes) -> Image.Image:
    return decode.open_image(data)


def test_pixels_exactly_at_max_pixels_are_accepted_and_one_more_refused():
    image = opened(encode(Image.new("L", (300, 200)), "PNG"))
    refusals.check_before_decoding(image, (800, 600), imaging.Limits(max_pixels=60_000))
    message = refusal(refusals.check_before_decoding, image, (800, 600), imaging.Limits(max_pixels=59_999))
    assert message == "300x200 is 0.1 megapixels, above MAX_PIXELS (0.1 megapixels)"


def test_icc_profile_of_four_megabytes_is_accepted_and_one_byte_more_refused():
    picture = Image.new("RGB", (64, 64))
    refusals.check_before_decoding(opened(encode(picture, "JPEG", icc_profile=b"\1" * (4 * MIB))), (64, 64), ROOMY)
    refusal(
        refusals.check_before_decoding,
        opened(encode(picture, "JPEG", icc_profile=b"\1" * (4 * MIB + 1))),
        (64, 64),
        ROOMY,
    )
    image = opened(encode(picture, "JPEG", icc_profile=b"\1" * (5 * MIB)))
    message = refusal(refusals.check_before_decoding, image, (64, 64), ROOMY)
    assert message == "its ICC colour profile is 5120 KB, above 4096 KB"


def test_a_hundred_jpeg_scans_are_accepted_and_one_more_refused():
    hundred = opened(jpeg_header(640, 480, [0x22, 0x11, 0x11], progressive=True, scans=100))
    refusals.check_before_decoding(hundred, (640, 480), ROOMY)
    image = opened(jpeg_header(640, 480, [0x22, 0x11, 0x11], progressive=True, scans=101))
    message = refusal(refusals.check_before_decoding, image, (640, 480), ROOMY)
    assert message == "JPEG with 101 scans, above 100: re-save it as baseline or progressive"


def test_rle_bmp_of_four_megabytes_is_accepted_and_one_byte_more_refused():
    rle = rle8_bmp(64, 16)
    refusals.check_before_decoding(opened(rle.ljust(4 * MIB, b"\0")), (64, 16), ROOMY)
    refusal(refusals.check_before_decoding, opened(rle.ljust(4 * MIB + 1, b"\0")), (64, 16), ROOMY)
    image = opened(rle.ljust(5 * MIB + 1, b"\0"))
    message = refusal(refusals.check_before_decoding, image, (64, 16), ROOMY)
    assert message == "RLE-compressed BMP of 5 MB, above 4 MB: save it as PNG or uncompressed BMP"


def test_uncompressed_bmp_of_any_size_has_no_rle_limit():
    image = opened(encode(Image.new("L", (2200, 2000)), "BMP"))
    assert len(decode.upload_bytes(image)) > 4 * MIB
    refusals.check_before_decoding(image, (800, 600), ROOMY)


def test_memory_refusal_from_the_header_names_the_picture_and_the_size_to_raise_to():
    # GIVEN a 4000x3000 baseline JPEG header: decoded at 1/4, the 1000x750 picture and its copy at 4 B/px,
    # 64 B per column of MCU rows, the runtime and the upload
    data = jpeg_header(4000, 3000, [0x22, 0x11, 0x11], progressive=False, scans=1)
    needed = BASE + len(data) + 1000 * 750 * 4 * 2 + 64 * 4000
    image = opened(data)
    # THEN the megabyte above the need is enough, the one below it is not
    refusals.check_before_decoding(image, (800, 600), imaging.Limits(memory_mb=needed // MIB + 1))
    message = refusal(refusals.check_before_decoding, image, (800, 600), imaging.Limits(memory_mb=needed // MIB))
    assert message == (
        f"JPEG 4000x3000 needs about {needed // MIB} MB to decode: too large for {needed // MIB} MB, "
        "raise memorySize to at least 128"
    )


# --- animated renditions ---


def test_animation_work_of_exactly_the_budget_is_accepted_and_one_frame_more_refused():
    # GIVEN a 200x200 GIF: 10,000 frames are 400 megapixels to decode
    image = opened(encode(Image.new("P", (200, 200)), "GIF"))
    refusals.check_animation(image, (1, 1), 10_000, ROOMY)
    message = refusal(refusals.check_animation, image, (1, 1), 10_001, ROOMY)
    assert message == (
        "10001 frames of 200x200 are 400 megapixels to decode, above 400: lower max_frames or send a smaller animation"
    )


def test_animation_refusal_rounds_megapixels_to_the_nearest(monkeypatch):
    # GIVEN 1,606 frames of 500x500 (401.5 megapixels) against a budget of 1.5 megapixels
    monkeypatch.setattr(refusals, "MAX_ANIMATION_PIXELS", 1_500_000)
    image = opened(encode(Image.new("P", (500, 500)), "GIF"))
    # THEN both are rounded to whole megapixels (half to even), not cut
    message = refusal(refusals.check_animation, image, (1, 1), 1606, ROOMY)
    assert message.startswith("1606 frames of 500x500 are 402 megapixels to decode, above 2: ")


def test_animation_memory_is_checked_against_the_memory_size():
    # GIVEN a 200x200 GIF and 100 frames of 100x100: 20 B/px of source, 8 B/px per output frame
    data = encode(Image.new("P", (200, 200)), "GIF")
    needed = BASE + len(data) + 200 * 200 * 20 + 100 * 100 * 100 * 8
    image = opened(data)
    refusals.check_animation(image, (100, 100), 100, imaging.Limits(memory_mb=needed // MIB + 1))
    message = refusal(refusals.check_animation, image, (100, 100), 100, imaging.Limits(memory_mb=needed // MIB))
    assert message.startswith(f"GIF 200x200 needs about {needed // MIB} MB to decode")


# --- the deadline ---


def test_the_deadline_is_checked_against_the_monotonic_clock(monkeypatch):
    monkeypatch.setattr(limits.time, "monotonic", lambda: 1000.0)
    imaging.Limits(deadline=1000.0).check_time("encoding")  # not yet past
    imaging.Limits().check_time("encoding")  # no deadline
    with pytest.raises(imaging.OutOfTime) as raised:
        imaging.Limits(deadline=999.5).check_time("encoding")
    assert raised.value.reason == "timeout"
    assert raised.value.message == "ran out of time while encoding: raise the function timeout or send a smaller image"


def test_a_deadline_ahead_of_now_lets_work_go_on():
    imaging.Limits(deadline=time.monotonic() + 60).check_time("decoding")
