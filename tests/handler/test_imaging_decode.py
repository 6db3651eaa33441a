"""Opening an upload: what is refused at the header, and the header facts read without decoding a pixel.

Every expectation comes from how the test built the file (its size, its markers, its chunks) or from what
Pillow/libwebp report when they decode it, never from the function under test.
"""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image, TiffImagePlugin

from handler import imaging
from handler.imaging import decode
from handler.imaging.heic import enable_heic
from local.samples import encode, photo
from tests.handler.test_imaging_limits import RecordingLimits, rle8_bmp
from tests.handler.test_imaging_memory import jpeg_header

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header(width: int, height: int, *chunks: bytes) -> bytes:
    """An 8-bit RGB PNG with `chunks` before an empty IDAT: enough to open, never to decode."""
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return PNG_SIGNATURE + ihdr + b"".join(chunks) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def refused(data: bytes) -> imaging.ImageRejected:
    with pytest.raises(imaging.ImageRejected) as raised:
        decode.open_image(data)
    return raised.value


# --- what is refused at the header ---


def test_an_empty_object_is_not_an_image():
    error = refused(b"")
    assert isinstance(error, imaging.NotAnImage) and error.message == "the object is empty (0 bytes)"


@pytest.fixture
def no_optional_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a fresh container before HEIC is first enabled."""
    monkeypatch.setattr(decode, "_EXTRA_FORMATS", [])


@pytest.mark.usefixtures("no_optional_formats")
def test_content_of_no_allowed_format_is_not_an_image_and_the_message_lists_the_formats():
    error = refused(encode(Image.new("RGB", (16, 16)), "ICO"))  # Pillow reads ICO; the pipeline does not
    assert isinstance(error, imaging.NotAnImage)
    assert error.message == "content is not a supported image (JPEG, PNG, GIF, BMP, TIFF, WEBP)"


def test_a_header_past_pillows_warning_size_opens_without_a_warning():
    # GIVEN a 90 MP header: over Pillow's bomb warning (89 MP), under its error (179 MP)
    data = png_header(10000, 9000)
    # WHEN it is opened with warnings turned into errors
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = decode.open_image(data)
    # THEN it opens quietly: the pipeline's own MAX_PIXELS decides next
    assert image.size == (10000, 9000)


def test_only_the_bomb_warning_is_silenced_other_header_warnings_still_reach_the_log():
    # GIVEN a TIFF whose description tag points past the end of the file (Pillow warns and skips it)
    directory = TiffImagePlugin.ImageFileDirectory_v2()
    tags = {256: 30, 257: 20, 258: (8, 8, 8), 259: 1, 262: 2, 273: (0,), 277: 3, 279: (1,), 270: "x" * 200}
    for tag, value in tags.items():
        directory[tag] = value
    data = (b"II*\x00" + struct.pack("<I", 8) + directory.tobytes(8))[:-150]
    # THEN it opens, and the warning is not swallowed
    with pytest.warns(UserWarning, match="Skipping tag 270"):
        assert decode.open_image(data).size == (30, 20)


def test_a_header_past_pillows_bomb_limit_is_too_large():
    error = refused(png_header(20000, 10000))
    assert isinstance(error, imaging.TooLarge) and "decompression bomb refused" in error.message


def test_metadata_too_large_to_inflate_is_too_large_not_corrupt():
    # GIVEN a PNG whose iCCP chunk inflates past Pillow's 1 MB limit per chunk
    profile = zlib.compress(b"\0" * (2 * 2**20))
    error = refused(png_header(16, 16, chunk(b"iCCP", b"icc\0\0" + profile)))
    # THEN it is too large, and the message says it is the metadata
    assert isinstance(error, imaging.TooLarge) and "metadata is too large to read" in error.message


def test_text_chunks_past_pillows_total_are_too_large_not_corrupt():
    # GIVEN a PNG with 65 compressed text chunks of 1 MB each: past Pillow's 64 MB for all text
    text = chunk(b"zTXt", b"k\0\0" + zlib.compress(b"a" * (2**20 - 64)))
    error = refused(png_header(16, 16, *[text] * 65))
    # THEN it is too large (Pillow says "too much memory"), not corrupt
    assert isinstance(error, imaging.TooLarge) and "Too much memory" in error.message


@pytest.mark.parametrize(
    "data",
    [
        png_header(16, 16, chunk(b"gAMA", b"\0\0")),  # Pillow: ValueError, truncated gAMA chunk
        b"\xff\xd8\xff\xe0\x00\x10JF",  # Pillow: OSError, truncated file read
    ],
    ids=["value-error", "os-error"],
)
def test_a_broken_header_is_corrupt(data):
    error = refused(data)
    assert isinstance(error, imaging.CorruptImage) and error.message.startswith("cannot read image header: ")


@pytest.mark.usefixtures("no_optional_formats")
def test_a_format_an_optional_plugin_registers_is_accepted_once_allowed():
    # GIVEN no optional formats yet, and an ICO upload (Pillow can read it)
    data = encode(Image.new("RGB", (16, 16)), "ICO")
    # WHEN ICO is allowed, twice over
    decode.allow_format("ICO")
    decode.allow_format("ICO")
    # THEN it opens, and is listed once among the formats a refusal names
    assert decode.open_image(data).format == "ICO"
    assert refused(b"not an image").message.endswith("(JPEG, PNG, GIF, BMP, TIFF, WEBP, ICO)")


# --- the deadline while decoding ---


def test_once_watched_every_read_of_the_upload_checks_the_deadline():
    # GIVEN a 1 MB PNG opened, then watched by limits that record each check
    data = encode(photo(900, 700), "PNG")
    image = decode.open_image(data)
    limits = RecordingLimits()
    decode.watch_time(image, limits)
    # WHEN it is decoded
    image.load()
    # THEN the deadline was checked at least once per 64 KB block the decoder read
    assert limits.stages.count("decoding") >= len(data) // 65536 >= 8
    assert set(limits.stages) == {"decoding"}


def test_a_watched_decode_past_the_deadline_stops_out_of_time():
    image = decode.open_image(encode(photo(300, 200), "PNG"))
    decode.watch_time(image, imaging.Limits(deadline=time.monotonic() - 1))
    with pytest.raises(imaging.OutOfTime, match="while decoding"):
        image.load()


def test_an_image_not_opened_from_an_upload_has_no_bytes_and_nothing_to_watch():
    image = Image.new("RGB", (4, 4))
    decode.watch_time(image, imaging.Limits(deadline=time.monotonic() - 1))
    assert decode.upload_bytes(image) == b""
    data = encode(image, "PNG")
    assert decode.upload_bytes(decode.open_image(data)) == data


# --- header facts ---


def test_rle_bmp_is_recognised_and_uncompressed_bmp_and_png_are_not():
    assert decode.is_bmp_rle(decode.open_image(rle8_bmp(16, 4)))
    assert not decode.is_bmp_rle(decode.open_image(encode(Image.new("L", (16, 4)), "BMP")))
    assert not decode.is_bmp_rle(decode.open_image(encode(Image.new("L", (16, 4)), "PNG")))


@pytest.mark.parametrize(("fmt", "turns"), [("TIFF", True), ("JPEG", False), ("PNG", False), ("WEBP", False)])
def test_only_tiff_and_heif_are_turned_by_their_decoder(fmt, turns):
    assert decode.orients_on_load(decode.open_image(encode(Image.new("RGB", (8, 4)), fmt))) is turns


def test_heif_is_turned_by_its_decoder():
    enable_heic()
    assert decode.orients_on_load(decode.open_image((Path(__file__).parent / "images" / "halves.heic").read_bytes()))


def exif_block(entry_type: int, count: int, value: bytes) -> bytes:
    """A big-endian EXIF block with one IFD entry for Orientation, of any type (Pillow writes only SHORT)."""
    entry = struct.pack(">HHI", 0x0112, entry_type, count) + value.ljust(4, b"\0")
    return b"MM\0*" + struct.pack(">IH", 8, 1) + entry + struct.pack(">I", 0)


def with_exif(fmt: str, block: bytes) -> bytes:
    return encode(Image.new("RGB", (8, 4)), fmt, exif=b"Exif\0\0" + block)


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (6, 6), (8, 8), (0, 1), (9, 1)])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_orientation_is_read_from_the_header_and_out_of_range_values_mean_upright(fmt, value, expected):
    image = decode.open_image(with_exif(fmt, exif_block(3, 1, struct.pack(">H", value))))
    assert decode.orientation(image) == expected


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_orientation_of_another_type_or_a_broken_block_means_upright(fmt):
    # GIVEN an orientation written as text "6", and EXIF that is not a TIFF structure at all
    as_text = decode.open_image(with_exif(fmt, exif_block(2, 2, b"6\0")))
    broken = decode.open_image(with_exif(fmt, b"MM\0*\0\0\0\x08\xff\xff"))
    # THEN neither turns the picture
    assert decode.orientation(as_text) == 1
    assert decode.orientation(broken) == 1


def test_png_exif_chunk_that_is_not_exif_means_upright():
    data = png_header(16, 16, chunk(b"eXIf", b"not a TIFF structure"))
    assert decode.orientation(decode.open_image(data)) == 1


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_no_exif_means_upright(fmt):
    assert decode.orientation(decode.open_image(encode(Image.new("RGB", (8, 4)), fmt))) == 1


def test_png_exif_after_the_pixels_is_found_without_decoding_and_after_iend_is_ignored():
    # GIVEN PNGs whose eXIf chunk (orientation 6) comes after IDAT, or after IEND where nothing belongs
    exif = chunk(b"eXIf", exif_block(3, 1, struct.pack(">H", 6)))
    plain = encode(photo(64, 32), "PNG")
    iend = plain.rindex(b"IEND") - 4
    after_pixels = plain[:iend] + exif + plain[iend:]
    after_end = plain + exif
    image = decode.open_image(after_pixels)
    # THEN the first is turned and its pixels are still undecoded; the second is upright
    assert decode.orientation(image) == 6
    assert image.tile
    assert decode.orientation(decode.open_image(after_end)) == 1


# --- WebP canvas ---


@pytest.mark.parametrize(
    ("picture", "params", "kind"),
    [
        (photo(301, 203), {}, b"VP8 "),
        (photo(301, 203), {"lossless": True}, b"VP8L"),
        (Image.new("RGBA", (1203, 5)), {}, b"VP8X"),
        (Image.new("RGB", (5, 1203)), {"lossless": True}, b"VP8L"),
    ],
)
def test_webp_canvas_is_the_size_libwebp_decodes(picture, params, kind):
    data = encode(picture, "WEBP", **params)
    assert data[12:16] == kind
    assert decode.webp_canvas(data) == Image.open(io.BytesIO(data)).size == picture.size


def test_lossy_webp_scale_bits_are_not_part_of_its_size():
    # GIVEN a lossy WebP whose frame header asks for upscaling (the top two bits of width and height)
    data = bytearray(encode(photo(301, 203), "WEBP"))
    data[27] |= 0xC0
    data[29] |= 0x40
    # THEN the canvas is still the size libwebp decodes
    assert decode.webp_canvas(bytes(data)) == Image.open(io.BytesIO(bytes(data))).size == (301, 203)


def vp8x_header(width: int, height: int) -> bytes:
    """The 30 bytes that declare an extended WebP's canvas."""
    vp8x = bytes(4) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_webp_canvas_needs_the_whole_header_of_a_webp():
    header = vp8x_header(640, 480)
    assert decode.webp_canvas(header) == (640, 480)
    assert decode.webp_canvas(header[:29]) is None
    assert decode.webp_canvas(header.replace(b"WEBP", b"WAVE")) is None
    assert decode.webp_canvas(b"RIFX" + header[4:]) is None
    assert decode.webp_canvas(header.replace(b"VP8X", b"ALPH")) is None
    assert decode.webp_canvas(encode(Image.new("RGB", (64, 64)), "PNG")) is None


# --- JPEG markers ---


@pytest.mark.parametrize(
    ("mode", "params", "progressive", "sampling"),
    [
        ("RGB", {}, False, ((2, 2), (1, 1), (1, 1))),
        ("RGB", {"subsampling": 1}, False, ((2, 1), (1, 1), (1, 1))),
        ("RGB", {"subsampling": 0, "progressive": True}, True, ((1, 1), (1, 1), (1, 1))),
        ("L", {"progressive": True}, True, ((1, 1),)),
        ("CMYK", {}, False, ((1, 1),) * 4),
    ],
    ids=["420", "422", "444-progressive", "grey-progressive", "cmyk"],
)
def test_jpeg_layout_reads_the_frame_header_and_counts_scans(mode, params, progressive, sampling):
    data = encode(Image.new(mode, (64, 48)), "JPEG", **params)
    layout = decode.jpeg_layout(data)
    assert (layout.progressive, layout.sampling) == (progressive, sampling)
    # a progressive file has several scans; a sequential one with every component in its scan has one
    assert layout.scans == (data.count(b"\xff\xda") if progressive else 1)
    assert (layout.scans > 1) is progressive


def test_jpeg_layout_counts_every_scan_of_a_sequential_file_with_separate_scans():
    data = jpeg_header(64, 48, [0x22, 0x11, 0x11], progressive=False, scans=3)
    assert decode.jpeg_layout(data) == decode.JpegLayout(False, 3, ((2, 2), (1, 1), (1, 1)))


def test_jpeg_layout_of_a_file_cut_before_its_first_scan_has_no_scans():
    data = encode(Image.new("RGB", (64, 48)), "JPEG", progressive=True)
    cut = data[: data.index(b"\xff\xda")]
    assert decode.jpeg_layout(cut) == decode.JpegLayout(True, 0, ((2, 2), (1, 1), (1, 1)))
    no_frame = data[: data.index(b"\xff\xc2")]
    assert decode.jpeg_layout(no_frame) == decode.JpegLayout(False, 0, ())


@pytest.mark.parametrize(
    "padding",
    [
        b"\xff",
        b"\xff\xff",
        b"\xff\x01",
        b"\xff\xd0\xff\xd7",
        b"\xff\xd8",
        b"\xff\xd9",
        b"\x00",
        b"\x00\x00\xff\xff\xff",
    ],
    ids=["fill", "two-fill", "tem", "restart-markers", "soi", "eoi", "garbage", "garbage-and-fill"],
)
def test_jpeg_layout_skips_fill_bytes_standalone_markers_and_garbage_between_segments(padding):
    # GIVEN a progressive JPEG with padding inserted before its frame header
    data = encode(Image.new("RGB", (64, 48)), "JPEG", progressive=True, subsampling=1)
    sof = data.index(b"\xff\xc2")
    padded = data[:sof] + padding + data[sof:]
    # THEN the walk reads the same frame and scans as without it
    assert decode.jpeg_layout(padded) == decode.JpegLayout(True, data.count(b"\xff\xda"), ((2, 1), (1, 1), (1, 1)))


def test_jpeg_layout_counts_only_the_scans_after_the_frame_header():
    # GIVEN a progressive JPEG whose comment holds the bytes of a scan marker
    data = encode(Image.new("RGB", (64, 48)), "JPEG", progressive=True, comment=b"\xff\xda\xff\xda")
    scans = data.count(b"\xff\xda") - 2
    # THEN the comment's are not counted
    assert scans > 1
    assert decode.jpeg_layout(data).scans == scans


def test_jpeg_layout_walks_past_the_longest_segments():
    # GIVEN a progressive JPEG whose comment segment is 65,534 bytes long (lengths are unsigned 16-bit)
    data = encode(Image.new("RGB", (64, 48)), "JPEG", progressive=True, comment=bytes(65_532))
    # THEN its frame and scans are still found
    assert decode.jpeg_layout(data) == decode.JpegLayout(True, data.count(b"\xff\xda"), ((2, 2), (1, 1), (1, 1)))


def test_jpeg_layout_stops_at_the_first_scan_of_a_single_scan_sequential_file():
    # GIVEN a baseline JPEG (its one scan holds every component) followed by five more copies of that scan
    data = encode(Image.new("RGB", (64, 48)), "JPEG")
    scan = data[data.index(b"\xff\xda") : data.rindex(b"\xff\xd9")]
    padded = data[: data.rindex(b"\xff\xd9")] + scan * 5 + b"\xff\xd9"
    # THEN it has one scan: libjpeg never decodes another in such a frame
    assert decode.jpeg_layout(padded).scans == 1


def test_jpeg_layout_never_fails_on_a_file_cut_anywhere_in_its_header():
    # GIVEN a progressive JPEG cut at every byte up to a little into its first scan
    data = encode(Image.new("RGB", (64, 48)), "JPEG", progressive=True)
    sof, sos = data.index(b"\xff\xc2"), data.index(b"\xff\xda")
    layouts = {cut: decode.jpeg_layout(data[:cut]) for cut in range(sos + 12)}
    # THEN each is walked without error; a cut frame header is not read, a whole one is
    assert layouts[sof + 9] == decode.JpegLayout(False, 0, ())
    assert layouts[sof + 10] == decode.JpegLayout(True, 0, ())
    assert layouts[sos + 4].scans == 1  # the scan marker and its length: one scan begun
    baseline = encode(Image.new("RGB", (64, 48)), "JPEG")
    first = baseline.index(b"\xff\xda")
    assert [decode.jpeg_layout(baseline[:cut]).scans for cut in (first + 4, first + 5)] == [1, 1]
