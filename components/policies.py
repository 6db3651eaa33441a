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
        statements.append(
            {
                # Uploads are encrypted and renditions decrypted with the bucket key, as the signer.
                "Sid": "UseBucketKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": kms_key_arn,
            }
        )
    return _document(*statements)
