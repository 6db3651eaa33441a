"""The backfill state machine run by moto's Step Functions interpreter over a real moto bucket listing.

What moto (5.2) executes of our definition: the Choice between readers, the Pass for a missing prefix,
the Distributed Map with its ItemReader (ListObjectsV2 on the moto bucket), ItemSelector (the S3
record built from each listed object), MaxConcurrency, the lambda:invoke Task's Parameters and
OutputPath, its Retry on Lambda.TooManyRequestsException and on a function error, map-run item
counts (DescribeMapRun) and the ResultWriter's manifest in the results bucket.

Substitutes, because moto cannot do these:
- Lambda: moto runs functions in Docker, which is not available. The Task's invoke is patched to call
  the real `handler.app.lambda_handler` in-process with the exact payload the state machine built, and
  to answer as Lambda does (FunctionError and errorType when the handler raises).
- ItemBatcher: moto's ASL parser has no ItemBatcher. The map runs remove it and send each record in a
  one-record batch (`Records.$: States.Array($)` instead of `$.Items`); every other field runs as deployed.
  The batch step as deployed (`Records.$: $.Items`) runs on its own, fed what ItemBatcher hands a child
  (`{"Items": [...]}`, the records built by a small ItemSelector substitute, `selected`).
- ToleratedFailurePercentage: moto records it in DescribeMapRun but never fails the map run, so the
  test checks the counts against it the way the CLI does (`workflow.Outcome.above_tolerance`).
- ResultWriter: moto writes the manifest.json only, not the SUCCEEDED/FAILED files.
- ItemReader MANIFEST (S3 Inventory) is not supported by moto: the inventory branch is checked as
  data under the Pulumi mocks (tests/infra/test_backfill_workflow.py), not run.
- S3 ListObjectsV2 in moto's reader reads one page (1000 keys) and fails on an empty listing.
- RedriveExecution is not in moto: the client wrapper records the request (or refuses it) instead.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from components.backfill_workflow import BackfillWorkflowArgs, definition
from handler import app
from local.samples import encode, photo
from tests.conftest import DESTINATION, REGION, SOURCE, LambdaContext, clear_caches
from tools import backfill, workflow

RESULTS = "image-processor-backfill-results-test"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:image-processor-test"
KEYS = ["photos/a+b.jpg", "photos/b c.png", "photos/é.webp", "photos/100% d.jpg", "photos/e.jpg", "photos/f.png"]
ARGS = BackfillWorkflowArgs(
    state_machine_name="image-processor-test-backfill",
    function_arn=FUNCTION_ARN,
    source_bucket_name=SOURCE,
    source_bucket_arn=f"arn:aws:s3:::{SOURCE}",
    results_bucket_name=RESULTS,
    region=REGION,
    max_concurrency=3,
    tolerated_failure_percent=10,
    retry_interval_seconds=1,
)


def moto_definition() -> str:
    """The deployed definition, minus ItemBatcher (moto cannot parse it): batches of one record."""
    document = json.loads(definition(ARGS, FUNCTION_ARN, SOURCE, f"arn:aws:s3:::{SOURCE}"))
    for state in document["States"].values():
        if state.get("ItemBatcher"):
            del state["ItemBatcher"]
            payload = state["ItemProcessor"]["States"]["ProcessBatch"]["Parameters"]["Payload"]
            assert payload["Records.$"] == "$.Items"
            payload["Records.$"] = "States.Array($)"
    return json.dumps(document)


@dataclass
class FakeLambda:
    """Lambda as the state machine sees it, running the real handler in this process."""

    throttle: Counter[str] = field(default_factory=Counter)  # key -> throttles left before it is let through
    broken: set[str] = field(default_factory=set)  # keys whose invocation always fails
    flaky: Counter[str] = field(default_factory=Counter)  # key -> function errors left before it works
    gate: threading.Event = field(default_factory=threading.Event)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)  # every invocation, throttled ones included
    visited: Counter[str] = field(default_factory=Counter)  # invocations that ran the function
    lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        assert parameters["FunctionName"] == FUNCTION_ARN
        event = json.loads(parameters["Payload"])
        keys = [record["s3"]["object"]["key"] for record in event["Records"]]
        self.gate.wait(timeout=30)
        with self.lock:
            self.payloads.append(event)
            self.attempts.update(keys)
            throttled = [key for key in keys if self.throttle[key] > 0]
            for key in throttled:
                self.throttle[key] -= 1
            if not throttled:
                self.visited.update(keys)
        if throttled:
            raise ClientError(
                {
                    "Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 429, "RequestId": "r"},
                },
                "Invoke",
            )
        with self.lock:
            flaky = [key for key in keys if self.flaky[key] > 0]
            for key in flaky:
                self.flaky[key] -= 1
        if flaky or self.broken & set(keys):
            error = {"errorType": "ClientError", "errorMessage": "An error occurred (SlowDown) when calling PutObject"}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": error}
        return {"StatusCode": 200, "Payload": app.lambda_handler(event, LambdaContext())}


class StepFunctions:
    """moto's client, except that ListMapRuns answers "none yet" instead of crashing on a just-started execution."""

    def __init__(self) -> None:
        self._client = boto3.client("stepfunctions", region_name=REGION)
        self.redriven = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    redriven: list[str]
    not_redrivable: bool = False

    def redrive_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        """moto has no RedriveExecution: record the request (or refuse it, as AWS does after 14 days)."""
        if self.not_redrivable:
            raise ClientError({"Error": {"Code": "ExecutionNotRedrivable", "Message": "too old"}}, "RedriveExecution")
        self.redriven.append(executionArn)
        return {"redriveDate": "now"}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803
        return {
            **self._client.describe_execution(executionArn=executionArn),
            "redriveCount": self.redriven.count(executionArn),
        }

    def list_map_runs(self, **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(self._client.list_map_runs(**kwargs))
        except AttributeError:  # moto: the execution's worker has no environment yet
            return {"mapRuns": []}


@dataclass
class Machine:
    arn: str
    fake: FakeLambda
    sfn: Any
    s3: Any

    def run(self, execution_input: dict[str, Any]) -> workflow.Outcome:
        execution_arn = workflow.start(self.sfn, self.arn, execution_input)
        return workflow.follow(self.sfn, execution_arn, lambda counts: None, poll_seconds=0.05)


@pytest.fixture
def machine(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Machine]:
    """The image pipeline in moto, existing uploads, and the backfill state machine with a fake Lambda."""
    fake = FakeLambda()
    fake.gate.set()
    monkeypatch.setattr(lambda_eval_utils, "_invoke_lambda_function", fake.invoke)
    monkeypatch.setattr(retrier_decl, "time", type("NoWait", (), {"sleep": staticmethod(lambda seconds: None)}))
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (SOURCE, DESTINATION, RESULTS):
            s3.create_bucket(Bucket=bucket)
        for key in [*KEYS, "other/x.jpg"]:
            fmt = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[key.rsplit(".", 1)[1]]
            s3.put_object(Bucket=SOURCE, Key=key, Body=encode(photo(64, 48), fmt))
        topic_arn = boto3.client("sns", region_name=REGION).create_topic(Name="notifications")["TopicArn"]
        monkeypatch.setenv("SOURCE_BUCKET", SOURCE)
        monkeypatch.setenv("DESTINATION_BUCKET", DESTINATION)
        monkeypatch.setenv("SNS_TOPIC_ARN", topic_arn)
        clear_caches()
        sfn = StepFunctions()
        arn = sfn.create_state_machine(
            name=ARGS.state_machine_name,
            definition=moto_definition(),
            roleArn="arn:aws:iam::123456789012:role/backfill",
        )["stateMachineArn"]
        yield Machine(arn, fake, sfn, s3)
    clear_caches()


def renditions(s3: Any) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=DESTINATION).get("Contents", []))


def test_every_object_under_the_prefix_is_visited_exactly_once_without_email(machine):
    # GIVEN six images under photos/ and one elsewhere
    # WHEN the workflow runs for the prefix
    outcome = machine.run({"prefix": "photos/"})
    # THEN each listed object reached the real handler once, as an S3 record with notify off, and was rendered
    assert outcome.status == "SUCCEEDED"
    assert machine.fake.visited == Counter(KEYS)
    assert all(
        event["notify"] is False
        and event["keyEncoding"] == "none"
        and set(event) == {"Records", "notify", "keyEncoding"}
        for event in machine.fake.payloads
    )
    (record,) = machine.fake.payloads[0]["Records"]
    assert (record["eventName"], record["s3"]["bucket"]["name"]) == ("ObjectCreated:Put", SOURCE)
    assert renditions(machine.s3) == sorted(f"resized/{key}" + ("" if key.endswith(".jpg") else ".jpg") for key in KEYS)
    assert outcome.counts == workflow.Counts(total=6, succeeded=6, failed=0, pending=0)


def test_no_prefix_in_the_input_means_the_whole_bucket(machine):
    outcome = machine.run({})
    assert outcome.status == "SUCCEEDED"
    assert machine.fake.visited == Counter([*KEYS, "other/x.jpg"])


def test_throttled_invocations_are_retried_and_still_visit_once(machine):
    # GIVEN Lambda throttles one object's invocation twice
    machine.fake.throttle["photos/100% d.jpg"] = 2
    # WHEN the workflow runs
    outcome = machine.run({"prefix": "photos/"})
    # THEN the Retry policy re-invoked it until it got through, and nothing failed
    assert machine.fake.attempts["photos/100% d.jpg"] == 3
    assert machine.fake.visited == Counter(KEYS)
    assert (outcome.status, outcome.counts.failed) == ("SUCCEEDED", 0)


def test_a_function_error_is_retried_once(machine):
    # GIVEN the function raises once for one object (a transient S3 error it does not absorb)
    machine.fake.flaky["photos/a+b.jpg"] = 1
    # WHEN the workflow runs
    outcome = machine.run({"prefix": "photos/"})
    # THEN the batch was tried again and succeeded
    assert machine.fake.attempts["photos/a+b.jpg"] == 2
    assert (outcome.status, outcome.counts.failed, outcome.counts.succeeded) == ("SUCCEEDED", 0, 6)


def test_failures_are_counted_against_the_tolerance_and_results_are_written(machine):
    # GIVEN one object of six whose invocation keeps failing (tried twice)
    machine.fake.broken.add("photos/e.jpg")
    # WHEN the workflow runs with 10% tolerated
    outcome = machine.run({"prefix": "photos/"})
    assert machine.fake.attempts["photos/e.jpg"] == 2
    # THEN the map run counts it failed; 1 of 6 (16.7%) is above the 10% tolerance
    assert outcome.counts == workflow.Counts(total=6, succeeded=5, failed=1, pending=0)
    assert outcome.tolerated_percent == 10
    assert outcome.above_tolerance()
    # AND the results manifest is in the results bucket, under the map run's id
    assert outcome.map_run_arn is not None
    location = workflow.results_location(machine.sfn, machine.arn, outcome.map_run_arn)
    run_id = outcome.map_run_arn.rsplit(":", 1)[1]
    assert location == f"s3://{RESULTS}/backfill-results/{run_id}/"
    keys = [item["Key"] for item in machine.s3.list_objects_v2(Bucket=RESULTS)["Contents"]]
    assert keys == [f"backfill-results/{run_id}/manifest.json"]


def test_the_command_starts_an_execution_shows_progress_and_says_where_failures_are(
    machine, tmp_path, capsys, monkeypatch
):
    machine.fake.broken.add("photos/e.jpg")
    args = command_args(machine, tmp_path, monkeypatch)
    progress = io.StringIO()
    status = backfill.run_workflow(args, progress=progress, poll_seconds=0.05)
    assert status == 1  # an object failed
    bar = progress.getvalue()
    assert "started arn:aws:states:" in bar
    assert "6/6 succeeded 5, failed 1, pending 0" in bar
    out = capsys.readouterr().out
    assert "6 objects, 5 succeeded, 1 failed (16.7%, tolerated 10%)" in out
    assert "stopped: more objects failed than tolerated" in out
    assert f"results: s3://{RESULTS}/backfill-results/" in out and "FAILED_*.json" in out


def test_running_the_command_again_rejoins_the_running_execution(machine, tmp_path, monkeypatch):
    # GIVEN an execution for photos/ that is still running (the function is held back)
    machine.fake.gate.clear()
    first = workflow.start(machine.sfn, machine.arn, {"prefix": "photos/"})
    args = command_args(machine, tmp_path, monkeypatch)
    progress = io.StringIO()
    # WHEN the command runs again and the function is let go
    threading.Timer(0.5, machine.fake.gate.set).start()
    status = backfill.run_workflow(args, progress=progress, poll_seconds=0.05)
    # THEN it followed the same execution instead of starting a second one
    assert status == 0
    assert f"rejoined {first}" in progress.getvalue()
    assert len(machine.sfn.list_executions(stateMachineArn=machine.arn)["executions"]) == 1
    assert machine.fake.visited == Counter(KEYS)


def command_args(machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """`--outputs FILE --workflow --prefix photos/`, with the command talking to this moto client."""
    monkeypatch.setattr(backfill, "boto3", SimpleNamespace(client=lambda service, **kwargs: machine.sfn))
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"sourceBucketName": SOURCE, "backfillStateMachineArn": machine.arn}))
    return backfill.parse_args(["--outputs", str(outputs), "--workflow", "--prefix", "photos/"])


def test_the_definition_is_used_as_deployed_apart_from_batching():
    deployed = json.loads(definition(ARGS, FUNCTION_ARN, SOURCE, f"arn:aws:s3:::{SOURCE}"))
    tested = json.loads(moto_definition())
    expected = copy.deepcopy(deployed)
    listing = expected["States"]["ProcessListing"]
    del listing["ItemBatcher"]
    listing["ItemProcessor"]["States"]["ProcessBatch"]["Parameters"]["Payload"]["Records.$"] = "States.Array($)"
    del expected["States"]["ProcessInventory"]  # not configured: a Fail state, not a Map, so left as is
    del tested["States"]["ProcessInventory"]
    assert tested == expected


def test_a_manifest_without_an_inventory_bucket_fails_saying_which_key_to_set(machine, tmp_path, capsys, monkeypatch):
    # GIVEN a stack without backfillInventoryBucket
    args = command_args(machine, tmp_path, monkeypatch)
    args.manifest = "s3://inventories/source/daily/manifest.json"
    # WHEN the command asks for an S3 Inventory run
    status = backfill.run_workflow(args, progress=io.StringIO(), poll_seconds=0.05)
    # THEN the Choice took the inventory branch, which fails at once naming the setting; nothing was invoked
    assert status == 1
    out = capsys.readouterr().out
    assert "backfill FAILED: 0 objects" in out
    assert "Backfill.NoInventoryBucket set backfillInventoryBucket" in out
    assert machine.fake.payloads == []


def test_interrupting_the_command_leaves_the_execution_running_and_says_so(machine, tmp_path, capsys, monkeypatch):
    args = command_args(machine, tmp_path, monkeypatch)

    def interrupted(*args: Any, **kwargs: Any) -> workflow.Outcome:
        raise KeyboardInterrupt

    monkeypatch.setattr(workflow, "follow", interrupted)
    assert backfill.run_workflow(args, progress=io.StringIO(), poll_seconds=0.05) == 130
    err = capsys.readouterr().err
    assert "stopped watching; the execution keeps running" in err
    assert "run the same command to follow it again" in err
    assert "aws stepfunctions stop-execution --execution-arn arn:aws:states:" in err


def test_timed_out_and_aborted_objects_count_as_failed_and_the_rest_as_pending():
    counts = workflow.Counts.of(
        {"total": 100, "succeeded": 80, "failed": 3, "timedOut": 1, "aborted": 1, "running": 10, "pending": 5}
    )
    assert counts == workflow.Counts(total=100, succeeded=80, failed=5, pending=15)
    assert counts.failed_percent() == 5.0
    at_limit = workflow.Outcome("arn", "SUCCEEDED", counts, tolerated_percent=5.0)
    assert not at_limit.above_tolerance()
    assert workflow.Outcome("arn", "FAILED", counts, tolerated_percent=4.9).above_tolerance()


def test_running_the_command_after_a_failure_redrives_that_execution(machine, tmp_path, capsys, monkeypatch):
    # GIVEN an execution for the same input that failed
    args = command_args(machine, tmp_path, monkeypatch)
    args.manifest = "s3://inventories/source/daily/manifest.json"
    assert backfill.run_workflow(args, progress=io.StringIO(), poll_seconds=0.05) == 1
    (failed,) = [e["executionArn"] for e in machine.sfn.list_executions(stateMachineArn=machine.arn)["executions"]]
    # WHEN the same command runs again
    progress = io.StringIO()
    backfill.run_workflow(args, progress=progress, poll_seconds=0.05)
    # THEN it asked Step Functions to redrive that execution (only its failed work) instead of starting anew
    assert machine.sfn.redriven == [failed]
    assert f"redriven {failed}" in progress.getvalue()
    assert len(machine.sfn.list_executions(stateMachineArn=machine.arn)["executions"]) == 1


def test_an_execution_too_old_to_redrive_is_started_again(machine, tmp_path, monkeypatch):
    args = command_args(machine, tmp_path, monkeypatch)
    args.manifest = "s3://inventories/source/daily/manifest.json"
    backfill.run_workflow(args, progress=io.StringIO(), poll_seconds=0.05)
    machine.sfn.not_redrivable = True
    progress = io.StringIO()
    backfill.run_workflow(args, progress=progress, poll_seconds=0.05)
    assert "started arn:aws:states:" in progress.getvalue()
    assert len(machine.sfn.list_executions(stateMachineArn=machine.arn)["executions"]) == 2


def selected(template: Any, item: dict[str, Any]) -> Any:
    """The ItemSelector applied to one listed object (the only paths it uses: the item's fields, start time)."""
    if isinstance(template, dict):
        return {
            name.removesuffix(".$"): (
                item[value.rsplit(".", 1)[1]] if value.startswith("$$.Map.Item.Value.") else "2026-11-25T12:00:00Z"
            )
            if name.endswith(".$")
            else selected(value, item)
            for name, value in template.items()
        }
    return template


def test_a_batch_is_one_invocation_of_the_real_handler_for_all_its_records(machine):
    # GIVEN the deployed batch step as its own state machine (moto runs it; ItemBatcher it cannot),
    # fed what ItemBatcher hands a child execution: {"Items": [the selected records]}
    deployed = json.loads(definition(ARGS, FUNCTION_ARN, SOURCE, f"arn:aws:s3:::{SOURCE}"))["States"]["ProcessListing"]
    processor = {key: value for key, value in deployed["ItemProcessor"].items() if key != "ProcessorConfig"}
    batch_step = machine.sfn.create_state_machine(
        name="batch-step", definition=json.dumps(processor), roleArn="arn:aws:iam::123456789012:role/backfill"
    )["stateMachineArn"]
    listed = machine.s3.list_objects_v2(Bucket=SOURCE, Prefix="photos/")["Contents"]
    items = [selected(deployed["ItemSelector"], item) for item in listed]
    # WHEN the child execution runs
    execution = workflow.start(machine.sfn, batch_step, {"Items": items})
    outcome = workflow.follow(machine.sfn, execution, lambda counts: None, poll_seconds=0.05)
    # THEN one invocation carried all six records, and the handler rendered every one
    assert outcome.status == "SUCCEEDED"
    (payload,) = machine.fake.payloads
    assert len(payload["Records"]) == 6 and payload["notify"] is False
    assert machine.fake.visited == Counter(KEYS)
    output = json.loads(machine.sfn.describe_execution(executionArn=execution)["output"])
    assert sorted(result["status"] for result in output["results"]) == ["success"] * 6
