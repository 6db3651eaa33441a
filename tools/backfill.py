"""Re-process existing source objects, e.g. after the sizes changed: `python -m tools.backfill --stack dev`.

Bucket and function names come from `pulumi stack output --json` (or `--outputs FILE`, or
`--source-bucket`/`--function-name`). Each object under `--prefix` gets a well-formed S3 ObjectCreated
event, sent to the function asynchronously (the function's retries and failure queue apply as for
uploads). Keys already sent are recorded in a state file, so an interrupted run picks up where it
stopped; `--dry-run` only lists what would be sent. Against the local emulator: `--endpoint-url URL
--events-queue-url URL` sends the events to its queue.

`--workflow` hands the whole job to the stack's backfill state machine (config `backfillWorkflow`):
AWS lists the objects (or reads `--manifest s3://bucket/manifest.json`, an S3 Inventory manifest) and
this command only shows progress. Interrupting it leaves the execution running; the same command
rejoins it, or redrives it (only the failed and unfinished work runs again) when it failed.
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
from typing import Any, NoReturn, TextIO
from urllib.parse import quote_plus

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tools import workflow

Send = Callable[[dict[str, Any]], None]


@dataclass
class Summary:
    """What a run did."""

    listed: int = 0
    already_done: int = 0
    sent: int = 0
    failed: list[str] = field(default_factory=list)


class UsageError(Exception):
    """A mistake the user can fix; printed as one line, never a traceback."""


def stack_outputs(stack: str) -> dict[str, Any]:
    """The stack's outputs, as `pulumi stack output --json` prints them."""
    try:
        result = subprocess.run(
            ["pulumi", "stack", "output", "--json", "--stack", stack], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise UsageError(
            "pulumi not found: install it or pass --source-bucket/--function-name "
            "(or --outputs FILE) instead of --stack"
        ) from None
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1:] or ["no output"]
        raise UsageError(f"pulumi stack output failed for stack {stack!r}: {reason[0]}")
    return _json_object(result.stdout, f"pulumi stack output for {stack!r}")


def read_outputs(path: Path) -> dict[str, Any]:
    """Stack outputs saved with `pulumi stack output --json > FILE`."""
    try:
        text = path.read_text()
    except OSError as error:
        raise UsageError(f"cannot read --outputs {path}: {error.strerror or error}") from None
    return _json_object(text, f"--outputs {path}")


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{what} is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{what} is not a JSON object of stack outputs")
    return value


def required(outputs: dict[str, Any], key: str, hint: str) -> str:
    """One stack output, or an error saying how to get it."""
    value = outputs.get(key)
    if not isinstance(value, str) or not value:
        raise UsageError(f"no {key} in the stack outputs: {hint}")
    return value


def created_event(bucket: str, key: str, size: int, etag: str) -> dict[str, Any]:
    """The ObjectCreated event S3 would send for this object (key URL-encoded as S3 does), without e-mail.

    `"notify": false` keeps a backfill from e-mailing once per object, and lets the function skip
    objects whose renditions are current (docs/events.md, "Re-runs").
    """
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
        ],
        "notify": False,
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


def _progress(stream: TextIO, finished: int, total: int, width: int = 30, detail: str = "") -> None:
    filled = width * finished // max(total, 1)
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {finished}/{total}{detail}")
    if finished == total:
        stream.write("\n")
    stream.flush()


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (the full usage is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"backfill: {message} (see --help)\n")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; a mistake in it exits 2 with one line."""
    parser = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack", help="read names from `pulumi stack output --json --stack STACK`")
    where.add_argument("--outputs", type=Path, help="a JSON file of stack outputs instead")
    parser.add_argument("--source-bucket", help="the source bucket (instead of the stack output)")
    parser.add_argument("--function-name", help="the image function (instead of the stack output)")
    parser.add_argument(
        "--state-machine-arn", help="with --workflow: the backfill state machine (instead of the output)"
    )
    parser.add_argument("--prefix", default="", help="only keys starting with this")
    parser.add_argument("--concurrency", type=int, default=8, help="events in flight at once (default 8)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be sent, send nothing")
    parser.add_argument("--state", type=Path, help="resume file (default build/backfill-<stack>.state)")
    parser.add_argument("--endpoint-url", help="an AWS emulator endpoint (local runs)")
    parser.add_argument("--events-queue-url", help="with --endpoint-url: the local pipeline's event queue")
    parser.add_argument("--workflow", action="store_true", help="run on the stack's Step Functions backfill workflow")
    parser.add_argument("--manifest", help="with --workflow: an S3 Inventory manifest, s3://bucket/key/manifest.json")
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if not (args.stack or args.outputs or args.source_bucket or args.state_machine_arn):
        parser.error("say which stack: --stack STACK, --outputs FILE, or --source-bucket/--function-name")
    if args.workflow and args.events_queue_url:
        parser.error("--workflow runs in AWS; --events-queue-url is for the local pipeline")
    if args.manifest and not args.workflow:
        parser.error("--manifest needs --workflow")
    if args.manifest and not (args.manifest.startswith("s3://") and "/" in args.manifest[5:]):
        parser.error(f"--manifest must look like s3://bucket/path/manifest.json, got {args.manifest!r}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run; user mistakes and AWS refusals end in one line on stderr, exit 2."""
    args = parse_args(argv)
    try:
        return run_workflow(args) if args.workflow else run_local(args)
    except UsageError as error:
        print(f"backfill: {error}", file=sys.stderr)
    except (BotoCoreError, ClientError) as error:
        print(f"backfill: AWS: {error}", file=sys.stderr)
    except OSError as error:
        print(f"backfill: {error}", file=sys.stderr)
    return 2


def outputs_of(args: argparse.Namespace) -> dict[str, Any]:
    """Stack outputs from pulumi or a file, overridden by names given on the command line."""
    outputs = stack_outputs(args.stack) if args.stack else read_outputs(args.outputs) if args.outputs else {}
    given = {
        "sourceBucketName": args.source_bucket,
        "functionName": args.function_name,
        "backfillStateMachineArn": args.state_machine_arn,
    }
    return {**outputs, **{key: value for key, value in given.items() if value}}


def run_local(args: argparse.Namespace) -> int:
    """List from this machine and send one event per object; non-zero when any event could not be sent."""
    outputs = outputs_of(args)
    bucket = required(outputs, "sourceBucketName", "deploy the stack (pulumi up) or pass --source-bucket")
    state = args.state or Path("build") / f"backfill-{args.stack or outputs.get('functionName', bucket)}.state"
    s3 = boto3.client("s3", endpoint_url=args.endpoint_url)
    send: Send | None = None
    if not args.dry_run:
        if args.events_queue_url:
            send = queue_sender(boto3.client("sqs", endpoint_url=args.endpoint_url), args.events_queue_url)
        else:
            function = required(outputs, "functionName", "deploy the stack (pulumi up) or pass --function-name")
            send = lambda_sender(boto3.client("lambda", endpoint_url=args.endpoint_url), function)
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


def run_workflow(args: argparse.Namespace, progress: TextIO = sys.stderr, poll_seconds: float = 2.0) -> int:
    """Start (or rejoin) a workflow execution, follow it with a progress bar, print where failures are."""
    arn = required(
        outputs_of(args),
        "backfillStateMachineArn",
        "pulumi config set image-processor:backfillWorkflow true && pulumi up, or pass --state-machine-arn",
    )
    bucket, _, key = (args.manifest or "")[len("s3://") :].partition("/")
    wanted = workflow.execution_input(args.prefix, (bucket, key) if args.manifest else None)
    if args.dry_run:
        print(f"would start {arn} with input {json.dumps(wanted)}")
        return 0
    sfn = boto3.client("stepfunctions", endpoint_url=args.endpoint_url)
    execution, action, redrive_count = workflow.resume(sfn, arn, wanted)
    print(f"{action} {execution}", file=progress)
    try:
        outcome = workflow.follow(
            sfn,
            execution,
            lambda counts: _progress(
                progress,
                counts.succeeded + counts.failed,
                counts.total,
                detail=f" succeeded {counts.succeeded}, failed {counts.failed}, pending {counts.pending}",
            ),
            poll_seconds=poll_seconds,
            redrive_count=redrive_count,
        )
    except KeyboardInterrupt:
        print(
            f"\nstopped watching; the execution keeps running: {execution}\n"
            "run the same command to follow it again, or stop it with "
            f"`aws stepfunctions stop-execution --execution-arn {execution}`",
            file=sys.stderr,
        )
        return 130
    results = workflow.results_location(sfn, arn, outcome.map_run_arn) if outcome.map_run_arn else None
    workflow.report(outcome, results, sys.stdout)
    return 0 if outcome.status == "SUCCEEDED" and not outcome.counts.failed else 1


if __name__ == "__main__":
    sys.exit(main())
