"""IAM and resource policy documents as plain functions of ARNs (JSON strings), easy to test."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

RESIZED_PREFIX = "resized/"


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def lambda_assume_role() -> str:
    """Trust policy: only the Lambda service may assume the role."""
    return _document({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})


def function_policy(
    *,
    source_bucket_arn: str,
    destination_bucket_arn: str,
    topic_arn: str,
    log_group_arn: str,
    dead_letter_queue_arn: str,
    kms_key_arn: str | None = None,
    watermark_keys: Sequence[str] = (),
    history_table_arn: str | None = None,
) -> str:
    """The function's least-privilege permissions: nothing with a `*` action or a `*` resource."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadSourceImages",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"{source_bucket_arn}/*",
        },
        {
            # Without ListBucket S3 answers 403 instead of 404 for a deleted object, which looks transient.
            "Sid": "TellMissingSourceObjects",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": source_bucket_arn,
        },
        {
            # Delete keeps renditions in step with deleted sources.
            "Sid": "WriteRenditions",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{destination_bucket_arn}/{RESIZED_PREFIX}*",
        },
        {"Sid": "Notify", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arn},
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*",
        },
        {
            "Sid": "KeepFailedEvents",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": dead_letter_queue_arn,
        },
    ]
    if watermark_keys:
        statements.append(
            {
                "Sid": "ReadWatermarks",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [f"{destination_bucket_arn}/{key}" for key in watermark_keys],
            }
        )
    if history_table_arn:
        statements.append(
            {"Sid": "RecordHistory", "Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": history_table_arn}
        )
    if kms_key_arn:
        statements.append(
            {
                "Sid": "UseBucketKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": kms_key_arn,
            }
        )
    return _document(*statements)


def bucket_policy(bucket_arn: str, cdn_distribution_arn: str | None = None) -> str:
    """Bucket policy: refuse every request without TLS; with a CDN, let only that distribution read renditions."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if cdn_distribution_arn:
        statements.append(
            {
                "Sid": "CloudFrontReadsRenditions",
                "Effect": "Allow",
                "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/{RESIZED_PREFIX}*",
                "Condition": {"StringEquals": {"AWS:SourceArn": cdn_distribution_arn}},
            }
        )
    return _document(*statements)


def alarm_topic_key_policy(account_id: str, partition: str = "aws") -> str:
    """Key policy for the alarm topic's KMS key: CloudWatch alarms cannot use the AWS-managed SNS key.

    In a key policy `Resource: "*"` means this key only.
    """
    return _document(
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchAlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
    )


def states_assume_role() -> str:
    """Trust policy: only the Step Functions service may assume the role."""
    return _document({"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"})


def state_machine_log_delivery_policy() -> str:
    """What Step Functions needs to deliver a state machine's logs to CloudWatch Logs.

    AWS requires `Resource: "*"` for these actions (they manage log deliveries, not a log group);
    docs/backfill-workflow.md names this exception for the compliance notes.
    """
    return _document(
        {
            "Sid": "DeliverStateMachineLogs",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:DescribeLogGroups",
                "logs:DescribeResourcePolicies",
                "logs:GetLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:UpdateLogDelivery",
            ],
            "Resource": "*",
        }
    )


def backfill_workflow_policy(
    *,
    source_bucket_arn: str,
    function_arn: str,
    results_bucket_arn: str,
    results_prefix: str,
    state_machine_arn: str,
    listing_prefixes: Sequence[str] = (),
    inventory_bucket_arn: str | None = None,
    kms_key_arn: str | None = None,
) -> str:
    """The backfill state machine's permissions: list the source, invoke the function, write results."""
    list_source: dict[str, Any] = {
        "Sid": "ListSourceObjects",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": source_bucket_arn,
    }
    if listing_prefixes:
        list_source["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in listing_prefixes]}}
    executions = state_machine_arn.replace(":stateMachine:", ":execution:")
    statements: list[dict[str, Any]] = [
        list_source,
        {"Sid": "InvokeImageFunction", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function_arn},
        {
            # Multipart actions: large result files are uploaded in parts.
            "Sid": "WriteResults",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
            "Resource": f"{results_bucket_arn}/{results_prefix}*",
        },
        {
            "Sid": "RunOwnChildExecutions",
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": state_machine_arn,
        },
        {
            # Redrive: re-running a failed backfill re-runs only its failed child executions.
            "Sid": "WatchOwnChildExecutions",
            "Effect": "Allow",
            "Action": ["states:DescribeExecution", "states:RedriveExecution", "states:StopExecution"],
            "Resource": [f"{executions}:*", f"{executions}/*"],
        },
    ]
    if inventory_bucket_arn:
        statements.append(
            {
                "Sid": "ReadInventoryManifests",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{inventory_bucket_arn}/*",
            }
        )
    if kms_key_arn:
        statements.append(
            {
                "Sid": "UseBucketKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": kms_key_arn,
            }
        )
    return _document(*statements)
