"""Re-process existing source objects, e.g. after the sizes changed: `python -m tools.backfill --stack dev`.

Bucket and function names come from `pulumi stack output --json` (or `--outputs FILE`). Each object
under `--prefix` gets a well-formed S3 ObjectCreated event, sent to the function asynchronously (the
function's retries and failure queue apply as for uploads). Keys already sent are recorded in a state
file, so an interrupted run picks up where it stopped; `--dry-run` only lists what would be sent.
Against the local emulator: `--endpoint-url URL --events-queue-url URL` sends the events to its queue.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote_plus

import boto3

Send = Callable[[dict[str, Any]], None]


@dataclass
class Summary:
    """What a run did."""

    listed: int = 0
    already_done: int = 0
    sent: int = 0
    failed: list[str] = field(default_factory=list)


def stack_outputs(stack: str) -> dict[str, Any]:
    """The stack's outputs, as `pulumi stack output --json` prints them."""
    result = subprocess.run(
        ["pulumi", "stack", "output", "--json", "--stack", stack], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"pulumi stack output failed for stack {stack!r}: {result.stderr.strip()}")
    outputs: dict[str, Any] = json.loads(result.stdout)
    return outputs


def created_event(bucket: str, key: str, size: int, etag: str) -> dict[str, Any]:
    """The ObjectCreated event S3 would send for this object (key URL-encoded as S3 does)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "image-processor-backfill"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "backfill",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag},
                },
            }
        ]
    }


def source_objects(s3: Any, bucket: str, prefix: str) -> Iterator[tuple[str, int, str]]:
    """(key, size, ETag) of every object under `prefix`."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"], item["Size"], item["ETag"].strip('"')


def lambda_sender(client: Any, function_name: str) -> Send:
    """Invoke the function asynchronously, as S3 does."""

    def send(event: dict[str, Any]) -> None:
        response = client.invoke(FunctionName=function_name, InvocationType="Event", Payload=json.dumps(event))
        if response["StatusCode"] != 202:
            raise RuntimeError(f"invoke answered {response['StatusCode']}")

    return send


def queue_sender(client: Any, queue_url: str) -> Send:
    """Put the event on the local emulator's event queue, where the event pump picks it up."""

    def send(event: dict[str, Any]) -> None:
        client.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))

    return send


def run(
    s3: Any,
    bucket: str,
    send: Send | None,
    state_file: Path,
    *,
    prefix: str = "",
    concurrency: int = 8,
    progress: TextIO = sys.stderr,
) -> Summary:
    """Send an event for every object not yet recorded in `state_file`; `send=None` is a dry run."""
    done = set(state_file.read_text().splitlines()) if state_file.exists() else set()
    objects = list(source_objects(s3, bucket, prefix))
    todo = [item for item in objects if item[0] not in done]
    summary = Summary(listed=len(objects), already_done=len(objects) - len(todo))
    if send is None:
        for key, size, _ in todo:
            print(f"would send {key} ({size:,} bytes)")
        return summary
    lock = threading.Lock()
    state_file.parent.mkdir(parents=True, exist_ok=True)
    with state_file.open("a") as state, ThreadPoolExecutor(max_workers=concurrency) as executor:

        def one(item: tuple[str, int, str]) -> None:
            key, size, etag = item
            try:
                send(created_event(bucket, key, size, etag))
            except Exception as error:
                with lock:
                    summary.failed.append(f"{key}: {error}")
                return
            with lock:
                state.write(key + "\n")
                state.flush()
                summary.sent += 1
                _progress(progress, summary.sent + len(summary.failed), len(todo))

        list(executor.map(one, todo))
    return summary


def _progress(stream: TextIO, finished: int, total: int, width: int = 30) -> None:
    filled = width * finished // max(total, 1)
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {finished}/{total}")
    if finished == total:
        stream.write("\n")
    stream.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run, print the summary; non-zero when any event could not be sent."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="read names from `pulumi stack output --json --stack STACK`")
    where.add_argument("--outputs", type=Path, help="a JSON file of stack outputs instead")
    parser.add_argument("--prefix", default="", help="only keys starting with this")
    parser.add_argument("--concurrency", type=int, default=8, help="events in flight at once (default 8)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be sent, send nothing")
    parser.add_argument("--state", type=Path, help="resume file (default build/backfill-<stack>.state)")
    parser.add_argument("--endpoint-url", help="an AWS emulator endpoint (local runs)")
    parser.add_argument("--events-queue-url", help="with --endpoint-url: the local pipeline's event queue")
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")

    outputs = stack_outputs(args.stack) if args.stack else json.loads(args.outputs.read_text())
    bucket = outputs["sourceBucketName"]
    state = args.state or Path("build") / f"backfill-{args.stack or outputs['functionName']}.state"
    s3 = boto3.client("s3", endpoint_url=args.endpoint_url)
    send: Send | None = None
    if not args.dry_run:
        if args.events_queue_url:
            send = queue_sender(boto3.client("sqs", endpoint_url=args.endpoint_url), args.events_queue_url)
        else:
            send = lambda_sender(boto3.client("lambda", endpoint_url=args.endpoint_url), outputs["functionName"])
    summary = run(s3, bucket, send, state, prefix=args.prefix, concurrency=args.concurrency)
    verb = "would send" if args.dry_run else "sent"
    print(
        f"{summary.listed} objects under s3://{bucket}/{args.prefix}: {summary.already_done} already done "
        f"(state: {state}), {verb} {summary.listed - summary.already_done if args.dry_run else summary.sent}, "
        f"failed {len(summary.failed)}"
    )
    for failure in summary.failed:
        print(f"  failed: {failure}", file=sys.stderr)
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
