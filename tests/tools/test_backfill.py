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
