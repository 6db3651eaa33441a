"""The Lambda deployment archive: the `handler` and `api` packages, Pillow, pi-heif and zlib-ng for the platform.

Deterministic (sorted entries, fixed timestamps and permissions), so the same sources give a
byte-identical zip and `pulumi preview` shows no change; wheels are cached and checked by SHA-256.
boto3 is left out: the runtime provides it.

Bytecode: `/var/task` is read-only, so Python would compile every module on each cold start. When the
build interpreter is the runtime's Python version (python3.11 here), every `.py` also ships as
`__pycache__/<name>.cpython-3XY.pyc`, hash-based and unchecked (PEP 552): no timestamps in it, and the
runtime never stats the source. For another version (python3.12/3.13 here) only `.py` ships: bytecode of
one minor version cannot be loaded by another, and this machine has no such interpreter.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import re
import subprocess
import sys
import tempfile
import tomllib
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / "build" / "lambda"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
RUNTIMES = {"python3.11": "manylinux2014", "python3.12": "manylinux_2_28", "python3.13": "manylinux_2_28"}
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}
# glibc of the runtime's OS: Amazon Linux 2 for python3.11, Amazon Linux 2023 for the others.
RUNTIME_GLIBC = {"python3.11": (2, 26), "python3.12": (2, 34), "python3.13": (2, 34)}
# What the archive carries besides the handler, each at its uv.lock version where the runtime can load it.
PACKAGES = ("pillow", "pi-heif", "zlib-ng")
# This repository's packages in the archive: the image function (`handler`) and the upload API (`api`) run from it.
SOURCE_PACKAGES = ("handler", "api")
# Amazon Linux 2 (glibc 2.26) cannot load the locked Pillow and pi-heif wheels (manylinux_2_27/2_28):
# these are the last releases with manylinux2014 wheels, pinned by hash as uv.lock pins the rest.
AMAZON_LINUX_2_PILLOW = "12.2.0"
AMAZON_LINUX_2_PI_HEIF = "1.0.0"
_PYPI = "https://files.pythonhosted.org/packages"
AMAZON_LINUX_2_WHEELS = (
    (
        f"{_PYPI}/d3/f1/00b7278c7dd52b17ad4329153748f87b6756ec195ff786c2bdf12518337d/"
        "pillow-12.2.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "8bd7903a5f2a4545f6fd5935c90058b89d30045568985a71c79f5fd6edf9b91e",
    ),
    (
        f"{_PYPI}/df/21/e3fbdf54408a973c7f7f89a23b2cb97a7ef30c61ab4142af31eee6aebc88/"
        "pillow-12.2.0-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl",
        "f490f9368b6fc026f021db16d7ec2fbf7d89e2edb42e8ec09d2c60505f5729c7",
    ),
    (
        f"{_PYPI}/0d/54/8fd6db34f8d532dc5bc472b2dd4e31175f24c3b68a721a5f706c131bd8b6/"
        "pi_heif-1.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "5473fc2d84cf3abc10d6b01867727c670d22bb8ea747a694fe314288b0106106",
    ),
    (
        f"{_PYPI}/47/bd/c17b4b44132affa2034155c9df607fadf5b4970409fcfe107b38689fa788/"
        "pi_heif-1.0.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "87869242321e6b938dda80a7ccb325610a6818065471de18f6c7cd25a99019d5",
    ),
)
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_PLATFORM_TAG = re.compile(r"^(?:manylinux_(\d+)_(\d+)|(manylinux1|manylinux2010|manylinux2014))_(\w+)$")


@dataclass(frozen=True)
class Wheel:
    """A binary wheel on PyPI."""

    filename: str
    url: str
    sha256: str

    @property
    def package(self) -> str:
        """The normalised project name (`pi_heif` -> `pi-heif`)."""
        return self.filename.split("-", 1)[0].lower().replace("_", "-")

    @property
    def version(self) -> str:
        """The release, from the file name."""
        return self.filename.split("-")[1]

    def runs_on(self, runtime: str, architecture: str) -> bool:
        """Whether the runtime's CPython, its glibc and the architecture can load this wheel."""
        _, _, python_tag, abi_tag, platforms = self.filename.removesuffix(".whl").split("-")
        wanted = "cp" + runtime.removeprefix("python").replace(".", "")
        if (python_tag, abi_tag) != (wanted, wanted):
            return False
        for platform in platforms.split("."):
            match = _PLATFORM_TAG.match(platform)
            if match is None or match.group(4) != ARCHITECTURES[architecture]:
                continue
            glibc = _LEGACY_MANYLINUX[match.group(3)] if match.group(3) else (int(match[1]), int(match[2]))
            if glibc <= RUNTIME_GLIBC[runtime]:
                return True
        return False


def locked_pillow_version() -> str:
    """The Pillow version the tests run against: pinned once, in uv.lock."""
    return str(_locked("pillow")["version"])


def pillow_version(runtime: str) -> str:
    """Pillow for this runtime: the locked version, or the Amazon Linux 2 ceiling for python3.11."""
    return pillow_wheel(runtime, "x86_64").version


def pillow_wheel(runtime: str, architecture: str) -> Wheel:
    """The Pillow wheel for the runtime's Python and the architecture, with its pinned SHA-256."""
    return _wheel("pillow", runtime, architecture)


def wheels(runtime: str, architecture: str) -> list[Wheel]:
    """Every wheel the archive carries for this runtime and architecture."""
    return [_wheel(package, runtime, architecture) for package in PACKAGES]


def runtime_warnings(runtime: str) -> list[str]:
    """What a deployer should know about this runtime's archive (for a preview warning)."""
    _check(runtime, "x86_64")
    notes = []
    for wheel in wheels(runtime, "x86_64"):
        locked = str(_locked(wheel.package)["version"])
        if wheel.version != locked:
            notes.append(
                f"{runtime} runs on Amazon Linux 2 (glibc 2.26): it gets {wheel.package} {wheel.version}, "
                f"not the tested {locked}, without the fixes of later releases. Prefer python3.12 or newer."
            )
    if not compiles_bytecode(runtime):
        notes.append(
            f"{runtime}: this build machine runs Python {_python_version()}, so the archive holds source only "
            "and every cold start compiles the handler and Pillow (about +0.4 s at 512 MB)."
        )
    return notes


def compiles_bytecode(runtime: str) -> bool:
    """Whether this interpreter can write bytecode the runtime loads (same CPython minor version)."""
    return sys.implementation.name == "cpython" and runtime == f"python{_python_version()}"


def build_archive(runtime: str, architecture: str, cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Build (or reuse) the deployment zip and return its path, named by a hash of what goes in it."""
    chosen = wheels(runtime, architecture)
    source_files = _source_files()
    inputs = hashlib.sha256("".join(wheel.sha256 for wheel in chosen).encode())
    if compiles_bytecode(runtime):
        inputs.update(importlib.util.MAGIC_NUMBER + _COMPILE_SCRIPT.encode())
    for name, data in source_files:
        inputs.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    path = cache_dir / f"image-processor-{runtime}-{architecture}-{inputs.hexdigest()[:16]}.zip"
    if not path.exists():
        files = source_files + [file for wheel in chosen for file in _wheel_files(_download(wheel, cache_dir))]
        if compiles_bytecode(runtime):
            files += bytecode(files)
        data = _zip(files)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
    return path


def bytecode(files: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """`__pycache__` entries for every `.py` in `files`, compiled by this interpreter, unchecked-hash pycs.

    Compiled in a fresh interpreter without site packages and with a fixed hash seed: marshal's output
    depends on the set order of string hashes and on which strings the compiling process already holds,
    so only a process in a fixed state gives the same bytes for the same sources. The recorded file name
    is the archive path. A source this Python cannot compile gets no pyc (it fails at import either way).
    """
    sources = [(name, data) for name, data in files if name.endswith(".py")]
    with tempfile.TemporaryDirectory() as scratch:
        jobs = []
        for index, (name, data) in enumerate(sources):
            source = Path(scratch) / f"{index}.py"
            source.write_bytes(data)
            jobs.append((str(source), str(source.with_suffix(".pyc")), name))
        subprocess.run(
            [sys.executable, "-S", "-s", "-c", _COMPILE_SCRIPT],
            input=json.dumps(jobs),
            env={"PYTHONHASHSEED": "0"},
            capture_output=True,
            text=True,
            check=True,
        )
        compiled = []
        for _, target, name in jobs:
            if Path(target).exists():
                path = PurePosixPath(name)
                cached = path.parent / "__pycache__" / f"{path.stem}.{sys.implementation.cache_tag}.pyc"
                compiled.append((cached.as_posix(), Path(target).read_bytes()))
    return compiled


_COMPILE_SCRIPT = """
import json, py_compile, sys
unchecked = py_compile.PycInvalidationMode.UNCHECKED_HASH
for source, target, name in json.load(sys.stdin):
    py_compile.compile(source, cfile=target, dfile=name, invalidation_mode=unchecked)
"""


def _python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _wheel(package: str, runtime: str, architecture: str) -> Wheel:
    _check(runtime, architecture)
    locked = [(wheel["url"], wheel["hash"].removeprefix("sha256:")) for wheel in _locked(package)["wheels"]]
    for pinned in (locked, AMAZON_LINUX_2_WHEELS):
        for url, sha256 in pinned:
            wheel = Wheel(url.rsplit("/", 1)[1], url, sha256)
            if wheel.package == package and wheel.runs_on(runtime, architecture):
                return wheel
    raise ValueError(f"no {package} wheel for {runtime} on {architecture} (glibc {RUNTIME_GLIBC[runtime]})")


def _check(runtime: str, architecture: str) -> None:
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}")


def _locked(package: str) -> dict[str, Any]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (entry,) = (p for p in lock["package"] if p["name"] == package)
    return dict(entry)


def _download(wheel: Wheel, cache_dir: Path) -> bytes:
    path = cache_dir / "wheels" / wheel.filename
    if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == wheel.sha256:
        return path.read_bytes()
    with urllib.request.urlopen(wheel.url, timeout=120) as response:
        data: bytes = response.read()
    if hashlib.sha256(data).hexdigest() != wheel.sha256:
        raise ValueError(f"{wheel.filename}: SHA-256 does not match the pinned hash")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def _source_files() -> list[tuple[str, bytes]]:
    sources = sorted(path for package in SOURCE_PACKAGES for path in (ROOT / package).rglob("*.py"))
    return [(path.relative_to(ROOT).as_posix(), path.read_bytes()) for path in sources]


def _wheel_files(wheel: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist() if not info.is_dir()]


def _zip(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in sorted(files):
            info = zipfile.ZipInfo(name, ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
