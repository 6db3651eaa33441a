"""Memory: the model refuses before decoding, and the fail-safe turns what it misses into TooLarge.

Fail-safe tests run in a child process: a data limit set in the test runner would constrain every test.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from handler import imaging
from handler.imaging import memory
from local.samples import encode

CHILD = textwrap.dedent(
    """
    import sys
    from handler import imaging
    from handler.renditions import RenditionSpec

    with open(sys.argv[2], "rb") as upload:
        data = upload.read()
    imaging.guard_memory(int(sys.argv[1]))
    try:
        # A budget this large switches the model off: only the fail-safe stands between us and the OOM.
        # A rendition as large as the picture: no pre-shrink, the whole 256 MB picture is decoded.
        full_size = RenditionSpec(width=8000, height=8000)
        imaging.render_all(data, [full_size], imaging.Limits(memory_mb=100_000))
    except imaging.TooLarge as error:
        print("TooLarge:", error)
    else:
        print("rendered")
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking test runner across exec.
    peak_kb = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
    print("peak_mb", int(peak_kb) // 1024)
    """
)


@pytest.fixture(scope="module")
def big_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A flat 8000x8000 RGBA PNG: small on disk, 256 MB once decoded."""
    path = tmp_path_factory.mktemp("guard") / "big.png"
    path.write_bytes(encode(Image.new("RGBA", (8000, 8000), (10, 20, 30, 40)), "PNG"))
    return path


def run_child(memory_mb: int, upload: Path) -> str:
    command = [sys.executable, "-c", CHILD, str(memory_mb), str(upload)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_guard_memory_turns_an_allocation_past_the_memory_size_into_too_large(big_png: Path) -> None:
    # GIVEN a process guarded at 200 MB and an image whose decoding needs more, the model switched off
    out = run_child(200, big_png)
    # THEN rendering ends in TooLarge with advice, in a process that is still alive and stayed under 200 MB
    assert "TooLarge:" in out and "raise memorySize" in out
    peak = int(out.rsplit("peak_mb", 1)[1])
    assert peak <= 200


def test_guard_memory_leaves_work_that_fits_alone(big_png: Path) -> None:
    # GIVEN the same image in a process guarded at a size it fits in
    out = run_child(2048, big_png)
    # THEN it renders
    assert "rendered" in out


def jpeg_header(width: int, height: int, sampling: list[int], *, progressive: bool, scans: int) -> bytes:
    """A JPEG that is only markers: SOF (0xC2 progressive, 0xC0 baseline) and `scans` empty SOS segments.

    Enough for Image.open and the memory model; any attempt to decode it would fail as corrupt.
    """
    components = b"".join(bytes((index + 1, factor, 0)) for index, factor in enumerate(sampling))
    sof = bytes((8,)) + struct.pack(">HHB", height, width, len(sampling)) + components
    marker = b"\xff\xc2" if progressive else b"\xff\xc0"
    segments = [b"\xff\xd8", marker + struct.pack(">H", len(sof) + 2) + sof]
    sos = bytes((1, 1, 0, 0, 63, 0))
    segments += [b"\xff\xda" + struct.pack(">H", len(sos) + 2) + sos + b"\x00" * 16 for _ in range(scans)]
    return b"".join(segments) + b"\xff\xd9"


@pytest.mark.parametrize(
    ("width", "height", "sampling"),
    [
        (9000, 8800, [0x11, 0x11, 0x11]),  # progressive 4:4:4: 475 MB of coefficients
        (9000, 6700, [0x11, 0x11, 0x11, 0x11]),  # progressive CMYK: 482 MB of coefficients
    ],
    ids=["progressive-444", "progressive-cmyk"],
)
def test_progressive_jpeg_whose_coefficients_do_not_fit_is_refused_before_decoding(width, height, sampling):
    # GIVEN a progressive JPEG header whose whole-image coefficient buffer alone nears 512 MB
    data = jpeg_header(width, height, sampling, progressive=True, scans=10)
    # THEN it is refused from its header (decoding would have failed as corrupt) with what to raise
    with pytest.raises(imaging.TooLarge, match="raise memorySize to at least"):
        imaging.render(data)


def test_baseline_jpeg_of_the_same_size_is_modelled_small():
    # GIVEN the same 79 MP 4:4:4 picture as a baseline (single-scan) JPEG
    image = Image.open(io.BytesIO(jpeg_header(9000, 8800, [0x11, 0x11, 0x11], progressive=False, scans=1)))
    # THEN the model sees no coefficient buffer: a 1/8-scale decode beside the runtime
    estimate = imaging.estimated_peak_bytes(image, (800, 600))
    assert estimate - memory.RUNTIME_OVERHEAD_BYTES < 64 * 2**20


def test_jpeg_scan_bomb_is_refused_before_decoding():
    # GIVEN a small JPEG with 500 scans (each scan re-reads every coefficient)
    data = jpeg_header(640, 480, [0x22, 0x11, 0x11], progressive=True, scans=500)
    # THEN it is refused for its scan count
    with pytest.raises(imaging.TooLarge, match="500 scans"):
        imaging.render(data)


def test_huge_icc_profile_is_refused_before_decoding():
    # GIVEN a JPEG carrying a 5 MB colour profile
    data = encode(Image.new("RGB", (64, 64)), "JPEG", icc_profile=b"\0" * (5 * 2**20))
    # THEN it is refused, not copied into every rendition
    with pytest.raises(imaging.TooLarge, match="ICC colour profile"):
        imaging.render(data)


def test_single_strip_tiff_counts_its_strip_buffer():
    # GIVEN a deflate TIFF stored as one strip, and the same picture in 64-row strips
    picture = Image.new("RGB", (3000, 2000), (1, 2, 3))
    one = Image.open(io.BytesIO(encode(picture, "TIFF", compression="tiff_adobe_deflate", tiffinfo={278: 2000})))
    many = Image.open(io.BytesIO(encode(picture, "TIFF", compression="tiff_adobe_deflate", tiffinfo={278: 64})))
    # THEN the single strip costs its decoded size (3 bytes a pixel, at least) more
    difference = imaging.estimated_peak_bytes(one, (800, 600)) - imaging.estimated_peak_bytes(many, (800, 600))
    assert difference >= 3000 * (2000 - 64) * 3


def test_webp_canvas_is_checked_before_libwebp_allocates_it():
    # GIVEN a WebP header declaring a 10000x7900 canvas (libwebp allocates the canvas while opening)
    vp8x = bytes((0x02, 0, 0, 0)) + (10000 - 1).to_bytes(3, "little") + (7900 - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    data = b"RIFF" + struct.pack("<I", len(body)) + body
    # THEN it is refused as too large from those 30 bytes, not as corrupt after a failed allocation
    with pytest.raises(imaging.TooLarge, match="WEBP 10000x7900 needs about"):
        imaging.render(data)
