"""IAM and resource policy documents as plain functions of ARNs (JSON strings), easy to test."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from handler.renditions import RESIZED_PREFIX  # the handler writes there; the policies allow only there

# Actions the function takes on the queue that triggers it (trigger "sqs"), and nothing else.
CONSUME_QUEUE_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def _deny_insecure_transport(action: str, resource: str | list[str]) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resource,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def lambda_assume_role() -> str:
    """Trust policy: only the Lambda service may assume the role."""
    return _document({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})


def function_policy(
    *,
    region: str,
    source_bucket_arn: str,
    destination_bucket_arn: str,
    topic_arn: str,
    log_group_arn: str,
    dead_letter_queue_arn: str,
    kms_key_arn: str | None = None,
    watermark_keys: Sequence[str] = (),
    history_table_arn: str | None = None,
    distribution_arn: str | None = None,
    trigger_queue_arn: str | None = None,
) -> str:
    """The function's least-privilege permissions: nothing with a `*` action or a `*` resource.

    Each optional ARN adds its statements: watermark reads, the history table (write outcomes, read one
    to skip current renditions), the bucket key, CDN invalidation, or the trigger queue.
    """
    optional = [
        watermark_keys
        and _allow("ReadWatermarks", "s3:GetObject", [f"{destination_bucket_arn}/{key}" for key in watermark_keys]),
        history_table_arn and _allow("RecordHistory", "dynamodb:PutItem", history_table_arn),
        # A backfill skips an object whose history item says its renditions are current (never the destination).
        history_table_arn and _allow("TellCurrentRenditions", "dynamodb:GetItem", history_table_arn),
        kms_key_arn and _use_bucket_key_through_s3(kms_key_arn, region, [source_bucket_arn, destination_bucket_arn]),
        distribution_arn and _allow("InvalidateReplacedRenditions", "cloudfront:CreateInvalidation", distribution_arn),
        # Whether an upload replaced an earlier object decides whether its renditions need invalidating.
        distribution_arn and _allow("TellOverwrittenSources", "s3:ListBucketVersions", source_bucket_arn),
        trigger_queue_arn and _allow("ConsumeUploadEvents", CONSUME_QUEUE_ACTIONS, trigger_queue_arn),
    ]
    return _document(
        _allow("ReadSourceImages", ["s3:GetObject", "s3:GetObjectVersion"], f"{source_bucket_arn}/*"),
        # Without ListBucket S3 answers 403 instead of 404 for a deleted object, which looks transient.
        _allow("TellMissingSourceObjects", "s3:ListBucket", source_bucket_arn),
        # Delete keeps renditions in step with deleted sources.
        _allow("WriteRenditions", ["s3:PutObject", "s3:DeleteObject"], f"{destination_bucket_arn}/{RESIZED_PREFIX}*"),
        _allow("Notify", "sns:Publish", topic_arn),
        _allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], f"{log_group_arn}:*"),
        _allow("KeepFailedEvents", "sqs:SendMessage", dead_letter_queue_arn),
        *(statement for statement in optional if statement),
    )


def _allow(sid: str, action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}


def _service_allow(
    sid: str, service: str, action: str | list[str], resource: str, condition: dict[str, Any]
) -> dict[str, Any]:
    """An AWS service may act here only under `condition` (its source ARN and account: no confused deputy)."""
    return {**_allow(sid, action, resource), "Principal": {"Service": service}, "Condition": condition}


def _use_bucket_key(kms_key_arn: str) -> dict[str, Any]:
    """Encrypt and decrypt objects of the buckets under `kms_key_arn` (SSE-KMS)."""
    return {
        "Sid": "UseBucketKey",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": kms_key_arn,
    }


def _use_bucket_key_through_s3(kms_key_arn: str, region: str, bucket_arns: list[str]) -> dict[str, Any]:
    # Only S3 may use the key on the function's behalf, and only for these two buckets: with an S3 bucket
    # key the encryption context is the bucket ARN, without one the object ARN.
    return {
        **_use_bucket_key(kms_key_arn),
        "Condition": {
            "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
            "ArnLike": {
                "kms:EncryptionContext:aws:s3:arn": [arn for bucket in bucket_arns for arn in (bucket, f"{bucket}/*")]
            },
        },
    }


def bucket_policy(bucket_arn: str, cdn_distribution_arn: str | None = None) -> str:
    """Bucket policy: refuse every request without TLS; with a CDN, let only that distribution read renditions."""
    statements: list[dict[str, Any]] = [_deny_insecure_transport("s3:*", [bucket_arn, f"{bucket_arn}/*"])]
    if cdn_distribution_arn:
        statements.append(
            _service_allow(
                "CloudFrontReadsRenditions",
                "cloudfront.amazonaws.com",
                "s3:GetObject",
                f"{bucket_arn}/{RESIZED_PREFIX}*",
                {"StringEquals": {"AWS:SourceArn": cdn_distribution_arn}},
            )
        )
    return _document(*statements)


def log_bucket_policy(log_bucket_arn: str, logged_bucket_arns: Sequence[str], account_id: str) -> str:
    """Access-log bucket policy: TLS only; S3's log delivery may write logs of these buckets of this account only."""
    return _document(
        _deny_insecure_transport("s3:*", [log_bucket_arn, f"{log_bucket_arn}/*"]),
        _service_allow(
            "S3ServerAccessLogDelivery",
            "logging.s3.amazonaws.com",
            "s3:PutObject",
            f"{log_bucket_arn}/*",
            {
                "ArnLike": {"aws:SourceArn": list(logged_bucket_arns)},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        ),
    )


def topic_policy(topic_arn: str) -> str:
    """Notification topic policy: publishing without TLS is refused (the role's own policy grants Publish)."""
    return _document(_deny_insecure_transport("sns:Publish", topic_arn))


def alarm_topic_policy(topic_arn: str, account_id: str, region: str, partition: str = "aws") -> str:
    """Alarm topic policy: TLS only, and CloudWatch may publish for this account's alarms in this region only."""
    return _document(
        _deny_insecure_transport("sns:Publish", topic_arn),
        _service_allow(
            "CloudWatchAlarmsPublish",
            "cloudwatch.amazonaws.com",
            "sns:Publish",
            topic_arn,
            _from_own_alarms(account_id, region, partition),
        ),
    )


def queue_policy(queue_arn: str, event_rule_arn: str | None = None) -> str:
    """Failure queue policy: every request without TLS is refused (senders and consumers are granted by their
    roles); with an EventBridge rule, that rule may send the events it could not deliver."""
    statements: list[dict[str, Any]] = [_deny_insecure_transport("sqs:*", queue_arn)]
    if event_rule_arn:
        statements.append(
            _service_allow(
                "EventBridgeKeepsUndeliveredEvents",
                "events.amazonaws.com",
                "sqs:SendMessage",
                queue_arn,
                {"ArnEquals": {"aws:SourceArn": event_rule_arn}},
            )
        )
    return _document(*statements)


def trigger_queue_policy(queue_arn: str, source_bucket_arn: str, account_id: str) -> str:
    """Trigger queue policy: TLS only, and S3 may send the events of the source bucket of this account only."""
    return _document(
        _deny_insecure_transport("sqs:*", queue_arn),
        _service_allow(
            "SourceBucketSendsEvents",
            "s3.amazonaws.com",
            "sqs:SendMessage",
            queue_arn,
            {
                "ArnEquals": {"aws:SourceArn": source_bucket_arn},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        ),
    )


def alarm_topic_key_policy(account_id: str, region: str, partition: str = "aws") -> str:
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
        _service_allow(
            "CloudWatchAlarmsPublish",
            "cloudwatch.amazonaws.com",
            ["kms:Decrypt", "kms:GenerateDataKey*"],
            "*",
            _from_own_alarms(account_id, region, partition),
        ),
    )


def _from_own_alarms(account_id: str, region: str, partition: str) -> dict[str, Any]:
    return {
        "StringEquals": {"aws:SourceAccount": account_id},
        "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:*"},
    }


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
        statements.append(_use_bucket_key(kms_key_arn))
    return _document(*statements)


def api_function_policy(
    *,
    source_bucket_arn: str,
    destination_bucket_arn: str,
    history_table_arn: str,
    log_group_arn: str,
    upload_prefix: str,
    kms_key_arn: str | None = None,
) -> str:
    """The upload API's permissions: sign uploads and delete under the upload prefix, read status and renditions.

    A presigned URL acts with the signer's permissions, so PutObject on the upload prefix is all an
    uploader can ever get; nothing outside that prefix of the source bucket is reachable.
    """
    uploads = f"{source_bucket_arn}/{upload_prefix}*"
    statements: list[dict[str, Any]] = [
        {"Sid": "PresignUploads", "Effect": "Allow", "Action": "s3:PutObject", "Resource": uploads},
        {"Sid": "DeleteUploads", "Effect": "Allow", "Action": "s3:DeleteObject", "Resource": uploads},
        {"Sid": "ReadStatus", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": history_table_arn},
        {
            "Sid": "PresignRenditionReads",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{destination_bucket_arn}/{RESIZED_PREFIX}*",
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*",
        },
    ]
    if kms_key_arn:
        # Uploads are encrypted and renditions decrypted with the bucket key, as the signer.
        statements.append(_use_bucket_key(kms_key_arn))
    return _document(*statements)
