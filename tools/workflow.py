"""`make backfill ARGS="--workflow"`: start (or rejoin) the backfill state machine and follow its map run."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from botocore.exceptions import ClientError

FINISHED_STATES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
REDRIVABLE = ("FAILED", "TIMED_OUT", "ABORTED")
RECENT_EXECUTIONS = 20


@dataclass(frozen=True)
class Counts:
    """Objects of a map run, from DescribeMapRun's itemCounts (a failed batch counts each of its objects)."""

    total: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0

    @classmethod
    def of(cls, item_counts: dict[str, Any]) -> Counts:
        """Timed-out and aborted objects were not processed either: they count as failed."""
        failed = sum(int(item_counts.get(name, 0)) for name in ("failed", "timedOut", "aborted"))
        succeeded = int(item_counts.get("succeeded", 0))
        total = int(item_counts.get("total", 0))
        return cls(total=total, succeeded=succeeded, failed=failed, pending=max(total - succeeded - failed, 0))

    def failed_percent(self) -> float:
        """Failed objects as a percentage of those listed."""
        return 100 * self.failed / self.total if self.total else 0.0


@dataclass(frozen=True)
class Outcome:
    """Where a followed execution ended."""

    execution_arn: str
    status: str
    counts: Counts
    tolerated_percent: float | None = None
    map_run_arn: str | None = None
    error: str = ""

    def above_tolerance(self) -> bool:
        """True when more objects failed than the map run tolerates."""
        return self.tolerated_percent is not None and self.counts.failed_percent() > self.tolerated_percent


def execution_input(prefix: str, manifest: tuple[str, str] | None = None) -> dict[str, Any]:
    """The state machine's input: an S3 Inventory manifest (bucket, key) when given, else the prefix to list."""
    if manifest is not None:
        return {"manifest": {"bucket": manifest[0], "key": manifest[1]}}
    return {"prefix": prefix}


def previous_execution(sfn: Any, state_machine_arn: str, wanted: dict[str, Any]) -> tuple[str, str] | None:
    """(ARN, status) of the latest of the recent executions with the same input, if any."""
    recent = sfn.list_executions(stateMachineArn=state_machine_arn, maxResults=RECENT_EXECUTIONS)["executions"]
    for execution in sorted(recent, key=lambda item: item["startDate"], reverse=True):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if json.loads(described.get("input") or "{}") == wanted:
            return str(execution["executionArn"]), str(described["status"])
    return None


def resume(sfn: Any, state_machine_arn: str, wanted: dict[str, Any]) -> tuple[str, str, int]:
    """Continue the same backfill: rejoin it while it runs, redrive it if it failed, else start a new one.

    A redrive re-runs only the failed and unfinished child executions of the map run. Returns the
    execution's ARN, what was done ("rejoined", "redriven" or "started") and the redrive count to wait for.
    """
    previous = previous_execution(sfn, state_machine_arn, wanted)
    if previous and previous[1] == "RUNNING":
        return previous[0], "rejoined", 0
    if previous and previous[1] in REDRIVABLE:
        redrives = int(sfn.describe_execution(executionArn=previous[0]).get("redriveCount", 0))
        try:
            sfn.redrive_execution(executionArn=previous[0])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExecutionNotRedrivable":
                raise
        else:
            return previous[0], "redriven", redrives + 1
    return start(sfn, state_machine_arn, wanted), "started", 0


def start(sfn: Any, state_machine_arn: str, wanted: dict[str, Any]) -> str:
    """Start an execution named by the time, so the console lists runs in order."""
    name = f"backfill-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    response = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(wanted))
    return str(response["executionArn"])


def follow(
    sfn: Any,
    execution_arn: str,
    draw: Callable[[Counts], None],
    *,
    poll_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    redrive_count: int = 0,
) -> Outcome:
    """Poll the execution and its map run until it ends, drawing the item counts as they change.

    After a redrive the execution reads as failed until the redrive begins: it has ended only once its
    redriveCount has reached `redrive_count`.
    """
    while True:
        status = sfn.describe_execution(executionArn=execution_arn)
        if int(status.get("redriveCount", 0)) < redrive_count:
            sleep(poll_seconds)
            continue
        runs = sfn.list_map_runs(executionArn=execution_arn)["mapRuns"]
        map_run = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"]) if runs else None
        counts = Counts.of(map_run["itemCounts"]) if map_run else Counts()
        if counts.total:  # nothing to draw while the reader has listed nothing yet
            draw(counts)
        if status["status"] in FINISHED_STATES:
            return Outcome(
                execution_arn=execution_arn,
                status=status["status"],
                counts=counts,
                tolerated_percent=float(map_run["toleratedFailurePercentage"]) if map_run else None,
                map_run_arn=str(map_run["mapRunArn"]) if map_run else None,
                error=" ".join(filter(None, (status.get("error"), status.get("cause")))),
            )
        sleep(poll_seconds)


def results_location(sfn: Any, state_machine_arn: str, map_run_arn: str) -> str:
    """The S3 folder of a map run's results (the ResultWriter's bucket and prefix, then the map run's id)."""
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=state_machine_arn)["definition"])
    writer = next(
        state["ResultWriter"]["Parameters"] for state in definition["States"].values() if "ResultWriter" in state
    )
    return f"s3://{writer['Bucket']}/{writer['Prefix']}{map_run_arn.rsplit(':', 1)[1]}/"


def report(outcome: Outcome, results: str | None, out: TextIO) -> None:
    """The summary an operator acts on: counts, tolerance, and where the failures are listed."""
    counts = outcome.counts
    tolerance = "" if outcome.tolerated_percent is None else f", tolerated {outcome.tolerated_percent:g}%"
    print(
        f"backfill {outcome.status}: {counts.total} objects, {counts.succeeded} succeeded, "
        f"{counts.failed} failed ({counts.failed_percent():.1f}%{tolerance})",
        file=out,
    )
    if outcome.above_tolerance():
        print("  stopped: more objects failed than tolerated; fix the cause, then run the same command", file=out)
    elif outcome.error:
        print(f"  error: {outcome.error}", file=out)
    if results:
        print(f"  results: {results} (failures in FAILED_*.json, per-object outcomes in SUCCEEDED_*.json)", file=out)
    print(f"  execution: {outcome.execution_arn}", file=out)
