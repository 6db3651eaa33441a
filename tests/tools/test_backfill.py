"""The backfill against the local emulator: events the pump can process, resume, dry run, failures."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from handler import app
from local.emulator import LocalPipeline, provision, start_emulator
from local.pump import EventPump
from local.samples import encode, photo
from tools import backfill

KEYS = ["photos/a.jpg", "photos/b c.png", "photos/é.webp", "photos/d.jpg"]


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[LocalPipeline, Path]]:
    """The local pipeline with existing uploads whose events were lost (the queue is purged)."""
    server, endpoint = start_emulator()
    try:
        pipeline = provision(endpoint)
        os.environ.update(pipeline.handler_environment())
        s3 = pipeline.s3()
        for key in [*KEYS, "other/x.jpg"]:
            fmt = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[key.rsplit(".", 1)[1]]
            s3.put_object(Bucket=pipeline.source_bucket, Key=key, Body=encode(photo(300, 200), fmt))
        discard = EventPump(pipeline, lambda event, context: {})
        while queued(pipeline):  # lose the uploads' events: these objects predate the function
            discard.poll_once(wait_seconds=0)
        outputs = tmp_path / "outputs.json"
        outputs.write_text(json.dumps({"sourceBucketName": pipeline.source_bucket, "functionName": "fn"}))
        yield pipeline, outputs
    finally:
        server.stop()


def local_args(pipeline: LocalPipeline, outputs: Path, state: Path, *extra: str) -> list[str]:
    return [
        "--outputs",
        str(outputs),
        "--endpoint-url",
        pipeline.endpoint,
        "--events-queue-url",
        pipeline.events_queue_url,
        "--state",
        str(state),
        *extra,
    ]


def queued(pipeline: LocalPipeline) -> int:
    attributes = pipeline.sqs().get_queue_attributes(
        QueueUrl=pipeline.events_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_backfill_sends_events_the_pipeline_processes(emulator, tmp_path, capsys):
    pipeline, outputs = emulator
    status = backfill.main(local_args(pipeline, outputs, tmp_path / "state", "--prefix", "photos/"))
    assert status == 0
    assert "4 objects under" in capsys.readouterr().out
    pump = EventPump(pipeline, app.lambda_handler)
    while len(pump.stats.results) < 4:
        assert pump.poll_once(wait_seconds=2), "events missing"
    assert sorted(r["source_key"] for r in pump.stats.results if r["status"] == "success") == sorted(KEYS)
    listing = pipeline.s3().list_objects_v2(Bucket=pipeline.destination_bucket)["Contents"]
    assert sorted(item["Key"] for item in listing) == sorted(
        f"resized/{k}" + ("" if k.endswith(".jpg") else ".jpg") for k in KEYS
    )


def test_an_interrupted_backfill_resumes_where_it_stopped(emulator, tmp_path):
    pipeline, outputs = emulator
    state = tmp_path / "state"
    state.write_text("photos/a.jpg\nphotos/d.jpg\n")  # sent before the interruption
    assert backfill.main(local_args(pipeline, outputs, state, "--prefix", "photos/")) == 0
    assert queued(pipeline) == 2
    assert sorted(state.read_text().splitlines()) == sorted(KEYS)
    assert backfill.main(local_args(pipeline, outputs, state, "--prefix", "photos/")) == 0
    assert queued(pipeline) == 2  # nothing sent twice


def test_dry_run_sends_nothing(emulator, tmp_path, capsys):
    pipeline, outputs = emulator
    state = tmp_path / "state"
    assert backfill.main(local_args(pipeline, outputs, state, "--dry-run")) == 0
    out = capsys.readouterr().out
    assert out.count("would send") == 6  # five lines and the summary
    assert queued(pipeline) == 0 and not state.exists()


def test_failures_are_reported_and_retried_on_the_next_run(emulator, tmp_path):
    pipeline, _ = emulator
    sent: list[str] = []

    def flaky(event: dict[str, Any]) -> None:
        key = event["Records"][0]["s3"]["object"]["key"]
        if key == "photos/b+c.png" and not sent.count("failed-once"):
            sent.append("failed-once")
            raise RuntimeError("throttled")
        sent.append(key)

    state = tmp_path / "state"
    first = backfill.run(pipeline.s3(), pipeline.source_bucket, flaky, state, prefix="photos/", progress=io.StringIO())
    assert (first.sent, first.failed) == (3, ["photos/b c.png: throttled"])
    second = backfill.run(pipeline.s3(), pipeline.source_bucket, flaky, state, prefix="photos/", progress=io.StringIO())
    assert (second.already_done, second.sent, second.failed) == (3, 1, [])
    assert "photos/%C3%A9.webp" in sent  # keys are URL-encoded as S3 does


def test_stack_outputs_come_from_the_pulumi_cli(tmp_path, monkeypatch):
    fake = tmp_path / "pulumi"
    fake.write_text('#!/bin/sh\necho \'{"sourceBucketName": "b", "functionName": "f", "args": "\'"$*"\'"}\'\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    outputs = backfill.stack_outputs("dev")
    assert outputs["sourceBucketName"] == "b"
    assert outputs["args"] == "stack output --json --stack dev"


def test_lambda_sender_invokes_asynchronously():
    calls: list[dict[str, Any]] = []

    class Lambda:
        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            return {"StatusCode": 202}

    event = backfill.created_event("bucket", "a b.jpg", 10, "etag")
    backfill.lambda_sender(Lambda(), "image-processor-dev")(event)
    (call,) = calls
    assert (call["FunctionName"], call["InvocationType"]) == ("image-processor-dev", "Event")
    record = json.loads(call["Payload"])["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["object"] == {"key": "a+b.jpg", "size": 10, "eTag": "etag"}


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """What the command printed on stderr, asserted to be a single line and no traceback."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def test_without_the_pulumi_cli_the_error_says_what_to_do_instead(tmp_path, monkeypatch, capsys):
    # GIVEN no pulumi on PATH
    monkeypatch.setenv("PATH", str(tmp_path))
    # WHEN the backfill reads the stack's outputs through it
    status = backfill.main(["--stack", "dev"])
    # THEN one line says to install it or name the resources directly
    assert status == 2
    assert one_line_error(capsys).startswith(
        "backfill: pulumi not found: install it or pass --source-bucket/--function-name"
    )


def test_a_failing_pulumi_cli_is_one_line(tmp_path, monkeypatch, capsys):
    fake = tmp_path / "pulumi"
    fake.write_text("#!/bin/sh\necho 'warning: something' >&2\necho 'error: no stack named dev found' >&2\nexit 255\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert backfill.main(["--stack", "dev"]) == 2
    assert one_line_error(capsys) == (
        "backfill: pulumi stack output failed for stack 'dev': error: no stack named dev found"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "backfill: cannot read --outputs"),
        ("{not json", "is not JSON"),
        ("[1, 2]", "is not a JSON object of stack outputs"),
        ('{"functionName": "f"}', "no sourceBucketName in the stack outputs: deploy the stack (pulumi up)"),
    ],
)
def test_bad_outputs_files_are_one_line(tmp_path, capsys, content, message):
    outputs = tmp_path / "outputs.json"
    if content is not None:
        outputs.write_text(content)
    assert backfill.main(["--outputs", str(outputs)]) == 2
    assert message in one_line_error(capsys)


def test_workflow_mode_without_the_workflow_says_how_to_turn_it_on(tmp_path, capsys):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"sourceBucketName": "b", "functionName": "f"}))
    assert backfill.main(["--outputs", str(outputs), "--workflow"]) == 2
    assert "pulumi config set image-processor:backfillWorkflow true" in one_line_error(capsys)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--stack", "dev", "--concurrency", "0"],
        ["--stack", "dev", "--manifest", "s3://b/m.json"],
        ["--stack", "dev", "--workflow", "--manifest", "b/m.json"],
        ["--stack", "dev", "--workflow", "--events-queue-url", "http://q"],
        ["--stack", "dev", "--outputs", "x.json"],
    ],
)
def test_command_line_mistakes_are_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        backfill.main(argv)
    assert exit_.value.code == 2
    assert one_line_error(capsys).endswith("(see --help)")


def test_aws_refusals_are_one_line(aws_credentials, capsys):
    # GIVEN a source bucket name that does not exist
    with mock_aws():
        status = backfill.main(["--source-bucket", "no-such-bucket", "--function-name", "f", "--dry-run"])
    # THEN the AWS error is one line, not a traceback
    assert status == 2
    assert one_line_error(capsys).startswith("backfill: AWS: An error occurred (NoSuchBucket)")


def test_workflow_dry_run_names_the_input_and_starts_nothing(capsys):
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:bf"
    argv = ["--state-machine-arn", arn, "--workflow", "--manifest", "s3://inv/source/config/manifest.json", "--dry-run"]
    assert backfill.main(argv) == 0
    out = capsys.readouterr().out
    assert out.strip() == (
        f'would start {arn} with input {{"manifest": {{"bucket": "inv", "key": "source/config/manifest.json"}}}}'
    )
