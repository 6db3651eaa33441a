"""`make demo`: the whole pipeline end to end on an embedded AWS emulator.

Uploads sample images (or yours: `make demo ARGS="path/to/images"`) to the emulated source bucket;
the emulator's own S3 event notifications are fed to the real `handler.app.lambda_handler`. Prints
each e-mail as its recipient would read it and writes what landed in the destination bucket to out/,
with out/index.html. `--serve` keeps it running with a live gallery at http://127.0.0.1:PORT/.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from handler import app
from handler.renditions import IMAGE_EXTENSIONS, parse_renditions
from local import gallery, live
from local.emulator import REGION, Email, LocalPipeline, provision, start_emulator
from local.pump import EventPump
from local.samples import BAD_DEMO_KEYS, demo_uploads

SETTLE_TIMEOUT_SECONDS = 120
DEFAULT_PORT = 8080
# The refusals the README documents for files that cannot become renditions; any other error is a defect.
DOCUMENTED_REFUSALS = frozenset({"not_an_image", "corrupt", "too_large", "timeout", "rendition_failed"})
OUT_FOLDERS = ("originals", "resized")


class UserError(Exception):
    """A mistake in how the command was called: reported in one line, never as a traceback."""


@dataclass
class Running:
    """The emulator, the pipeline in it, the event pump and, when live, the gallery server."""

    pipeline: LocalPipeline
    pump: EventPump
    feed: live.Feed
    gallery_server: ThreadingHTTPServer | None = None

    @property
    def gallery_url(self) -> str:
        """Where the live gallery is, when it runs."""
        assert self.gallery_server is not None
        host, port = self.gallery_server.server_address[:2]
        return f"http://{host!s}:{port}/"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; non-zero when a file's outcome is not the one documented for it, or on a usage error."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, help="image files or folders to upload instead of the samples")
    parser.add_argument("--serve", action="store_true", help="keep running with a live gallery for your uploads")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the live gallery's port (default 8080)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="where results and index.html go")
    parser.add_argument("--renditions", type=Path, help="a JSON file of renditions (see local/renditions.example.json)")
    args = parser.parse_args(argv)
    try:
        renditions = read_renditions(args.renditions)
        uploads = files_from(args.paths) if args.paths else demo_uploads()
        if args.paths and not uploads and not args.serve:
            raise UserError(f"no files in {', '.join(map(str, args.paths))}: nothing to upload")
        with running(args.out, renditions, args.port if args.serve else None) as run:
            if args.serve:
                return serve(run, uploads if args.paths else [], args.out)
            expected = (
                {} if args.paths else {key: "failure" if key in BAD_DEMO_KEYS else "success" for key, _ in uploads}
            )
            return run_once(run, uploads, expected, args.out)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def read_renditions(path: Path | None) -> str:
    """The renditions file's text, checked with the function's own rules; '' for the default rendition."""
    if path is None:
        return ""
    try:
        text = path.read_text()
        parse_renditions(text)
    except OSError as error:
        raise UserError(f"cannot read the renditions file {path}: {error.strerror}") from None
    except ValueError as error:
        raise UserError(f"{path}: {error}") from None
    return text


def files_from(paths: Sequence[Path]) -> list[tuple[str, bytes]]:
    """Every file under the given paths, keyed by its path relative to the folder given."""
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise UserError(f"no such file or folder: {', '.join(missing)}")
    uploads: list[tuple[str, bytes]] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        base = path if path.is_dir() else path.parent
        uploads.extend((file.relative_to(base).as_posix(), file.read_bytes()) for file in files)
    return uploads


def clear_out(out: Path) -> None:
    """Remove the previous run's results, so no page points at files that are gone."""
    for folder in OUT_FOLDERS:
        shutil.rmtree(out / folder, ignore_errors=True)
    (out / "index.html").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


@contextmanager
def running(out: Path, renditions: str, gallery_port: int | None) -> Iterator[Running]:
    """The emulator with the pipeline and its event pump; with a port, the live gallery too."""
    clear_out(out)
    logging.basicConfig(filename=out / "handler.log", filemode="w", level=logging.INFO, format="%(message)s")
    # The metric lines Lambda would turn into CloudWatch metrics go beside the log, not to the console.
    logging.getLogger("image-processor.metrics").handlers = [logging.FileHandler(out / "metrics.log", "w")]
    server, endpoint = start_emulator()
    pipeline = provision(endpoint)
    os.environ.update(pipeline.handler_environment(), **pipeline.api_environment(), RENDITIONS=renditions)
    feed = live.Feed()
    on_result: Callable[[dict[str, Any]], None] = print_result
    if gallery_port is not None:
        on_result = _showing_live(pipeline, out, feed)
    run = Running(pipeline, EventPump(pipeline, app.lambda_handler, on_result=on_result), feed)
    try:
        if gallery_port is not None:
            try:
                run.gallery_server = live.serve(out, feed, gallery_port)
            except OSError as error:
                raise UserError(
                    f"cannot serve the gallery on port {gallery_port} ({error.strerror}): "
                    f'choose another, e.g. make serve ARGS="--port {gallery_port + 1}"'
                ) from None
        run.pump.start()
        yield run
    finally:
        feed.close()
        if run.gallery_server is not None:
            run.gallery_server.shutdown()
        run.pump.stop()
        server.stop()


def _showing_live(pipeline: LocalPipeline, out: Path, feed: live.Feed) -> Callable[[dict[str, Any]], None]:
    lock = threading.Lock()

    def show(result: dict[str, Any]) -> None:
        print_result(result)
        key = str(result["source_key"])
        if result["status"] == "deleted":
            item = gallery.Entry(key, "deleted", "the source was deleted, and its renditions", gallery.Picture("", ""))
        else:
            try:
                data = pipeline.s3().get_object(Bucket=pipeline.source_bucket, Key=key)["Body"].read()
            except ClientError:  # deleted again since: its own event says so
                data = b""
            email = email_for(pipeline.sent_emails(), result)
            s3, bucket = pipeline.s3(), pipeline.destination_bucket
            item = gallery.entry(s3, bucket, out, key=key, data=data, outcome=result, email=email)
        with lock:
            feed.add(item)
            gallery.write(out, feed.entries)  # a snapshot that stays true after Ctrl-C

    return show


def email_for(emails: list[Email], outcome: dict[str, Any]) -> Email | None:
    """The e-mail an outcome produced, if it produced one."""
    matching = [
        email
        for email in emails
        if email.document.get("source_key") == outcome.get("source_key")
        and email.document.get("request_id") == outcome.get("request_id")
    ]
    return matching[-1] if matching else None


def print_result(result: dict[str, Any]) -> None:
    """One progress line per processed image."""
    key = result["source_key"]
    if result["status"] == "success":
        width, height = result["original_size"]
        new_width, new_height = result["new_size"]
        print(
            f"  ok      {key}: {result['source_format']} {width}x{height} -> {new_width}x{new_height}, "
            f"{result['bytes_in']:,} -> {result['bytes_out']:,} bytes, {result['duration_ms']} ms"
            + (f", {len(result['renditions'])} renditions" if result.get("renditions") else ""),
            flush=True,
        )
    elif result["status"] == "failure":
        print(f"  failed  {key}: {result['error_type']}: {result['error_message']}", flush=True)
    elif result["status"] == "deleted":
        print(f"  deleted {key}: its {len(result['deleted_keys'])} possible rendition keys removed", flush=True)
    else:
        print(f"  skipped {key}: {result.get('reason', '')}", flush=True)


def run_once(run: Running, uploads: list[tuple[str, bytes]], expected: dict[str, str], out: Path) -> int:
    """Upload, wait for every outcome, show the e-mails, export, and compare each outcome with the documented one."""
    pipeline = run.pipeline
    s3 = pipeline.s3()
    print(f"Emulator at {pipeline.endpoint}; uploading {len(uploads)} files to s3://{pipeline.source_bucket}/")
    for key, data in uploads:
        s3.put_object(Bucket=pipeline.source_bucket, Key=key, Body=data)
    outcomes = wait_for_outcomes(run.pump, {key for key, _ in uploads})
    emails = pipeline.sent_emails()
    entries = []
    print("\nE-mails, as each recipient reads them:")
    for key, data in uploads:
        outcome = outcomes.get(key, {"status": "no outcome", "source_key": key})
        email = email_for(emails, outcome)
        print(f"\n--- {key}")
        print(
            _indented(email.as_read()) if email else f"    (no e-mail: {outcome['status']}, {_why_no_email(outcome)})"
        )
        entries.append(
            gallery.entry(s3, pipeline.destination_bucket, out, key=key, data=data, outcome=outcome, email=email)
        )
    page = gallery.write(out, entries)
    print(f"\nResults in {out}/, gallery: {page.resolve().as_uri()}")

    problems = [
        problem
        for key, _ in uploads
        if (problem := not_as_documented(key, outcomes.get(key), email_for(emails, outcomes.get(key, {})), expected))
    ]
    if problems:
        print("\nNot as documented:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"\nAll {len(uploads)} uploads ended as documented.")
    return 0


def _indented(text: str) -> str:
    return "\n".join(f"    {line}".rstrip() for line in text.splitlines())


def _why_no_email(outcome: dict[str, Any]) -> str:
    if outcome["status"] == "dead-lettered":
        return "the function raised on every attempt; dead-lettered events send no e-mail"
    return str(outcome.get("reason") or "no notification for this outcome")


def not_as_documented(
    key: str, outcome: dict[str, Any] | None, email: Email | None, expected: dict[str, str]
) -> str | None:
    """What is wrong with a file's outcome, or None when it is the documented one.

    Documented: an image is processed and e-mailed; a file named like an image that cannot be one is
    refused with a failure e-mail (one of DOCUMENTED_REFUSALS); any other non-image (.DS_Store,
    notes.txt) is skipped without an e-mail. `expected` pins the status of files whose nature is known.
    """
    status = outcome["status"] if outcome else "no outcome"
    if key in expected and status != expected[key]:
        return f"{key}: {status}, expected {expected[key]}"
    if status == "success":
        return None if email else f"{key}: processed, but no e-mail was sent"
    if status == "failure":
        assert outcome is not None
        if outcome.get("error_type") not in DOCUMENTED_REFUSALS:
            return f"{key}: {outcome.get('error_type')}: {outcome.get('error_message')}"
        return None if email else f"{key}: refused, but no e-mail was sent"
    if status == "skipped" and not key.lower().endswith(IMAGE_EXTENSIONS):
        return None
    return f"{key}: {status}" + (f" ({outcome['reason']})" if outcome and outcome.get("reason") else "")


def wait_for_outcomes(pump: EventPump, keys: set[str]) -> dict[str, dict[str, Any]]:
    """Outcome per key: the handler's summary, or status 'dead-lettered' after the retries ran out."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    outcomes: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and not keys <= outcomes.keys():
        time.sleep(0.2)
        with pump.stats.lock:
            outcomes.update((result["source_key"], result) for result in pump.stats.results)
        outcomes.update((key, {"status": "dead-lettered", "source_key": key}) for key in pump.drain_dead_letters())
    return outcomes


def local_backfill_command(pipeline: LocalPipeline, out: Path) -> str:
    """Write the emulator's stack outputs to out/outputs.json; return the `make backfill` command that uses them."""
    outputs = out / "outputs.json"
    outputs.write_text(json.dumps(pipeline.stack_outputs(), indent=2))
    return (
        f"AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION={REGION} make backfill "
        f'ARGS="--outputs {outputs} --endpoint-url {pipeline.endpoint} --events-queue-url {pipeline.events_queue_url}"'
    )


def serve(run: Running, uploads: list[tuple[str, bytes]], out: Path) -> int:
    """Keep the emulator, the pump and the live gallery running until Ctrl-C."""
    pipeline = run.pipeline
    print(f"Live gallery: {run.gallery_url}  (drop images on the page to upload them)")
    print(
        f"Upload API (docs/api.md), as a local IAM user: POST {run.gallery_url}uploads, "
        f"GET and DELETE {run.gallery_url}images/<key>"
    )
    print(f"Emulator at {pipeline.endpoint} (fake credentials: any key id and secret). From a terminal:")
    print(
        f"  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --endpoint-url {pipeline.endpoint} "
        f"s3 cp photo.jpg s3://{pipeline.source_bucket}/photo.jpg"
    )
    print("Re-process what is in the source bucket (local backfill), from another terminal:")
    print(f"  {local_backfill_command(pipeline, out)}")
    print(f"Results land in s3://{pipeline.destination_bucket}/resized/. Ctrl-C stops.", flush=True)
    for key, data in uploads:
        pipeline.s3().put_object(Bucket=pipeline.source_bucket, Key=key, Body=data)
    try:
        while True:
            time.sleep(1)
            for key in run.pump.drain_dead_letters():
                print(f"  dead-lettered {key}: the handler raised on every attempt (no e-mail is sent)", flush=True)
                detail = _why_no_email({"status": "dead-lettered"})
                run.feed.add(gallery.Entry(key, "dead-lettered", detail, gallery.Picture("", "")))
    except KeyboardInterrupt:
        print("\nStopping.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
