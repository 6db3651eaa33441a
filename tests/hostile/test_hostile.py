"""Hostile uploads under the Lambda's limits: each in a fresh process, rendered or refused, never more.

A 512 MB Lambda gets about 0.29 vCPU, so 17 s of CPU here is about 60 s there. Every case must end in
renditions or a clean ImageRejected (a well-formed file only as too_large or timeout, never "corrupt"),
with peak RSS <= 512 MB, CPU <= 17 s, outputs whose size is bounded by their pixels and whose colour
profile (if any) LittleCMS can parse. Run by `make test-hostile`.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.cases import CASES, Case

pytestmark = pytest.mark.hostile

ROOT = Path(__file__).resolve().parents[2]
PEAK_MB = 512
CPU_S = 17
# Past the budget the child is stopped; a runaway must not take the machine with it.
CPU_KILL_S = CPU_S + 3
ADDRESS_SPACE_CAP = 8 * 1024**3
WALL_TIMEOUT_S = 600
HEADER_ALLOWANCE = 64 * 1024  # container and tables on top of the pixels themselves
# What a well-formed upload may be refused as: it is too big for the function, or its time ran out.
FAIR_REFUSALS = ("too_large", "timeout")
# One JSON per case, for the per-case table.
REPORTS = ROOT / "build" / "hostile" / "reports"


def _limit_child() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_KILL_S, CPU_KILL_S + 2))
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))


def run_child(case: Case) -> dict[str, Any]:
    """Render `case` in a fresh Python with resource limits; its JSON report, or how it died."""
    probes = json.dumps([list(point) for point in case.probes])
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.hostile.child",
            str(case.path()),
            "animated" if case.animated else "still",
            probes,
        ],
        cwd=ROOT,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},  # boto3 clients are created, never used
        preexec_fn=_limit_child,
        capture_output=True,
        text=True,
        timeout=WALL_TIMEOUT_S,
        check=False,
    )
    if completed.returncode != 0:
        died = f"signal {signal.Signals(-completed.returncode).name}" if completed.returncode < 0 else "exit"
        return {"outcome": "died", "message": f"{died} ({completed.returncode}): {completed.stderr[-800:]}"}
    report: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return report


def fit_inside(size: tuple[int, int], box: tuple[int, int] = (800, 600)) -> tuple[int, int]:
    """The spec's fit, computed here independently of the engine: never upscaled."""
    scale = min(box[0] / size[0], box[1] / size[1], 1.0)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def problems(case: Case, report: dict[str, Any]) -> list[str]:
    """Every broken promise in `report`; empty when the case passed."""
    found = []
    if report["outcome"] not in ("renditions", "rejected"):
        return [f"{report['outcome']}: {report.get('message', '')}"]
    if report["outcome"] == "rejected" and case.renders:
        found.append(f"refused as {report['reason']!r}, though a strip path fits it: {report.get('message', '')}")
    if report["outcome"] == "rejected" and case.valid and report["reason"] not in FAIR_REFUSALS:
        found.append(f"a well-formed file refused as {report['reason']!r}: {report.get('message', '')}")
    if report["peak_mb"] > PEAK_MB:
        found.append(f"peak {report['peak_mb']:.0f} MB > {PEAK_MB} MB")
    if report["cpu_s"] > CPU_S:
        found.append(f"CPU {report['cpu_s']:.1f} s > {CPU_S} s")
    expected_size = list(fit_inside(case.upright))
    for output in report["renditions"]:
        if "error" in output:
            found.append(f"rendition error instead of a refusal: {output['error']}")
            continue
        width, height = output["size"]
        if output["bytes"] > width * height * 4 + HEADER_ALLOWANCE:
            found.append(f"{output['bytes']} bytes out for {width}x{height} pixels")
        if output["icc_parses"] is False:
            found.append(f"an unparseable {output['icc_bytes']}-byte ICC profile was embedded")
        if output["size"] != expected_size:
            found.append(f"output {width}x{height}, expected {expected_size[0]}x{expected_size[1]}")
        for (point, colour), seen in zip(case.probes.items(), output["colours"], strict=True):
            if max(abs(a - b) for a, b in zip(colour, seen, strict=True)) > 60:
                found.append(f"colour {seen} at {point}, expected {list(colour)}")
    return found


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_hostile_input_is_rendered_or_refused_within_lambda_limits(case: Case) -> None:
    # GIVEN a generated hostile upload (cached in build/hostile)
    # WHEN it is rendered in a fresh, resource-limited Python with the default renditions
    report = run_child(case)
    # THEN it ends in renditions or a refusal, within memory, CPU and output-size bounds
    summary = {key: report.get(key) for key in ("outcome", "reason", "peak_mb", "cpu_s")}
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{case.name}.json").write_text(json.dumps({**summary, "problems": problems(case, report)}))
    assert not problems(case, report), f"{case.kind}: {problems(case, report)} {summary}"
