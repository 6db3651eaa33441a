"""The memory model, path by path: each estimate is worked out here from the header, as docs/engine.md states it.

GIVEN an upload's header (most are header-only files: the model never needs pixels), WHEN the peak is
estimated, THEN it is the runtime + the upload + the decoder's buffers + the decoded picture + the pipeline's
copies, each computed below by hand from the width, height, mode and layout the header declares.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, TiffImagePlugin

from handler.imaging import decode, memory, tiff_strips
from handler.imaging.heic import enable_heic
from local.samples import encode
from tests.handler.test_imaging_limits import rle8_bmp
from tests.handler.test_imaging_memory import jpeg_header

MIB = 2**20
BASE = memory.RUNTIME_OVERHEAD_BYTES  # Python, Pillow and boto3 before decoding (tuned, not derived)
COPIES = memory.BASE_COPIES  # copies of the shrunk base held by the alpha/palette steps (tuned)
PHOTO_HEIC = Path(__file__).parent / "images" / "photo-1024x768.heic"


def peak(data: bytes, target: tuple[int, int] = (800, 600)) -> int:
    return memory.estimated_peak_bytes(decode.open_image(data), target)


def tiff_header(width: int, height: int, tags: dict[int, object]) -> bytes:
    """A little-endian TIFF that is only its directory (8-bit RGB, uncompressed, one empty strip; None drops a tag)."""
    directory = TiffImagePlugin.ImageFileDirectory_v2()
    layout = {256: width, 257: height, 258: (8, 8, 8), 259: 1, 262: 2, 273: (0,), 277: 3, 279: (1,), **tags}
    for tag, value in layout.items():
        if value is not None:
            directory[tag] = value
    return b"II*\x00" + struct.pack("<I", 8) + directory.tobytes(8)


# --- JPEG: DCT-scaled decode, then either a few MCU rows or the whole coefficient buffer ---


def test_baseline_jpeg_decoded_at_a_quarter_costs_its_quarter_picture_twice_and_mcu_rows():
    # GIVEN a 4000x3000 4:2:0 baseline JPEG and an 800x600 rendition: decoded at 1/4 (1000x750 covers 1.25x)
    data = jpeg_header(4000, 3000, [0x22, 0x11, 0x11], progressive=False, scans=1)
    # THEN: the 1000x750 picture as RGBX, one copy of it (no pre-shrink below 2x), 64 B per column of MCU rows
    assert peak(data) == BASE + len(data) + 1000 * 750 * 4 + 1000 * 750 * 4 + 64 * 4000


def test_baseline_jpeg_at_an_eighth_is_pre_shrunk_in_strips():
    # GIVEN a 4001x3001 baseline JPEG and a 100x75 rendition: 1/8 scale (501x376), then shrunk by 2
    data = jpeg_header(4001, 3001, [0x22, 0x11, 0x11], progressive=False, scans=1)
    # THEN: the decoded picture, 512-row strips three times over (strip, widened, premultiplied), the 251x188 base
    strips = 2 * (memory.STRIP_ROWS // 2) * 501 * 4 * 3
    assert peak(data, (100, 75)) == BASE + len(data) + 501 * 376 * 4 + 64 * 4001 + strips + 251 * 188 * 4


def test_a_thumbnail_shrink_beyond_the_strip_height_takes_one_factor_of_rows_per_strip():
    # GIVEN a 16-bit PNG shrunk by 550 (a 2x2 rendition of 2200x2200): more than the strip height
    data = encode(Image.new("I;16", (2200, 2200)), "PNG")
    # THEN each strip is exactly one factor of rows, seven copies at 4 B/px and two as inflated (8 B/px at most);
    # the picture itself never exists, the 4x4 base is held 4 times
    strips = 550 * 2200 * (4 * 7 + 8 * 2)
    assert peak(data, (2, 2)) == BASE + len(data) + strips + 4 * 4 * 4 * COPIES


def sampled(size: tuple[int, int], factors: tuple[int, int], maxima: tuple[int, int]) -> int:
    """Coefficient bytes of one component: its 8x8 blocks, padded to whole MCUs, 64 samples of 2 bytes."""
    (h, v), (h_max, v_max) = factors, maxima
    blocks_wide = math.ceil(math.ceil(size[0] * h / h_max) / 8)
    blocks_high = math.ceil(math.ceil(size[1] * v / v_max) / 8)
    return math.ceil(blocks_wide / h) * h * math.ceil(blocks_high / v) * v * 128


@pytest.mark.parametrize(
    ("sampling", "coefficients"),
    [
        # 4:2:0: Y is 125x95 blocks, padded to 126x96; Cb and Cr 63x48 each
        ([0x22, 0x11, 0x11], 126 * 96 * 128 + 2 * 63 * 48 * 128),
        # 4:2:2: Y 125x95 padded to 126x95; Cb and Cr 63x95
        ([0x21, 0x11, 0x11], 126 * 95 * 128 + 2 * 63 * 95 * 128),
        # 4:4:0: Y 125x95 padded to 125x96; Cb and Cr 125x48
        ([0x12, 0x11, 0x11], 125 * 96 * 128 + 2 * 125 * 48 * 128),
    ],
    ids=["420", "422", "440"],
)
def test_progressive_jpeg_holds_every_coefficient_at_full_size(sampling, coefficients):
    # GIVEN a 1000x760 progressive JPEG (decoded at full scale for an 800x600 rendition)
    data = jpeg_header(1000, 760, sampling, progressive=True, scans=10)
    # THEN the model adds the whole-image coefficient buffer to the picture and its copy
    assert peak(data) == BASE + len(data) + 1000 * 760 * 4 * 2 + coefficients
    # AND the hand count agrees with the per-component rule
    h_max, v_max = max(s >> 4 for s in sampling), max(s & 15 for s in sampling)
    assert coefficients == sum(sampled((1000, 760), (s >> 4, s & 15), (h_max, v_max)) for s in sampling)


def test_sequential_jpeg_with_separate_scans_holds_its_coefficients_too():
    # GIVEN a sequential JPEG whose components come in two separate scans
    data = jpeg_header(1000, 760, [0x22, 0x11, 0x11], progressive=False, scans=2)
    # THEN it costs the same coefficient buffer as the progressive one
    assert peak(data) == BASE + len(data) + 1000 * 760 * 4 * 2 + 126 * 96 * 128 + 2 * 63 * 48 * 128


@pytest.mark.parametrize(
    ("components", "mode_bytes", "copies"),
    [([0x11], 1, 1), ([0x11, 0x11, 0x11, 0x11], 4, COPIES)],
    ids=["grey", "cmyk"],
)
def test_grey_and_cmyk_jpeg_cost_their_own_storage(components, mode_bytes, copies):
    # GIVEN a 1000x750 baseline JPEG of one or four components
    data = jpeg_header(1000, 750, components, progressive=False, scans=1)
    # THEN grey is 1 B/px with one copy; CMYK 4 B/px with a copy per conversion step
    assert peak(data) == BASE + len(data) + 1000 * 750 * mode_bytes + 1000 * 750 * 4 * copies + 64 * 1000


@pytest.mark.parametrize(
    ("size", "scale"),
    [
        ((4000, 3000), 4),  # 1/8 would leave less than twice the target
        ((12800, 9600), 8),  # exactly twice the target at 1/8
        ((12799, 9600), 4),
        ((16000, 9000), 4),  # the short side decides the DC-only margin
        ((2000, 1500), 2),  # exactly 1.25x at 1/2
        ((1999, 1500), 1),
        ((3999, 3000), 2),  # 3.2x: 1/4 would lose the margin
        ((16000, 1500), 2),  # the short side decides the margin
        ((4001, 9000), 4),  # the width decides, and does not divide by the scale
        ((9000, 3001), 4),  # the height decides, and does not divide by the scale
    ],
)
def test_jpeg_scale_keeps_a_margin_over_the_target_and_pillow_draft_agrees(size, scale):
    # GIVEN a JPEG header of `size` and an 800x600 rendition
    image = decode.open_image(jpeg_header(*size, [0x11, 0x11, 0x11], progressive=False, scans=1))
    # WHEN the decode scale is chosen THEN it is the largest keeping 1.25x the target (2x at 1/8)
    assert memory.jpeg_scale(size, (800, 600)) == scale
    # AND the model's decoded size is what Pillow's draft really sets up for the box it is handed
    expected = (-(-size[0] // scale), -(-size[1] // scale))
    assert memory.decoded_size(image, (800, 600)) == expected
    image.draft(None, memory.draft_request(size, (800, 600)))
    assert image.size == expected


def test_draft_box_is_a_quarter_over_the_target_rounded_up():
    assert memory.draft_box((801, 599)) == (1002, 749)


# --- PNG, BMP, GIF, TIFF, HEIF, WebP ---


@pytest.mark.parametrize(
    ("mode", "stored", "copies"),
    [("1", 1, COPIES), ("L", 1, 1), ("P", 1, COPIES), ("I;16", 2, COPIES), ("RGB", 4, 1), ("RGBA", 4, COPIES)],
)
def test_png_without_a_shrink_costs_its_picture_its_copies_and_a_few_rows(mode, stored, copies):
    # GIVEN a 1000x750 PNG of `mode` and an 800x600 rendition (less than 2x: no pre-shrink)
    data = encode(Image.new(mode, (1000, 750)), "PNG")
    # THEN: the picture at Pillow's storage for the mode, whole 4 B/px copies, 8 rows of 4 B/px for the decoder
    assert peak(data) == BASE + len(data) + 1000 * 750 * stored + 1000 * 750 * 4 * copies + 4 * 1000 * 8


def test_big_endian_sixteen_bit_tiff_is_two_bytes_a_pixel():
    # GIVEN a 300x200 16-bit big-endian grey TIFF (one strip)
    data = encode(Image.new("I;16B", (300, 200)), "TIFF")
    # THEN the picture is 2 B/px; libtiff's strip is the whole picture at 4 B/px (its RGBA interface)
    assert peak(data) == BASE + len(data) + 300 * 200 * 2 + 300 * 200 * 4 + 300 * 200 * 4 * COPIES


@pytest.mark.parametrize(("mode", "copies"), [("RGB", 1), ("RGBA", COPIES)])
def test_eight_bit_png_being_shrunk_costs_seven_strips_and_the_base(mode, copies):
    # GIVEN a 1000x750 8-bit PNG and a 100x75 rendition: shrunk by 5 in strips of 60 rows
    data = encode(Image.new(mode, (1000, 750)), "PNG")
    # THEN: 60-row strips (seven at 4 B/px, two as inflated, 8 B/px at most) and the 200x150 base, never the picture
    assert peak(data, (100, 75)) == BASE + len(data) + 60 * 1000 * (4 * 7 + 8 * 2) + 200 * 150 * 4 * copies


@pytest.mark.parametrize(
    ("fmt", "size", "target", "rows", "base"),
    [
        ("PNG", (1000, 750), (250, 187), 64, 500 * 375),  # shrunk by exactly 2: 64-row strips
        ("PNG", (2200, 2200), (2, 2), 550, 4 * 4),  # shrunk by 550: strips of one factor of rows
        ("BMP", (1000, 750), (250, 187), 64, 500 * 375),
        ("BMP", (2200, 2200), (2, 2), 550, 4 * 4),
    ],
    ids=["png-by-2", "png-by-550", "bmp-by-2", "bmp-by-550"],
)
def test_strip_paths_from_a_shrink_of_two_to_one_beyond_the_strip_height(fmt, size, target, rows, base):
    # GIVEN a grey PNG or BMP shrunk by 2 (the least that takes the strip path) or by more than a strip's rows
    data = encode(Image.new("L", size), fmt)
    row_bytes = {"PNG": 4 * 7 + 8 * 2, "BMP": 4 * 4}[fmt]
    # THEN its strips (PNG: 7 copies at 4 B/px and 2 as inflated; BMP: 4 at 4 B/px) and the shrunk base are
    # counted, not the picture
    assert peak(data, target) == BASE + len(data) + rows * size[0] * row_bytes + base * 4


def test_stripped_tiff_shrunk_by_two_takes_the_group_path():
    data = encode(Image.new("RGB", (1000, 750)), "TIFF", compression="tiff_adobe_deflate", tiffinfo={278: 16})
    # 16-row strips, shrink 2: groups of 64 rows, eight copies at 4 B/px (inflated, stored again, the pieces, the
    # small TIFF, decoded, widened, premultiplied)
    assert peak(data, (250, 187)) == BASE + len(data) + 64 * 1000 * 4 * 8 + 500 * 375 * 4


def interlaced(png: bytes) -> bytes:
    """`png` with its header saying Adam7 (Pillow cannot write interlaced PNGs; the pixels are not read here)."""
    ihdr = bytearray(png[12:29])
    ihdr[-1] = 1
    return png[:8] + png[8:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


def test_interlaced_png_is_decoded_whole_even_when_shrunk():
    # GIVEN the same picture as an interlaced PNG (no strip path)
    data = interlaced(encode(Image.new("RGB", (1000, 750)), "PNG"))
    assert decode.open_image(data).info.get("interlace") == 1
    # THEN the picture and the pipeline's 510-row strips (102 factors of 5) are counted
    strips = 5 * (memory.STRIP_ROWS // 5) * 1000 * 4 * 3
    assert peak(data, (100, 75)) == BASE + len(data) + 1000 * 750 * 4 + 4 * 1000 * 8 + strips + 200 * 150 * 4


def test_stripped_tiff_being_shrunk_costs_six_groups_and_the_base():
    # GIVEN a 1000x750 deflate TIFF in 16-row strips and a 100x75 rendition: groups of whole strips
    data = encode(Image.new("RGB", (1000, 750)), "TIFF", compression="tiff_adobe_deflate", tiffinfo={278: 16})
    rows = tiff_strips.group_rows(decode.open_image(data), 5)
    assert rows > 0
    # THEN: eight copies at 4 B/px of a group (held whole: strips of 16 rows are cut at whole factors) and the
    # 200x150 base, never the picture
    held = tiff_strips.held_rows(decode.open_image(data), rows)
    assert peak(data, (100, 75)) == BASE + len(data) + max(rows, held) * 1000 * 4 * 8 + 200 * 150 * 4


@pytest.mark.parametrize(
    ("tags", "buffer"),
    [
        ({258: (16, 16, 16), 277: 3, 278: 50}, 300 * 6 * 50),  # 48-bit RGB strips of 50 rows
        ({258: (16,), 277: 3, 278: 50}, 300 * 6 * 50),  # bits given once for all samples
        ({258: (16, 16, 16), 277: 3}, 300 * 6 * 200),  # no RowsPerStrip: one strip
        ({258: (16, 16, 16), 277: 3, 278: 2**32 - 1}, 300 * 6 * 200),  # "all rows in one strip"
        ({258: (8, 8, 8), 277: 3, 278: 50}, 300 * 50 * 4),  # 3 B/px raw: libtiff's RGBA strip is larger
        ({258: (16, 16, 16), 277: 3, 273: None, 279: None, 322: 64, 323: 32, 324: (0,), 325: (1,)}, 64 * 6 * 32),
    ],
    ids=["strips", "bits-once", "one-strip", "rows-unlimited", "rgba-floor", "tiled"],
)
def test_tiff_decoder_holds_one_strip_or_tile(tags, buffer):
    # GIVEN a 300x200 RGB TIFF directory and an 800x600 rendition (no pre-shrink)
    data = tiff_header(300, 200, tags)
    # THEN the decoder's part is one strip or tile: raw bytes, or 4 B/px when that is more
    assert peak(data) == BASE + len(data) + 300 * 200 * 4 * 2 + buffer


def test_bilevel_tiff_without_depth_tags_is_one_bit_of_one_sample():
    # GIVEN a 300x200 bilevel TIFF without BitsPerSample and SamplesPerPixel (TIFF's defaults: 1 and 1)
    data = tiff_header(300, 200, {258: None, 262: 1, 277: None, 278: 50})
    # THEN: the picture at 1 B/px, four 4 B/px copies, and a 50-row strip at libtiff's 4 B/px
    assert peak(data) == BASE + len(data) + 300 * 200 + 300 * 200 * 4 * COPIES + 300 * 50 * 4


@pytest.mark.parametrize("turn", [2, 6])
def test_tiff_with_an_orientation_counts_the_turned_copy(turn):
    # GIVEN a 300x200 grey TIFF in one strip, then the same mirrored (2) or turned (6): Pillow turns it on load
    plain = encode(Image.new("L", (300, 200)), "TIFF")
    turned = encode(Image.new("L", (300, 200)), "TIFF", tiffinfo={0x0112: turn})
    # THEN the orientation adds one more decoded copy of the picture, at 1 B/px
    assert peak(turned) - len(turned) == peak(plain) - len(plain) + 300 * 200


def test_rle_bmp_costs_twice_its_pixels_in_the_python_decoder():
    # GIVEN a 64x16 8-bit RLE BMP (a grey palette: opened as L, 1 B/px) and an 800x600 rendition
    data = rle8_bmp(64, 16)
    # THEN: the picture, one 4 B/px copy, and Pillow's bytearray and its copy (2 B/px)
    assert peak(data) == BASE + len(data) + 64 * 16 + 64 * 16 * 4 + 2 * 64 * 16


def test_uncompressed_bmp_being_shrunk_costs_four_strips_and_the_base():
    # GIVEN a 1000x750 grey BMP and a 100x75 rendition: shrunk by 5 in 60-row strips from slices of the upload
    data = encode(Image.new("L", (1000, 750)), "BMP")
    # THEN: four 60-row strips at 4 B/px and the 200x150 base
    assert peak(data, (100, 75)) == BASE + len(data) + 60 * 1000 * 4 * 4 + 200 * 150 * 4


def test_uncompressed_bmp_without_a_shrink_is_decoded_whole():
    data = encode(Image.new("L", (1000, 750)), "BMP")
    assert peak(data) == BASE + len(data) + 1000 * 750 + 1000 * 750 * 4 + 4 * 1000 * 8


def test_gif_keeps_the_previous_frame_beside_the_picture():
    # GIVEN a 200x100 palette GIF
    data = encode(Image.new("P", (200, 100)), "GIF")
    # THEN: the frame, the frame kept for disposal, and four 4 B/px copies
    assert peak(data) == BASE + len(data) + 200 * 100 * 2 + 200 * 100 * 4 * COPIES


@pytest.mark.parametrize(("bit_depth", "planes"), [(8, 6), (None, 6), (9, 12), (12, 12)])
def test_heif_counts_libheif_planes_double_when_deep(bit_depth, planes):
    # GIVEN the 1024x768 8-bit HEIC photo, and the same header reporting no depth, 9 or 12 bits
    enable_heic()
    data = PHOTO_HEIC.read_bytes()
    image = decode.open_image(data)
    image.info["bit_depth"] = bit_depth
    if bit_depth is None:
        del image.info["bit_depth"]
    # THEN libheif's planes are 6 B/px, twice that above 8 bits, beside the RGB picture and its copy
    expected = BASE + len(data) + 1024 * 768 * 4 * 2 + 1024 * 768 * planes
    assert memory.estimated_peak_bytes(image, (800, 600)) == expected


def test_animated_webp_costs_its_canvas_four_times_over():
    # GIVEN a 300x200 animated WebP (stills are decoded by libwebp at their reduced size: test_imaging_webp)
    frames = [Image.new("RGB", (300, 200), colour) for colour in ("red", "blue")]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:])
    # THEN: libwebp's canvas, previous canvas and two copies, 4 B/px each
    assert peak(data) == BASE + len(data) + 300 * 200 * 16


def test_animation_costs_the_source_frames_and_every_output_frame_twice():
    # GIVEN a 200x100 GIF and a 7-frame animated rendition of 50x25
    data = encode(Image.new("P", (200, 100)), "GIF")
    image = decode.open_image(data)
    # THEN: 20 B/px of source (frame, disposal copies, RGBA, turned) and each RGBA output frame with its copy
    expected = BASE + len(data) + 200 * 100 * 20 + 7 * 50 * 25 * 4 * 2
    assert memory.animation_peak_bytes(image, (50, 25), 7) == expected


# --- the fail-safe ---


class RecordedLimit:
    def __init__(self, hard: int) -> None:
        self.hard = hard
        self.set: list[tuple[int, int]] = []

    def getrlimit(self, kind: int) -> tuple[int, int]:
        assert kind == memory.resource.RLIMIT_DATA
        return (self.hard, self.hard)

    def setrlimit(self, kind: int, limits: tuple[int, int]) -> None:
        assert kind == memory.resource.RLIMIT_DATA
        self.set.append(limits)


@pytest.fixture
def rlimit(monkeypatch: pytest.MonkeyPatch) -> RecordedLimit:
    """RLIMIT_DATA recorded, never set on the test runner; this process at 300 MB of data and 150 MB resident."""
    recorded = RecordedLimit(memory.resource.RLIM_INFINITY)
    monkeypatch.setattr(memory.resource, "getrlimit", recorded.getrlimit)
    monkeypatch.setattr(memory.resource, "setrlimit", recorded.setrlimit)
    monkeypatch.setattr(memory, "_proc_status", lambda: {"VmData": 300 * MIB, "VmRSS": 150 * MIB})
    return recorded


def test_guard_lets_private_memory_grow_by_what_is_left_of_the_memory_size(rlimit):
    # GIVEN 512 MB, 150 MB resident and the 32 MB margin for file-backed pages
    memory.guard_memory(512)
    # THEN data may grow by 512 - 150 - 32 = 330 MB over the 300 MB mapped now; the hard limit is kept
    assert rlimit.set == [(630 * MIB, memory.resource.RLIM_INFINITY)]


def test_guard_with_nothing_left_freezes_private_memory_where_it_is(rlimit):
    memory.guard_memory(128)  # 128 - 150 - 32 < 0
    assert rlimit.set == [(300 * MIB, memory.resource.RLIM_INFINITY)]


def test_guard_never_sets_a_limit_below_the_hard_one_it_may_not_raise(rlimit):
    rlimit.hard = 400 * MIB
    memory.guard_memory(512)
    assert rlimit.set == [(400 * MIB, 400 * MIB)]


def test_guard_keeps_at_least_one_megabyte(rlimit, monkeypatch):
    monkeypatch.setattr(memory, "_proc_status", lambda: {"VmData": 0, "VmRSS": 600 * MIB})
    memory.guard_memory(512)
    assert rlimit.set == [(MIB, memory.resource.RLIM_INFINITY)]


def test_guard_without_proc_changes_nothing(rlimit, monkeypatch):
    monkeypatch.setattr(memory, "_proc_status", dict)
    memory.guard_memory(512)
    assert rlimit.set == []


class FakeStatus:
    def __init__(self, text: str) -> None:
        self.text = text

    def __enter__(self) -> FakeStatus:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self) -> str:
        return self.text


def test_proc_status_reads_data_and_resident_kilobytes_as_bytes(monkeypatch):
    # GIVEN a /proc/self/status with its usual lines (values in kB)
    text = "Name:\tpython\nVmPeak:\t  999 kB\nVmData:\t   2048 kB\nVmStk:\t 132 kB\nVmRSS:\t  1536 kB\n"
    monkeypatch.setattr(memory, "open", lambda path, encoding: FakeStatus(text), raising=False)
    # THEN VmData and VmRSS come back in bytes, and nothing else
    assert memory._proc_status() == {"VmData": 2 * MIB, "VmRSS": 1536 * 1024}


def test_proc_status_is_empty_where_there_is_no_proc(monkeypatch):
    def missing(path: str, encoding: str) -> FakeStatus:
        raise FileNotFoundError(path)

    monkeypatch.setattr(memory, "open", missing, raising=False)
    assert memory._proc_status() == {}


def test_proc_status_of_this_process_is_plausible():
    status = memory._proc_status()
    assert set(status) == {"VmData", "VmRSS"}
    assert status["VmRSS"] > 10 * MIB and status["VmRSS"] % 1024 == 0
