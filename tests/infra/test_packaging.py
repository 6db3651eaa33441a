"""The Lambda archive: handler plus Pillow, pi-heif and zlib-ng for the platform, bytecode where it can load.

Tests marked `network` build the real archives from PyPI wheels (make test-packaging); the others are
hermetic and run in make test.
"""

from __future__ import annotations

import importlib.util
import io
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
# The compiled core of each shipped package (pi-heif's sits at the top level).
EXTENSIONS = ("PIL/_imaging.", "_pi_heif.", "zlib_ng/zlib_ng.")
PYC_UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked


def elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF"
    return int(struct.unpack_from("<H", data, 18)[0])


# -------------------------------------------------------------------------------------- hermetic


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_python313_gets_every_locked_wheel(architecture):
    # GIVEN python3.13 (Amazon Linux 2023, glibc 2.34)
    # WHEN the archive's wheels are chosen
    chosen = packaging.wheels("python3.13", architecture)
    # THEN they are exactly the uv.lock versions, CPython 3.13 builds for the architecture
    assert [wheel.package for wheel in chosen] == ["pillow", "pi-heif", "zlib-ng"]
    assert [wheel.version for wheel in chosen] == ["13.0.0", "1.4.0", "1.1.0"]
    platform = {"x86_64": "x86_64", "arm64": "aarch64"}[architecture]
    assert all("-cp313-cp313-" in wheel.filename and wheel.filename.endswith(f"{platform}.whl") for wheel in chosen)


def test_python311_gets_the_last_wheels_amazon_linux_2_can_load():
    # GIVEN python3.11 on x86_64: Amazon Linux 2 has glibc 2.26, the locked Pillow and pi-heif need 2.27
    # WHEN the archive's wheels are chosen
    chosen = {wheel.package: wheel for wheel in packaging.wheels("python3.11", "x86_64")}
    # THEN Pillow and pi-heif are the pinned manylinux2014 releases; zlib-ng is the locked one (it has such wheels)
    assert {name: wheel.version for name, wheel in chosen.items()} == {
        "pillow": "12.2.0",
        "pi-heif": "1.0.0",
        "zlib-ng": "1.1.0",
    }
    assert all("manylinux2014_x86_64" in wheel.filename for wheel in chosen.values())


@pytest.mark.parametrize(
    ("filename", "runtime", "architecture", "loads"),
    [
        ("p-1-cp311-cp311-manylinux_2_26_aarch64.whl", "python3.11", "arm64", True),
        ("p-1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", "python3.11", "x86_64", False),
        ("p-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "python3.11", "arm64", False),
        ("p-1-cp312-cp312-manylinux2014_x86_64.whl", "python3.11", "x86_64", False),
        ("p-1-cp313-cp313-manylinux_2_34_x86_64.whl", "python3.13", "x86_64", True),
        ("p-1-cp313-cp313-manylinux_2_35_x86_64.whl", "python3.13", "x86_64", False),
        ("p-1-cp313-cp313-musllinux_1_2_x86_64.whl", "python3.13", "x86_64", False),
    ],
)
def test_a_wheel_runs_where_python_glibc_and_architecture_match(filename, runtime, architecture, loads):
    wheel = packaging.Wheel(filename, "https://example.invalid/" + filename, "0" * 64)
    assert wheel.runs_on(runtime, architecture) is loads


def test_default_runtime_deploys_the_pillow_the_tests_run_against():
    assert packaging.pillow_version("python3.13") == PIL.__version__ == packaging.locked_pillow_version()
    assert packaging.pillow_version("python3.11") == packaging.AMAZON_LINUX_2_PILLOW == "12.2.0"


def test_unknown_runtime_or_architecture_is_refused():
    with pytest.raises(ValueError, match="runtime"):
        packaging.wheels("python2.7", "x86_64")
    with pytest.raises(ValueError, match="architecture"):
        packaging.wheels("python3.13", "mips")


def test_preview_warnings_name_the_older_wheels_and_the_missing_bytecode():
    # GIVEN this build machine (CPython 3.11)
    # WHEN each runtime's warnings are asked for
    python311, python313 = packaging.runtime_warnings("python3.11"), packaging.runtime_warnings("python3.13")
    # THEN python3.11 names its older Pillow and pi-heif, python3.13 that it ships source only
    assert any("pillow 12.2.0" in note for note in python311) and any("pi-heif 1.0.0" in note for note in python311)
    assert not any("source only" in note for note in python311)
    assert [note for note in python313 if "source only" in note] and not any("pillow" in n for n in python313)


def test_bytecode_is_reproducible_and_loaded_without_checking_the_source(tmp_path: Path):
    # GIVEN a module's source
    source = b"VALUE = 41 + 1\n"
    # WHEN it is compiled twice for the archive
    first = packaging.bytecode([("pkg/mod.py", source), ("pkg/data.txt", b"not python")])
    second = packaging.bytecode([("pkg/mod.py", source)])
    # THEN the same bytes come out, in the runtime's __pycache__ slot, as an unchecked hash-based pyc
    assert first == second
    ((name, pyc),) = first
    assert name == f"pkg/__pycache__/mod.{sys.implementation.cache_tag}.pyc"
    assert pyc[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(pyc[4:8], "little") == PYC_UNCHECKED_HASH
    assert pyc[8:16] == importlib.util.source_hash(source)
    # AND Python runs the bytecode even where the source on disk says otherwise (no stat, no re-compile)
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "mod.py").write_text("VALUE = 'from source'\n")
    (tmp_path / name).write_bytes(pyc)
    result = subprocess.run(
        [sys.executable, "-c", "import pkg.mod; print(pkg.mod.VALUE)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "42"


def test_bytecode_does_not_depend_on_the_building_process():
    # GIVEN a real module, compiled here (pytest has imported it and much else, with a random hash seed)
    name = "handler/renditions.py"
    source = (packaging.ROOT / name).read_bytes()
    here = packaging.bytecode([(name, source)])
    # WHEN another process with another hash seed and nothing imported compiles it
    script = (
        "import sys; from components import packaging; "
        f"sys.stdout.buffer.write(packaging.bytecode([({name!r}, open({name!r}, 'rb').read())])[0][1])"
    )
    elsewhere = subprocess.run(
        [sys.executable, "-c", script],
        cwd=packaging.ROOT,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        check=True,
    ).stdout
    # THEN the bytes are the same: rebuilding an archive anywhere gives the same zip
    assert here[0][1] == elsewhere


def test_a_wheel_that_does_not_match_its_pinned_hash_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # GIVEN PyPI answering with other bytes than the pinned wheel
    monkeypatch.setattr(packaging.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"tampered"))
    # WHEN the archive is built
    # THEN nothing is cached or zipped: the hash mismatch stops the build
    with pytest.raises(ValueError, match="SHA-256"):
        packaging.build_archive("python3.13", "x86_64", cache_dir=tmp_path)
    assert not list(tmp_path.rglob("*.whl")) and not list(tmp_path.rglob("*.zip"))


def test_the_archive_sources_are_the_image_function_and_the_upload_api():
    # GIVEN this repository WHEN the archive's own sources are collected
    names = {name for name, _ in packaging._source_files()}
    # THEN both functions' entry points are there (the API runs from the same archive), and nothing else
    assert {"handler/app.py", "api/app.py"} <= names
    assert {name.split("/", 1)[0] for name in names} == {"handler", "api"}


# -------------------------------------------------------------------------------------- real archives


@pytest.mark.network
@pytest.mark.parametrize(
    ("runtime", "architecture"), [("python3.13", "x86_64"), ("python3.13", "arm64"), ("python3.11", "x86_64")]
)
def test_archive_holds_the_handler_and_every_wheel_for_the_platform(runtime, architecture):
    path = packaging.build_archive(runtime, architecture)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert {name for name, _ in packaging._source_files()} <= set(names)
        assert not any(name.startswith(("boto3/", "botocore/")) for name in names)
        python_tag = "cp" + runtime.removeprefix("python").replace(".", "")
        for wheel in packaging.wheels(runtime, architecture):
            distribution = wheel.filename.split("-")[0]
            tags = archive.read(f"{distribution}-{wheel.version}.dist-info/WHEEL").decode()
            assert f"Tag: {python_tag}-{python_tag}-" in tags
        for extension in EXTENSIONS:
            (name,) = [n for n in names if n.startswith(extension) and n.endswith(".so")]
            assert f".cpython-{python_tag.removeprefix('cp')}-" in name
            assert elf_machine(archive.read(name)) == ELF_MACHINE[architecture]


@pytest.mark.network
def test_python311_archive_has_bytecode_for_every_module_and_python313_none():
    with zipfile.ZipFile(packaging.build_archive("python3.11", "x86_64")) as archive:
        names = set(archive.namelist())
    sources = {name for name in names if name.endswith(".py")}
    expected = {
        f"{name.rsplit('/', 1)[0]}/__pycache__/{name.rsplit('/', 1)[1][:-3]}.cpython-311.pyc"
        for name in sources
        if "/" in name
    }
    assert expected <= names and "handler/__pycache__/app.cpython-311.pyc" in names
    with zipfile.ZipFile(packaging.build_archive("python3.13", "x86_64")) as archive:
        assert not any("__pycache__" in name for name in archive.namelist())


@pytest.mark.network
def test_two_builds_are_byte_identical(tmp_path: Path):
    first = packaging.build_archive("python3.11", "x86_64")
    second = packaging.build_archive("python3.11", "x86_64", cache_dir=tmp_path)
    assert first.name == second.name
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.network
def test_archive_entries_have_fixed_times_and_permissions():
    with zipfile.ZipFile(packaging.build_archive("python3.13", "x86_64")) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    assert {info.date_time for info in infos} == {packaging.ZIP_EPOCH}
    assert {info.external_attr >> 16 for info in infos} == {0o644}


@pytest.mark.network
def test_a_changed_handler_gives_a_new_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    original = packaging.build_archive("python3.13", "x86_64", cache_dir=tmp_path)
    files = packaging._source_files()
    monkeypatch.setattr(packaging, "_source_files", lambda: [*files, ("handler/extra.py", b"X = 1\n")])
    changed = packaging.build_archive("python3.13", "x86_64", cache_dir=tmp_path)
    assert changed != original
    with zipfile.ZipFile(changed) as archive:
        assert archive.read("handler/extra.py") == b"X = 1\n"


@pytest.mark.network
def test_the_python311_archive_runs_the_handler_on_its_own_wheels_and_bytecode(tmp_path: Path):
    # GIVEN the python3.11 x86_64 archive unpacked (Pillow 12.2.0 and pi-heif 1.0.0, the Amazon Linux 2 builds),
    # with one handler source replaced by a module that would fail: only its shipped bytecode can make it work
    with zipfile.ZipFile(packaging.build_archive("python3.11", "x86_64")) as archive:
        archive.extractall(tmp_path)
    (tmp_path / "handler" / "renditions.py").write_text("raise ImportError('the source was compiled, not the pyc')\n")
    script = """
import io, json, PIL, pi_heif, zlib_ng
from PIL import Image
from handler import imaging
from handler.imaging import webp_scaled
from handler.renditions import parse_renditions
for module in (PIL, pi_heif, zlib_ng):
    assert module.__file__.startswith(TARGET), module.__file__
# still WebP is decoded by the libwebp inside this Pillow, at its reduced size, not by Pillow's whole canvas
assert webp_scaled.library() is not None
specs = parse_renditions(json.dumps([
    {"name": "a", "width": 200, "height": 200, "fit": "cover", "format": "webp"},
    {"name": "b", "width": 120, "height": 90, "fit": "contain", "watermark": {"text": "hi"}},
]))
out = {}
for fmt, mode in (("JPEG", "RGB"), ("PNG", "RGBA"), ("GIF", "P"), ("TIFF", "CMYK"), ("WEBP", "RGB"), ("BMP", "L")):
    buffer = io.BytesIO()
    Image.new(mode, (640, 480)).save(buffer, fmt)
    out[fmt] = [r.size for r in imaging.render_all(buffer.getvalue(), specs)]
print(json.dumps({"pillow": PIL.__version__, "pi_heif": pi_heif.__version__, "sizes": out}))
"""
    # WHEN the handler renders every format with it, in a Python that sees the archive's packages first
    result = subprocess.run(
        [sys.executable, "-c", f"TARGET = {str(tmp_path)!r}\n{script}"],
        env={**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    # THEN it works with the archive's own wheels (libwebp found through Pillow's) and bytecode
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["pillow"], report["pi_heif"]) == ("12.2.0", "1.0.0")
    assert all(sizes == [[200, 200], [120, 90]] for sizes in report["sizes"].values())
