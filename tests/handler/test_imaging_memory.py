"""Memory: the model refuses before decoding, and the fail-safe turns what it misses into TooLarge.

Fail-safe tests run in a child process: a data limit set in the test runner would constrain every test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from local.samples import encode

CHILD = textwrap.dedent(
    """
    import sys
    from handler import imaging

    with open(sys.argv[2], "rb") as upload:
        data = upload.read()
    imaging.guard_memory(int(sys.argv[1]))
    try:
        # A budget this large switches the model off: only the fail-safe stands between us and the OOM.
        imaging.render_all(data, [imaging.DEFAULT], imaging.Limits(memory_mb=100_000))
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
    out = run_child(1024, big_png)
    # THEN it renders
    assert "rendered" in out
