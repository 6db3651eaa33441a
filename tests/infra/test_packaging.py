"""The real Lambda archive: handler plus a Pillow built for the Lambda platform, byte-identical rebuilds."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import PIL
import pytest

from components import packaging

ELF_MACHINE = {"x86_64": 62, "arm64": 183}


def elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF"
    return int(struct.unpack_from("<H", data, 18)[0])


@pytest.mark.parametrize(
    ("runtime", "architecture"), [("python3.13", "x86_64"), ("python3.13", "arm64"), ("python3.11", "x86_64")]
)
def test_archive_holds_the_handler_and_pillow_for_the_platform(runtime, architecture):
    path = packaging.build_archive(runtime, architecture)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert "handler/app.py" in names and "handler/imaging.py" in names
        assert not any("__pycache__" in name or name.startswith(("boto3/", "botocore/")) for name in names)
        version = packaging.pillow_version(runtime)
        wheel_tags = archive.read(f"pillow-{version}.dist-info/WHEEL").decode()
        python_tag = "cp" + runtime.removeprefix("python").replace(".", "")
        assert f"Tag: {python_tag}-{python_tag}-" in wheel_tags
        (imaging,) = [name for name in names if name.startswith("PIL/_imaging.cpython-")]
        assert python_tag.removeprefix("cp") in imaging
        assert elf_machine(archive.read(imaging)) == ELF_MACHINE[architecture]


def test_default_runtime_deploys_the_pillow_the_tests_run_against():
    assert packaging.pillow_version("python3.13") == PIL.__version__ == packaging.locked_pillow_version()
    assert packaging.pillow_version("python3.11") == "12.2.0"


def test_two_builds_are_byte_identical(tmp_path: Path):
    first = packaging.build_archive("python3.13", "arm64")
    second = packaging.build_archive("python3.13", "arm64", cache_dir=tmp_path)
    assert first.name == second.name
    assert first.read_bytes() == second.read_bytes()


def test_archive_entries_have_fixed_times_and_permissions():
    with zipfile.ZipFile(packaging.build_archive("python3.13", "x86_64")) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    assert {info.date_time for info in infos} == {packaging.ZIP_EPOCH}
    assert {info.external_attr >> 16 for info in infos} == {0o644}


def test_unknown_runtime_or_architecture_is_refused():
    with pytest.raises(ValueError, match="runtime"):
        packaging.pillow_wheel("python2.7", "x86_64")
    with pytest.raises(ValueError, match="architecture"):
        packaging.pillow_wheel("python3.13", "mips")


def test_a_tampered_wheel_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    wheel = packaging.pillow_wheel("python3.13", "x86_64")
    bad = packaging.Wheel(wheel.filename, wheel.url, "0" * 64)
    monkeypatch.setattr(packaging, "pillow_wheel", lambda runtime, architecture: bad)
    with pytest.raises(ValueError, match="SHA-256"):
        packaging.build_archive("python3.13", "x86_64", cache_dir=tmp_path)


def test_a_changed_handler_gives_a_new_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    original = packaging.build_archive("python3.13", "x86_64", cache_dir=tmp_path)
    files = packaging._handler_files()
    monkeypatch.setattr(packaging, "_handler_files", lambda: [*files, ("handler/extra.py", b"X = 1\n")])
    changed = packaging.build_archive("python3.13", "x86_64", cache_dir=tmp_path)
    assert changed != original
    with zipfile.ZipFile(changed) as archive:
        assert archive.read("handler/extra.py") == b"X = 1\n"


def test_the_python311_archive_runs_the_handler_on_its_own_pillow(tmp_path: Path):
    # GIVEN the python3.11 x86_64 archive unpacked (its Pillow is 12.2.0, the Amazon Linux 2 build)
    with zipfile.ZipFile(packaging.build_archive("python3.11", "x86_64")) as archive:
        archive.extractall(tmp_path)
    script = """
import io, json, PIL
from PIL import Image
from handler import imaging
from handler.renditions import parse_renditions
assert PIL.__file__.startswith(TARGET), PIL.__file__
specs = parse_renditions(json.dumps([
    {"name": "a", "width": 200, "height": 200, "fit": "cover", "format": "webp"},
    {"name": "b", "width": 120, "height": 90, "fit": "contain", "watermark": {"text": "hi"}},
]))
out = {}
for fmt, mode in (("JPEG", "RGB"), ("PNG", "RGBA"), ("GIF", "P"), ("TIFF", "CMYK"), ("WEBP", "RGB"), ("BMP", "L")):
    buffer = io.BytesIO()
    Image.new(mode, (640, 480)).save(buffer, fmt)
    out[fmt] = [r.size for r in imaging.render_all(buffer.getvalue(), specs)]
print(json.dumps({"pillow": PIL.__version__, "sizes": out}))
"""
    # WHEN the handler renders every format with it, in a Python that sees only the archive's packages first
    result = subprocess.run(
        [sys.executable, "-c", f"TARGET = {str(tmp_path)!r}\n{script}"],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    # THEN it works with Pillow 12.2.0
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["pillow"] == "12.2.0"
    assert all(sizes == [[200, 200], [120, 90]] for sizes in report["sizes"].values())
