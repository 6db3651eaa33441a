"""`make load`: many uploads, concurrent worker processes, optional faults, and a reconciliation.

Every upload must end as exactly one of: an output in the destination bucket, a failure (notified, or
logged when SNS itself is down), or a dead-lettered event. Anything else is reported as unaccounted
and the exit status is non-zero. Example: `make load ARGS="--count 200 --workers 4 --fault put=0.1"`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from local.emulator import LocalPipeline, provision, start_emulator
from local.pump import EventPump
from local.samples import encode, photo

RESULT_TIMEOUT_SECONDS = 300
LOG_DIR = Path("out")


@dataclass(frozen=True)
class Faults:
    """Failures injected into the workers' AWS calls."""

    put_failure_rate: float = 0.0
    sns_down: bool = False

    @classmethod
    def parse(cls, specs: Sequence[str]) -> Faults:
        """`put=0.1` fails that fraction of destination writes; `sns` makes every publish fail."""
        rate, sns_down = 0.0, False
        for spec in specs:
            name, _, value = spec.partition("=")
            if name == "put":
                try:
                    rate = float(value)
                except ValueError:
                    rate = -1.0
                if not 0 <= rate <= 1:
                    raise argparse.ArgumentTypeError(f"--fault put=RATE needs 0 <= RATE <= 1, got {value}")
            elif name == "sns":
                sns_down = True
            else:
                raise argparse.ArgumentTypeError(f"unknown fault {spec!r}: use put=RATE or sns")
        return cls(rate, sns_down)


@dataclass
class Report:
    """The reconciliation of one load run."""

    uploads: dict[str, float]
    outcomes: dict[str, list[str]] = field(default_factory=dict)
    finished_at: dict[str, float] = field(default_factory=dict)
    processing_ms: dict[str, float] = field(default_factory=dict)
    worker_peaks_mb: list[float] = field(default_factory=list)
    invocation_errors: int = 0

    def unaccounted(self) -> list[str]:
        """Uploads without exactly one outcome."""
        return sorted(key for key in self.uploads if len(self.outcomes.get(key, [])) != 1)


def generated_uploads(count: int, seed: int = 7) -> list[tuple[str, bytes]]:
    """`count` uploads of mixed sizes and formats; every 25th is a bad file."""
    rng = random.Random(seed)
    pool = []
    for width, height in ((320, 240), (1024, 768), (1600, 1200), (2400, 1600), (600, 900)):
        picture = photo(width, height)
        pool += [
            ("jpg", encode(picture, "JPEG", quality=88)),
            ("png", encode(picture.convert("RGBA"), "PNG", compress_level=1)),
            ("webp", encode(picture, "WEBP", quality=75)),
            ("gif", encode(picture.convert("P"), "GIF")),
        ]
    uploads = []
    for index in range(count):
        if index % 25 == 24:
            uploads.append((f"load/{index:05d}-bad.jpg", b"not an image " * rng.randint(1, 50)))
        else:
            extension, data = rng.choice(pool)
            uploads.append((f"load/{index:05d}.{extension}", data))
    return uploads


@dataclass(frozen=True)
class WorkerJob:
    """What one worker process needs to know."""

    pipeline: LocalPipeline
    faults: Faults
    seed: int
    log_dir: Path


def _worker(job: WorkerJob, stop: Event, results: multiprocessing.Queue[Any]) -> None:
    """One 'Lambda container': its own handler, clients and pump, with faults injected."""
    pipeline, faults, seed, log_dir = job.pipeline, job.faults, job.seed, job.log_dir
    os.environ.update(pipeline.handler_environment())
    import logging

    from handler import app, aws

    # The handler's JSON lines go to a file per worker, not over the summary in the terminal.
    logging.basicConfig(filename=log_dir / f"load-worker-{seed}.log", filemode="w", level=logging.INFO)
    logging.getLogger("image-processor.metrics").handlers = [logging.NullHandler()]

    rng = random.Random(seed)
    real_put = aws.s3().put_object

    def flaky_put(**kwargs: Any) -> Any:
        if rng.random() < faults.put_failure_rate:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "injected fault"}}, "PutObject")
        return real_put(**kwargs)

    def sns_down(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "injected fault"}}, "Publish")

    aws.s3().put_object = flaky_put  # type: ignore[method-assign]
    if faults.sns_down:
        aws.sns().publish = sns_down  # type: ignore[method-assign]

    pump = EventPump(pipeline, app.lambda_handler, on_result=lambda result: results.put(("result", result)))
    while not stop.is_set():
        pump.poll_once()
    for error in pump.stats.errors:
        results.put(("error", error))
    results.put(("peak", _peak_mb()))


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(count: int, workers: int, faults: Faults, log_dir: Path = LOG_DIR) -> Report:
    """Upload `count` images as fast as possible, process them with `workers` processes, reconcile."""
    log_dir.mkdir(parents=True, exist_ok=True)
    server, endpoint = start_emulator()
    try:
        pipeline = provision(endpoint)
        context = multiprocessing.get_context("spawn")
        results: multiprocessing.Queue[Any] = context.Queue()
        stop = context.Event()
        processes = [
            context.Process(target=_worker, args=(WorkerJob(pipeline, faults, seed, log_dir), stop, results))
            for seed in range(workers)
        ]
        for process in processes:
            process.start()
        uploads = generated_uploads(count)
        report = Report(uploads={})
        s3 = pipeline.s3()

        def upload(item: tuple[str, bytes]) -> None:
            report.uploads[item[0]] = time.monotonic()
            s3.put_object(Bucket=pipeline.source_bucket, Key=item[0], Body=item[1])

        with ThreadPoolExecutor(max_workers=8) as executor:
            list(executor.map(upload, uploads))
        _collect(report, pipeline, results)
        stop.set()
        for _ in processes:
            _drain_until_peak(report, results)
        for process in processes:
            process.join()
        return report
    finally:
        server.stop()


def _collect(report: Report, pipeline: LocalPipeline, results: multiprocessing.Queue[Any]) -> None:
    dead_letters = EventPump(pipeline, lambda event, context: {})
    deadline = time.monotonic() + RESULT_TIMEOUT_SECONDS
    while time.monotonic() < deadline and len(report.outcomes) < len(report.uploads):
        while not results.empty():
            _record(report, results.get())
        for key in dead_letters.drain_dead_letters():
            report.outcomes.setdefault(key, []).append("dead-lettered")
            report.finished_at[key] = time.monotonic()
        time.sleep(0.2)


def _drain_until_peak(report: Report, results: multiprocessing.Queue[Any]) -> None:
    while True:
        kind, value = results.get(timeout=60)
        if kind == "peak":
            report.worker_peaks_mb.append(value)
            return
        _record(report, (kind, value))


def _record(report: Report, message: tuple[str, Any]) -> None:
    kind, value = message
    if kind == "result":
        report.outcomes.setdefault(value["source_key"], []).append(value["status"])
        report.finished_at[value["source_key"]] = time.monotonic()
        if value.get("duration_ms") is not None:
            report.processing_ms[value["source_key"]] = value["duration_ms"]
    elif kind == "error":
        report.invocation_errors += 1


def _percentiles(values_ms: list[float]) -> str:
    if not values_ms:
        return "n/a"
    ordered = sorted(values_ms)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"p50 {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, max {ordered[-1]:.0f} ms"


def summarize(report: Report, faults: Faults, workers: int, log_dir: Path = LOG_DIR) -> str:
    """The run as a table; latency split into waiting for a worker (queueing) and the handler's own time."""
    total_ms = {key: (report.finished_at[key] - report.uploads[key]) * 1000 for key in report.finished_at}
    queueing_ms = [total_ms[key] - report.processing_ms[key] for key in report.processing_ms if key in total_ms]
    span = max(report.finished_at.values(), default=0) - min(report.uploads.values(), default=0)
    counts = Counter(outcome for outcomes in report.outcomes.values() for outcome in outcomes)
    rows = [
        ("uploads", f"{len(report.uploads)}, all at once, for {workers} worker processes"),
        ("faults", f"put failures {faults.put_failure_rate:.0%}, SNS {'down' if faults.sns_down else 'up'}"),
        ("throughput", f"{len(report.finished_at) / span:.1f} images/s" if span > 0 else "n/a"),
        ("processing (handler time)", _percentiles(list(report.processing_ms.values()))),
        ("queueing (waiting for a worker)", _percentiles(queueing_ms)),
        ("upload to outcome (both)", _percentiles(list(total_ms.values()))),
        ("peak memory per worker", ", ".join(f"{peak:.0f} MB" for peak in report.worker_peaks_mb)),
        ("handler raised (retried)", f"{report.invocation_errors}"),
        ("succeeded (output written)", f"{counts['success']}"),
        ("failed (notified or logged)", f"{counts['failure']}"),
        ("skipped", f"{counts['skipped']}"),
        ("dead-lettered (no e-mail)", f"{counts['dead-lettered']}"),
        ("unaccounted", f"{len(report.unaccounted())}"),
    ]
    width = max(len(name) for name, _ in rows)
    table = "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
    return f"{table}\nHandler logs: {log_dir}/load-worker-*.log"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load test and print the reconciliation; non-zero when an upload is unaccounted."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=_positive, default=500, help="uploads (default 500)")
    parser.add_argument("--workers", type=_positive, default=4, help="concurrent worker processes (default 4)")
    parser.add_argument("--fault", action="append", default=[], help="put=RATE or sns (repeatable)")
    parser.add_argument("--log-dir", type=Path, default=LOG_DIR, help="where the workers' handler logs go (out)")
    args = parser.parse_args(argv)
    try:
        faults = Faults.parse(args.fault)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))  # one line and exit status 2, like any other bad argument
    print(f"Uploading {args.count} images for {args.workers} worker processes...", flush=True)
    report = run(args.count, args.workers, faults, args.log_dir)
    print(summarize(report, faults, args.workers, args.log_dir))
    missing = report.unaccounted()
    if missing:
        print(f"Unaccounted uploads: {', '.join(missing[:20])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Run through the importable module, so spawned workers can find _worker by its module name.
    import importlib

    sys.exit(importlib.import_module("local.load").main())
