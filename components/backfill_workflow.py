"""BackfillWorkflow: a Step Functions Distributed Map that re-processes existing source objects at scale."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import policies
from components.args import ArgError, between, one_of
from components.naming import validate_bucket_name
from components.notifying_function import LOG_RETENTION_DAYS
from components.processed_bucket_pair import ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS, private_bucket, tls_only_policy

RESULTS_PREFIX = "backfill-results/"
# The Map state's error above tolerance (not caught, so a redrive re-runs only the failed batches).
ABOVE_TOLERANCE = "States.ExceedToleratedFailureThreshold"
METRIC_NAMESPACE = "ImageProcessor/Backfill"
# Lambda's transient answers, as the Lambda service integration names them.
TRANSIENT_LAMBDA_ERRORS = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.SdkClientException",
    "Lambda.AWSLambdaException",
)
MAX_DISTRIBUTED_CONCURRENCY = 10_000


@dataclass(frozen=True)
class BackfillWorkflowArgs:
    """Which function re-processes which bucket, how hard, and where the results go."""

    state_machine_name: str
    function_arn: pulumi.Input[str]
    source_bucket_name: pulumi.Input[str]
    source_bucket_arn: pulumi.Input[str]
    results_bucket_name: str
    region: str
    max_concurrency: int = 100
    tolerated_failure_percent: float = 5.0
    batch_size: int = 10
    log_retention_days: int = 30
    results_retention_days: int = 90
    listing_prefixes: Sequence[str] = ()
    inventory_bucket_arn: pulumi.Input[str] | None = None
    kms_key_arn: str | None = None
    force_destroy: bool = False
    retry_interval_seconds: int = 2

    def __post_init__(self) -> None:
        if not re.match(r"^[A-Za-z0-9_-]{1,80}$", self.state_machine_name):
            raise ArgError(
                "state_machine_name", f"must be 1-80 letters, digits, - or _, got {self.state_machine_name!r}"
            )
        validate_bucket_name(self.results_bucket_name, "results_bucket_name")
        between("max_concurrency", self.max_concurrency, 1, MAX_DISTRIBUTED_CONCURRENCY)
        between("tolerated_failure_percent", self.tolerated_failure_percent, 0, 100)
        between("batch_size", self.batch_size, 1, 100)
        one_of("log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)
        between("results_retention_days", self.results_retention_days, 1, 36500)
        between("retry_interval_seconds", self.retry_interval_seconds, 1, 12)
        if self.kms_key_arn is not None and not self.kms_key_arn.startswith("arn:"):
            raise ArgError("kms_key_arn", f"must be a KMS key ARN, got {self.kms_key_arn!r}")


def backfill_record(bucket: str | None = None, bucket_arn: str | None = None) -> dict[str, Any]:
    """ItemSelector: one listed object -> the ObjectCreated record S3 sends.

    `bucket` None: an S3 Inventory item, which names its own bucket and may lack the optional Size
    column. No eTag: the listing quotes it and an inventory may be stale, so the function renders
    whatever object is current under the key, which is what a backfill wants.
    """
    item = "$$.Map.Item.Value"
    listed = bucket is not None
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime.$": "$$.Execution.StartTime",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "image-processor-backfill"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "backfill",
            "bucket": {"name": bucket, "arn": bucket_arn} if listed else {"name.$": f"{item}.Bucket"},
            "object": {"key.$": f"{item}.Key", **({"size.$": f"{item}.Size"} if listed else {})},
        },
    }


def _item_processor(function_arn: str, retry_interval_seconds: int, key_encoding: str) -> dict[str, Any]:
    """Each batch of records is one invocation of the image function, without e-mail (interfaces item 8).

    `key_encoding` tells the function how the records' keys are written: a listing gives raw keys
    ("none": JSONPath cannot URL-encode), an S3 Inventory gives URL-encoded ones ("url", as S3 events do).
    """
    return {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "ProcessBatch",
        "States": {
            "ProcessBatch": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": function_arn,
                    "Payload": {"Records.$": "$.Items", "notify": False, "keyEncoding": key_encoding},
                },
                "OutputPath": "$.Payload",
                "Retry": [
                    {
                        "ErrorEquals": list(TRANSIENT_LAMBDA_ERRORS),
                        "IntervalSeconds": retry_interval_seconds,
                        "MaxAttempts": 6,
                        "BackoffRate": 2,
                        "JitterStrategy": "FULL",
                    },
                    {
                        # The function raises only for transient AWS errors, after trying every record;
                        # processing is idempotent, so one more try is safe.
                        "ErrorEquals": ["States.TaskFailed"],
                        "IntervalSeconds": retry_interval_seconds * 5,
                        "MaxAttempts": 1,
                    },
                ],
                "End": True,
            }
        },
    }


def _distributed_map(
    reader: dict[str, Any], record: dict[str, Any], processor: dict[str, Any], args: BackfillWorkflowArgs
) -> dict[str, Any]:
    return {
        "Type": "Map",
        "Label": "Backfill",
        "ItemReader": reader,
        "ItemSelector": record,
        "ItemBatcher": {"MaxItemsPerBatch": args.batch_size},
        "ItemProcessor": processor,
        "MaxConcurrency": args.max_concurrency,
        "ToleratedFailurePercentage": float(args.tolerated_failure_percent),
        "ResultWriter": {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": args.results_bucket_name, "Prefix": RESULTS_PREFIX},
        },
        "End": True,
    }


def definition(args: BackfillWorkflowArgs, function_arn: str, source_bucket: str, source_bucket_arn: str) -> str:
    """The state machine: choose a reader from the input, then batch, invoke, count and record.

    Input `{"prefix": "p/"}` lists the source bucket (ListObjectsV2), `{"manifest": {"bucket": b,
    "key": k}}` reads an S3 Inventory manifest instead, `{}` lists the whole bucket.
    """
    listing = {
        "Resource": "arn:aws:states:::s3:listObjectsV2",
        "Parameters": {"Bucket": source_bucket, "Prefix.$": "$.prefix"},
    }
    inventory = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "MANIFEST"},
        "Parameters": {"Bucket.$": "$.manifest.bucket", "Key.$": "$.manifest.key"},
    }
    states: dict[str, Any] = {
        "ChooseReader": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.manifest", "IsPresent": True, "Next": "ProcessInventory"},
                {"Variable": "$.prefix", "IsPresent": True, "Next": "ProcessListing"},
            ],
            "Default": "WholeBucket",
        },
        "WholeBucket": {"Type": "Pass", "Result": {"prefix": ""}, "Next": "ProcessListing"},
        "ProcessListing": _distributed_map(
            listing,
            backfill_record(source_bucket, source_bucket_arn),
            _item_processor(function_arn, args.retry_interval_seconds, key_encoding="none"),
            args,
        ),
        "ProcessInventory": (
            _distributed_map(
                inventory, backfill_record(), _item_processor(function_arn, args.retry_interval_seconds, "url"), args
            )
            if args.inventory_bucket_arn is not None
            else {
                "Type": "Fail",
                "Error": "Backfill.NoInventoryBucket",
                "Cause": "set backfillInventoryBucket to let the workflow read S3 Inventory manifests",
            }
        ),
    }
    return json.dumps(
        {
            "Comment": "Re-process existing source objects with the image function (image-processor backfill)",
            "StartAt": "ChooseReader",
            "States": states,
        },
        sort_keys=True,
    )


def alarm_specs(state_machine_arn: pulumi.Input[str], state_machine_name: str) -> list[dict[str, Any]]:
    """The workflow's alarms as AlarmSpec fields (interfaces item 4): `AlarmSpec(**spec)` for AlarmSet."""
    return [
        {
            "suffix": "backfill-failed",
            "namespace": "AWS/States",
            "metric": "ExecutionsFailed",
            "dimensions": {"StateMachineArn": state_machine_arn},
            "statistic": "Sum",
            "threshold": 1,
            "comparison": "GreaterThanOrEqualToThreshold",
            "description": "A backfill execution failed",
        },
        {
            "suffix": "backfill-above-tolerance",
            "namespace": METRIC_NAMESPACE,
            "metric": tolerance_metric(state_machine_name),
            "dimensions": {},
            "statistic": "Sum",
            "threshold": 1,
            "comparison": "GreaterThanOrEqualToThreshold",
            "description": "A backfill stopped: more objects failed than its tolerated failure percentage",
        },
    ]


def tolerance_metric(state_machine_name: str) -> str:
    """The metric counting runs stopped above tolerance (a log metric filter cannot add dimensions here)."""
    return f"{state_machine_name}-FailuresAboveTolerance"


def dashboard_widget(region: str, state_machine_arn: str, state_machine_name: str, period: int) -> dict[str, Any]:
    """A CloudWatch dashboard widget: backfill executions started, succeeded, failed, and runs above tolerance."""
    executions = [
        ["AWS/States", metric, "StateMachineArn", state_machine_arn]
        for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsAborted")
    ]
    return {
        "type": "metric",
        "width": 12,
        "height": 6,
        "properties": {
            "title": "Backfill executions",
            "region": region,
            "stat": "Sum",
            "period": period,
            "metrics": [*executions, [METRIC_NAMESPACE, tolerance_metric(state_machine_name)]],
        },
    }


class BackfillWorkflow(pulumi.ComponentResource):
    """A STANDARD state machine whose Distributed Map sends every source object to the image function.

    Also: its own log group, a results bucket locked down like the image buckets (the image function's
    role has no access to it), a least-privilege role, and the metric behind the above-tolerance alarm.
    The alarms themselves are data (`alarm_specs`, `dashboard_widgets`) for AlarmSet.
    """

    state_machine: aws.sfn.StateMachine
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    results_bucket: aws.s3.Bucket
    alarm_specs: list[dict[str, Any]]
    dashboard_widgets: list[pulumi.Output[dict[str, Any]]]

    def __init__(self, name: str, args: BackfillWorkflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-processor:workflow:BackfillWorkflow", name, None, opts)
        self._args = args
        self.results_bucket = self._results_bucket(name)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            # The vended-logs prefix keeps the log delivery resource policy short, as AWS advises.
            name=f"/aws/vendedlogs/states/{args.state_machine_name}",
            retention_in_days=args.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.role = aws.iam.Role(
            f"{name}-role", assume_role_policy=policies.states_assume_role(), opts=pulumi.ResourceOptions(parent=self)
        )
        # Step Functions checks log delivery permissions when the state machine is created.
        log_delivery = aws.iam.RolePolicy(
            f"{name}-log-delivery",
            role=self.role.id,
            policy=policies.state_machine_log_delivery_policy(),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.state_machine = self._state_machine(name, log_delivery)
        self._permissions(name)
        self._tolerance_metric(name)
        self.alarm_specs = alarm_specs(self.state_machine.arn, args.state_machine_name)
        self.dashboard_widgets = [
            self.state_machine.arn.apply(lambda arn: dashboard_widget(args.region, arn, args.state_machine_name, 300))
        ]
        self.register_outputs(
            {
                "state_machine_arn": self.state_machine.arn,
                "results_bucket_name": self.results_bucket.bucket,
                "log_group_name": self.log_group.name,
            }
        )

    def _state_machine(self, name: str, log_delivery: aws.iam.RolePolicy) -> aws.sfn.StateMachine:
        args = self._args
        return aws.sfn.StateMachine(
            f"{name}-state-machine",
            name=args.state_machine_name,
            type="STANDARD",
            role_arn=self.role.arn,
            definition=pulumi.Output.all(args.function_arn, args.source_bucket_name, args.source_bucket_arn).apply(
                lambda values: definition(args, values[0], values[1], values[2])
            ),
            logging_configuration={
                "log_destination": pulumi.Output.concat(self.log_group.arn, ":*"),
                # Error and cause of failed steps, which the above-tolerance metric filter reads.
                "include_execution_data": True,
                "level": "ERROR",
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_delivery]),
        )

    def _permissions(self, name: str) -> None:
        args = self._args
        aws.iam.RolePolicy(
            f"{name}-permissions",
            role=self.role.id,
            policy=pulumi.Output.all(
                args.source_bucket_arn,
                args.function_arn,
                self.results_bucket.arn,
                self.state_machine.arn,
                args.inventory_bucket_arn or "",
            ).apply(
                lambda arns: policies.backfill_workflow_policy(
                    source_bucket_arn=arns[0],
                    function_arn=arns[1],
                    results_bucket_arn=arns[2],
                    results_prefix=RESULTS_PREFIX,
                    state_machine_arn=arns[3],
                    listing_prefixes=args.listing_prefixes,
                    inventory_bucket_arn=arns[4] or None,
                    kms_key_arn=args.kms_key_arn,
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _tolerance_metric(self, name: str) -> None:
        aws.cloudwatch.LogMetricFilter(
            f"{name}-above-tolerance",
            log_group_name=self.log_group.name,
            pattern=f'"{ABOVE_TOLERANCE}"',
            metric_transformation={
                "name": tolerance_metric(self._args.state_machine_name),
                "namespace": METRIC_NAMESPACE,
                "value": "1",
                "default_value": "0",
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _results_bucket(self, name: str) -> aws.s3.Bucket:
        """Results live apart from the images: the image function's role cannot read or write them."""
        args = self._args
        expire: aws.s3.BucketLifecycleConfigurationRuleArgsDict = {
            "id": "expire-backfill-results",
            "status": "Enabled",
            "filter": {},
            "expiration": {"days": args.results_retention_days},
            "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS},
        }
        bucket, public_access = private_bucket(
            self,
            f"{name}-results",
            args.results_bucket_name,
            lifecycle_rules=[expire],
            force_destroy=args.force_destroy,
            kms_key_arn=args.kms_key_arn,
        )
        tls_only_policy(self, f"{name}-results", bucket, public_access, bucket.arn.apply(policies.bucket_policy))
        return bucket
