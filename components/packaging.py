"""The Lambda deployment archive: the `handler` package plus Pillow built for the Lambda platform.

Deterministic (sorted entries, fixed timestamps and permissions), so the same sources give a
byte-identical zip and `pulumi preview` shows no change; wheels are cached and checked by SHA-256.
boto3 is left out: the runtime provides it.
"""

from __future__ import annotations

import hashlib
import io
import tomllib
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / "build" / "lambda"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Amazon Linux 2 (python3.11) has glibc 2.26: the last Pillow with manylinux2014 wheels is 12.2.0.
AMAZON_LINUX_2_PILLOW = "12.2.0"
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
)
RUNTIMES = {"python3.11": "manylinux2014", "python3.12": "manylinux_2_28", "python3.13": "manylinux_2_28"}
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}


@dataclass(frozen=True)
class Wheel:
    """A Pillow wheel on PyPI."""

    filename: str
    url: str
    sha256: str


def locked_pillow_version() -> str:
    """The Pillow version the tests run against: pinned once, in uv.lock."""
    return str(_locked_pillow()["version"])


def pillow_version(runtime: str) -> str:
    """Pillow for this runtime: the locked version, or the Amazon Linux 2 ceiling for python3.11."""
    _check(runtime, "x86_64")
    return AMAZON_LINUX_2_PILLOW if RUNTIMES[runtime] == "manylinux2014" else locked_pillow_version()


def pillow_wheel(runtime: str, architecture: str) -> Wheel:
    """The binary wheel for the runtime's Python and the architecture, with its pinned SHA-256."""
    version = pillow_version(runtime)
    _check(runtime, architecture)
    tag = "cp" + runtime.removeprefix("python").replace(".", "")
    if version == AMAZON_LINUX_2_PILLOW:
        pinned = list(AMAZON_LINUX_2_WHEELS)
    else:
        pinned = [(wheel["url"], wheel["hash"].removeprefix("sha256:")) for wheel in _locked_pillow()["wheels"]]
    candidates = [Wheel(url.rsplit("/", 1)[1], url, sha256) for url, sha256 in pinned]
    wanted_platform = f"{RUNTIMES[runtime]}_{ARCHITECTURES[architecture]}"
    for wheel in candidates:
        if f"-{tag}-{tag}-" in wheel.filename and wanted_platform in wheel.filename:
            return wheel
    raise ValueError(f"no Pillow {version} wheel for {tag} {wanted_platform}")


def build_archive(runtime: str, architecture: str, cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Build (or reuse) the deployment zip and return its path, named by a hash of what goes in it."""
    wheel = pillow_wheel(runtime, architecture)
    handler_files = _handler_files()
    inputs = hashlib.sha256(wheel.sha256.encode())
    for name, data in handler_files:
        inputs.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    path = cache_dir / f"image-processor-{runtime}-{architecture}-{inputs.hexdigest()[:16]}.zip"
    if not path.exists():
        data = _zip(handler_files + _wheel_files(_download(wheel, cache_dir)))
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
    return path


def _check(runtime: str, architecture: str) -> None:
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}")


def _locked_pillow() -> dict[str, Any]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (package,) = (p for p in lock["package"] if p["name"] == "pillow")
    return dict(package)


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


def _handler_files() -> list[tuple[str, bytes]]:
    sources = sorted((ROOT / "handler").rglob("*.py"))
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
