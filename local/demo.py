"""`make demo`: the whole pipeline end to end on an embedded AWS emulator.

Uploads sample images (or yours: `make demo ARGS="path/to/images"`) to the emulated source bucket;
the emulator's own S3 event notifications are fed to the real `handler.app.lambda_handler`. Writes
what landed in the destination bucket to out/ with out/index.html. `--serve` keeps it running.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from handler import app
from handler.renditions import parse_renditions
from local import gallery
from local.emulator import LocalPipeline, provision, start_emulator
from local.pump import EventPump
from local.samples import BAD_DEMO_KEYS, demo_uploads

SETTLE_TIMEOUT_SECONDS = 120


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; the exit status is non-zero when the pipeline did not do what it promises."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, help="image files or folders to upload instead of the samples")
    parser.add_argument("--serve", action="store_true", help="keep running for uploads from any S3 client")
    parser.add_argument("--out", type=Path, default=Path("out"), help="where results and index.html go")
    parser.add_argument("--renditions", type=Path, help="a JSON file of renditions (see local/renditions.example.json)")
    args = parser.parse_args(argv)
    renditions = args.renditions.read_text() if args.renditions else ""
    if renditions:
        parse_renditions(renditions)  # a bad file stops here, with the entry named

    for folder in ("originals", "resized"):
        shutil.rmtree(args.out / folder, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=args.out / "handler.log", filemode="w", level=logging.INFO, format="%(message)s")
    # The metric lines Lambda would turn into CloudWatch metrics go beside the log, not to the console.
    logging.getLogger("image-processor.metrics").handlers = [logging.FileHandler(args.out / "metrics.log", "w")]

    server, endpoint = start_emulator()
    pipeline = provision(endpoint)
    os.environ.update(pipeline.handler_environment(), RENDITIONS=renditions)
    pump = EventPump(pipeline, app.lambda_handler, on_result=print_result)
    pump.start()
    try:
        if args.serve:
            return serve(pipeline, pump, args.out)
        uploads = files_from(args.paths) if args.paths else demo_uploads()
        expected_failures = set() if args.paths else set(BAD_DEMO_KEYS)
        return run_once(pipeline, pump, uploads, expected_failures, args.out)
    finally:
        pump.stop()
        server.stop()


def files_from(paths: Sequence[Path]) -> list[tuple[str, bytes]]:
    """Every file under the given paths, keyed by its path relative to the folder given."""
    uploads: list[tuple[str, bytes]] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        base = path if path.is_dir() else path.parent
        uploads.extend((file.relative_to(base).as_posix(), file.read_bytes()) for file in files)
    return uploads


def print_result(result: dict[str, Any]) -> None:
    """One progress line per processed image."""
    key = result["source_key"]
    if result["status"] == "success":
        width, height = result["original_size"]
        new_width, new_height = result["new_size"]
        print(
            f"  ok      {key}: {result['source_format']} {width}x{height} -> {new_width}x{new_height}, "
            f"{result['bytes_in']:,} -> {result['bytes_out']:,} bytes, {result['duration_ms']} ms"
            + (f", {len(result['renditions'])} renditions" if "renditions" in result else ""),
            flush=True,
        )
    elif result["status"] == "failure":
        print(f"  failed  {key}: {result['error_type']}: {result['error_message']}", flush=True)
    elif result["status"] == "deleted":
        print(f"  deleted {key}: its {len(result['deleted_keys'])} possible rendition keys removed", flush=True)
    else:
        print(f"  skipped {key}: {result.get('reason', '')}", flush=True)


def run_once(
    pipeline: LocalPipeline,
    pump: EventPump,
    uploads: list[tuple[str, bytes]],
    expected_failures: set[str],
    out: Path,
) -> int:
    """Upload, wait for every outcome, export, and check the outcomes against what was promised."""
    s3 = pipeline.s3()
    print(f"Emulator at {pipeline.endpoint}; uploading {len(uploads)} files to s3://{pipeline.source_bucket}/")
    for key, data in uploads:
        s3.put_object(Bucket=pipeline.source_bucket, Key=key, Body=data)
    outcomes = wait_for_outcomes(pump, {key for key, _ in uploads})
    notifications = received_notifications(pipeline)
    print("\nNotifications (what the e-mail subscriber receives):")
    for notification in notifications:
        print(f"  [{notification['MessageAttributes']['status']['Value']}] {notification['Subject']}")
    entries = export(pipeline, uploads, outcomes, out)
    page = gallery.write(out, entries)
    print(f"\nResults in {out}/, gallery: {page.resolve().as_uri()}")

    failed_sources = {
        json.loads(n["Message"].rsplit("\n\n", 1)[1])["source_key"]
        for n in notifications
        if n["MessageAttributes"]["status"]["Value"] == "failure"
    }
    statuses = {key: outcome["status"] for key, outcome in outcomes.items()}
    problems = [
        f"{key}: {statuses.get(key, 'no outcome')}"
        for key, _ in uploads
        if key not in expected_failures and statuses.get(key) != "success"
    ]
    problems += [
        f"{key}: expected a failure notification"
        for key in expected_failures
        if statuses.get(key) != "failure" or key not in failed_sources
    ]
    if problems:
        print("\nNot as promised:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"\nAll {len(uploads)} uploads accounted for as promised.")
    return 0


def wait_for_outcomes(pump: EventPump, keys: set[str]) -> dict[str, dict[str, Any]]:
    """Outcome per key: the handler's summary, or status 'dead-lettered' after the retries ran out."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    outcomes: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and not keys <= outcomes.keys():
        time.sleep(0.2)
        with pump.stats.lock:
            outcomes.update((result["source_key"], result) for result in pump.stats.results)
        outcomes.update((key, {"status": "dead-lettered"}) for key in pump.drain_dead_letters())
    return outcomes


def received_notifications(pipeline: LocalPipeline) -> list[dict[str, Any]]:
    """Every notification published so far, as the subscribed queue received them."""
    sqs = pipeline.sqs()
    received: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=pipeline.notifications_queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in batch:
            received.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=pipeline.notifications_queue_url, ReceiptHandle=message["ReceiptHandle"])
    return received


def export(
    pipeline: LocalPipeline, uploads: list[tuple[str, bytes]], outcomes: dict[str, dict[str, Any]], out: Path
) -> list[gallery.Entry]:
    """Copy originals and every rendition into `out` and describe them for the gallery."""
    s3 = pipeline.s3()
    entries = []
    for key, data in uploads:
        original = Path("originals") / key
        (out / original).parent.mkdir(parents=True, exist_ok=True)
        (out / original).write_bytes(data)
        outcome = outcomes.get(key, {"status": "no outcome"})
        results = []
        for rendition in rendition_keys(outcome):
            response = s3.get_object(Bucket=pipeline.destination_bucket, Key=rendition["key"])
            (out / rendition["key"]).parent.mkdir(parents=True, exist_ok=True)
            (out / rendition["key"]).write_bytes(response["Body"].read())
            metadata = response["Metadata"]
            detail = f"{metadata['width']}x{metadata['height']}, {response['ContentLength']:,} bytes"
            results.append(gallery.Result(rendition["name"], rendition["key"], detail))
        detail = outcome.get("error_message") or (f"{outcome['duration_ms']} ms" if "duration_ms" in outcome else "")
        entries.append(gallery.Entry(key, original.as_posix(), outcome["status"], len(data), results, detail))
    return entries


def rendition_keys(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    """The renditions an outcome names: the list for named renditions, else the default one."""
    if "renditions" in outcome:
        return list(outcome["renditions"])
    if outcome.get("destination_key"):
        return [{"name": "default", "key": outcome["destination_key"]}]
    return []


def serve(pipeline: LocalPipeline, pump: EventPump, out: Path) -> int:
    """Keep the emulator and the event pump running until Ctrl-C."""
    print(f"Emulator running at {pipeline.endpoint} (fake credentials: any key id and secret).")
    print("Upload from another terminal, for example:")
    print(
        f"  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --endpoint-url {pipeline.endpoint} "
        f"s3 cp photo.jpg s3://{pipeline.source_bucket}/photo.jpg"
    )
    print(f"Results land in s3://{pipeline.destination_bucket}/resized/. Ctrl-C stops.", flush=True)
    try:
        while True:
            time.sleep(1)
            for key in pump.drain_dead_letters():
                print(f"  dead-lettered {key}: the handler raised on every attempt", flush=True)
    except KeyboardInterrupt:
        print("\nStopping.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
