"""One hostile input in a fresh interpreter: render it as the Lambda would and report what it cost.

Run by the hostile suite as `python -m tests.hostile.child PATH ANIMATED PROBES_JSON`; prints one JSON line.
The process holds what a Lambda holds when decoding starts (handler.app imported, boto3 clients created,
the input in memory); peak RSS and CPU are read right after rendering, before the outputs are inspected.
"""

from __future__ import annotations

import io
import json
import resource
import sys
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms

MEMORY_MB = 512


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _inspect(data: bytes, probes: list[list[float]]) -> dict[str, Any]:
    """What a reader of the output sees: its size, its bytes, its profile and colours at the probes."""
    with Image.open(io.BytesIO(data)) as picture:
        picture.load()
        profile = picture.info.get("icc_profile")
        parses = None
        if profile:
            try:
                ImageCms.ImageCmsProfile(io.BytesIO(profile))
                parses = True
            except (ImageCms.PyCMSError, OSError, ValueError):
                parses = False
        rgb = picture.convert("RGB")
        colours = [
            list(rgb.getpixel((min(rgb.width - 1, int(x * rgb.width)), min(rgb.height - 1, int(y * rgb.height)))))
            for x, y in probes
        ]
        return {
            "format": picture.format,
            "size": list(picture.size),
            "bytes": len(data),
            "icc_bytes": len(profile) if profile else 0,
            "icc_parses": parses,
            "colours": colours,
        }


def main(path: str, animated: bool, probes: list[list[float]]) -> dict[str, Any]:
    """Render `path` with the default renditions (plus an animated one if asked) under the Lambda's limits."""
    import handler.app  # noqa: F401  (the Lambda imports it, with boto3, before any image arrives)
    from handler import aws, imaging
    from handler.renditions import RenditionSpec, default_renditions

    aws.s3(), aws.sns()  # created (not called) at the first event, so held while decoding
    data = Path(path).read_bytes()
    specs = default_renditions(800, 600, 85)
    if animated:
        specs += (RenditionSpec(name="animated", format="webp", animated=True),)
    guard_memory = getattr(imaging, "guard_memory", None)
    if guard_memory is not None:
        guard_memory(MEMORY_MB)
    limits = imaging.Limits(max_pixels=80_000_000, memory_mb=MEMORY_MB)
    started = _cpu_seconds()
    report: dict[str, Any]
    try:
        results = imaging.render_all(data, specs, limits)
        report = {"outcome": "renditions", "results": results}
    except imaging.ImageRejected as error:
        report = {"outcome": "rejected", "reason": error.reason, "message": str(error)}
    except BaseException as error:  # the suite reports any other exception as a crash
        report = {"outcome": "exception", "message": f"{type(error).__name__}: {error}"[:500]}
    report["cpu_s"] = _cpu_seconds() - started
    report["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results = report.pop("results", [])
    report["renditions"] = [
        _inspect(result.data, probes) if isinstance(result, imaging.Rendition) else {"error": result.message}
        for result in results
    ]
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2] == "animated", json.loads(sys.argv[3]))))
