"""Every policy document the program generates, asserted whole: each statement, each optional one, each condition."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components import policies

ACCOUNT = "111122223333"
REGION = "eu-central-1"
SOURCE = "arn:aws:s3:::uploads"
DESTINATION = "arn:aws:s3:::renditions"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:notify"
LOG_GROUP = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/fn"
FAILED = f"arn:aws:sqs:{REGION}:{ACCOUNT}:failed"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/history"
DISTRIBUTION = f"arn:aws:cloudfront::{ACCOUNT}:distribution/E123"
TRIGGER_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:uploads"
VERSION = "2012-10-17"
NO_TLS = {"Bool": {"aws:SecureTransport": "false"}}
OWN_ALARMS = {
    "StringEquals": {"aws:SourceAccount": ACCOUNT},
    "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"},
}

BASE_STATEMENTS: list[dict[str, Any]] = [
    {
        "Sid": "ReadSourceImages",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:GetObjectVersion"],
        "Resource": f"{SOURCE}/*",
    },
    {"Sid": "TellMissingSourceObjects", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": SOURCE},
    {
        "Sid": "WriteRenditions",
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:DeleteObject"],
        "Resource": f"{DESTINATION}/resized/*",
    },
    {"Sid": "Notify", "Effect": "Allow", "Action": "sns:Publish", "Resource": TOPIC},
    {
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": f"{LOG_GROUP}:*",
    },
    {"Sid": "KeepFailedEvents", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": FAILED},
]
OPTIONAL_STATEMENTS: dict[str, dict[str, Any] | list[dict[str, Any]]] = {
    "watermark_keys": {
        "Sid": "ReadWatermarks",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": [f"{DESTINATION}/brand/logo.png", f"{DESTINATION}/brand/mark.png"],
    },
    "history_table_arn": [
        {"Sid": "RecordHistory", "Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": TABLE},
        {"Sid": "TellCurrentRenditions", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE},
    ],
    "kms_key_arn": {
        "Sid": "UseBucketKey",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": KEY,
        "Condition": {
            "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
            "ArnLike": {"kms:EncryptionContext:aws:s3:arn": [SOURCE, f"{SOURCE}/*", DESTINATION, f"{DESTINATION}/*"]},
        },
    },
    "distribution_arn": [
        {
            "Sid": "InvalidateReplacedRenditions",
            "Effect": "Allow",
            "Action": "cloudfront:CreateInvalidation",
            "Resource": DISTRIBUTION,
        },
        {"Sid": "TellOverwrittenSources", "Effect": "Allow", "Action": "s3:ListBucketVersions", "Resource": SOURCE},
    ],
    "trigger_queue_arn": {
        "Sid": "ConsumeUploadEvents",
        "Effect": "Allow",
        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
        "Resource": TRIGGER_QUEUE,
    },
}
OPTIONAL_VALUES: dict[str, Any] = {
    "watermark_keys": ("brand/logo.png", "brand/mark.png"),
    "history_table_arn": TABLE,
    "kms_key_arn": KEY,
    "distribution_arn": DISTRIBUTION,
    "trigger_queue_arn": TRIGGER_QUEUE,
}


def added_by(option: str) -> list[dict[str, Any]]:
    """The statements one option adds (a CDN and the history table add two)."""
    statements = OPTIONAL_STATEMENTS[option]
    return statements if isinstance(statements, list) else [statements]


def function_policy_text(**optional: Any) -> str:
    return policies.function_policy(
        region=REGION,
        source_bucket_arn=SOURCE,
        destination_bucket_arn=DESTINATION,
        topic_arn=TOPIC,
        log_group_arn=LOG_GROUP,
        dead_letter_queue_arn=FAILED,
        **optional,
    )


def function_policy(**optional: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(function_policy_text(**optional))
    return document


def test_function_policy_without_options_is_exactly_the_six_base_statements():
    # GIVEN no optional resource / WHEN the function's policy is built
    document = function_policy()
    # THEN it holds the base statements and nothing else
    assert document == {"Version": VERSION, "Statement": BASE_STATEMENTS}


@pytest.mark.parametrize("option", sorted(OPTIONAL_STATEMENTS))
def test_each_option_adds_exactly_its_own_statement(option):
    # GIVEN one optional resource / WHEN the policy is built
    document = function_policy(**{option: OPTIONAL_VALUES[option]})
    # THEN exactly its statements are appended to the base statements
    assert document == {"Version": VERSION, "Statement": [*BASE_STATEMENTS, *added_by(option)]}


def test_all_options_together_keep_a_stable_order():
    # GIVEN every optional resource / WHEN the policy is built
    document = function_policy(**OPTIONAL_VALUES)
    # THEN every statement is there once, in a stable order (no diff between previews)
    order = ["watermark_keys", "history_table_arn", "kms_key_arn", "distribution_arn", "trigger_queue_arn"]
    assert document["Statement"] == [*BASE_STATEMENTS, *(s for option in order for s in added_by(option))]


def test_kms_statement_follows_the_region_it_is_given():
    # GIVEN another region / WHEN the policy is built with a key / THEN only S3 of that region may use the key
    document = json.loads(
        policies.function_policy(
            region="ap-southeast-2",
            source_bucket_arn=SOURCE,
            destination_bucket_arn=DESTINATION,
            topic_arn=TOPIC,
            log_group_arn=LOG_GROUP,
            dead_letter_queue_arn=FAILED,
            kms_key_arn=KEY,
        )
    )
    (kms,) = [s for s in document["Statement"] if s["Sid"] == "UseBucketKey"]
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": "s3.ap-southeast-2.amazonaws.com"}


def test_lambda_alone_may_assume_the_role():
    """GIVEN the trust policy THEN only the Lambda service may assume the role."""
    assert json.loads(policies.lambda_assume_role()) == {
        "Version": VERSION,
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }


def deny_without_tls(action: str, resource: str | list[str]) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resource,
        "Condition": NO_TLS,
    }


def test_bucket_policy_refuses_plain_http_and_admits_nobody():
    """GIVEN a bucket without CDN THEN its policy is the TLS denial alone."""
    assert json.loads(policies.bucket_policy(SOURCE)) == {
        "Version": VERSION,
        "Statement": [deny_without_tls("s3:*", [SOURCE, f"{SOURCE}/*"])],
    }


def test_bucket_policy_with_a_cdn_admits_that_distribution_to_renditions_only():
    """GIVEN a CDN THEN only that distribution may read, and only under resized/."""
    assert json.loads(policies.bucket_policy(DESTINATION, DISTRIBUTION)) == {
        "Version": VERSION,
        "Statement": [
            deny_without_tls("s3:*", [DESTINATION, f"{DESTINATION}/*"]),
            {
                "Sid": "CloudFrontReadsRenditions",
                "Effect": "Allow",
                "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject",
                "Resource": f"{DESTINATION}/resized/*",
                "Condition": {"StringEquals": {"AWS:SourceArn": DISTRIBUTION}},
            },
        ],
    }


def test_log_bucket_admits_s3_log_delivery_for_the_two_buckets_of_this_account_only():
    """GIVEN the log bucket THEN S3 log delivery may write only for the two image buckets of this account."""
    logs = "arn:aws:s3:::access-logs"
    assert json.loads(policies.log_bucket_policy(logs, [SOURCE, DESTINATION], ACCOUNT)) == {
        "Version": VERSION,
        "Statement": [
            deny_without_tls("s3:*", [logs, f"{logs}/*"]),
            {
                "Sid": "S3ServerAccessLogDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{logs}/*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": [SOURCE, DESTINATION]},
                    "StringEquals": {"aws:SourceAccount": ACCOUNT},
                },
            },
        ],
    }


def test_notification_topic_refuses_publishing_without_tls():
    """GIVEN the notification topic THEN publishing without TLS is denied to everyone."""
    assert json.loads(policies.topic_policy(TOPIC)) == {
        "Version": VERSION,
        "Statement": [deny_without_tls("sns:Publish", TOPIC)],
    }


def test_alarm_topic_refuses_plain_http_and_admits_this_accounts_alarms_only():
    """GIVEN the alarm topic THEN CloudWatch may publish only for this account's alarms in this region, over TLS."""
    assert json.loads(policies.alarm_topic_policy(TOPIC, ACCOUNT, REGION)) == {
        "Version": VERSION,
        "Statement": [
            deny_without_tls("sns:Publish", TOPIC),
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": TOPIC,
                "Condition": OWN_ALARMS,
            },
        ],
    }


def test_failure_queue_refuses_every_request_without_tls():
    """GIVEN the failure queue THEN every request without TLS is denied."""
    assert json.loads(policies.queue_policy(FAILED)) == {
        "Version": VERSION,
        "Statement": [deny_without_tls("sqs:*", FAILED)],
    }


def test_failure_queue_with_an_event_rule_admits_that_rules_undelivered_events_only():
    """GIVEN trigger eventbridge THEN its rule, and only it, may leave undelivered events in the failure queue."""
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/objects"
    assert json.loads(policies.queue_policy(FAILED, rule)) == {
        "Version": VERSION,
        "Statement": [
            deny_without_tls("sqs:*", FAILED),
            {
                "Sid": "EventBridgeKeepsUndeliveredEvents",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": FAILED,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
            },
        ],
    }


def test_trigger_queue_admits_s3_events_of_the_source_bucket_of_this_account_only():
    """GIVEN the trigger queue THEN only S3, for the source bucket of this account, may send to it, over TLS."""
    assert json.loads(policies.trigger_queue_policy(TRIGGER_QUEUE, SOURCE, ACCOUNT)) == {
        "Version": VERSION,
        "Statement": [
            deny_without_tls("sqs:*", TRIGGER_QUEUE),
            {
                "Sid": "SourceBucketSendsEvents",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": TRIGGER_QUEUE,
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": SOURCE},
                    "StringEquals": {"aws:SourceAccount": ACCOUNT},
                },
            },
        ],
    }


def test_alarm_key_is_administered_by_the_account_and_used_by_its_alarms_only():
    # GIVEN the account and region / WHEN the alarm key's policy is built
    document = json.loads(policies.alarm_topic_key_policy(ACCOUNT, REGION))
    # THEN administrators keep control (no orphaned key) and CloudWatch may encrypt only for this
    # account's alarms in this region (alarms that fire must reach the topic)
    assert document == {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": OWN_ALARMS,
            },
        ],
    }


def test_partition_reaches_every_arn_it_builds():
    # GIVEN the China partition / THEN the root principal and the alarm pattern use it
    document = json.loads(policies.alarm_topic_key_policy(ACCOUNT, "cn-north-1", partition="aws-cn"))
    administer, cloudwatch = document["Statement"]
    assert administer["Principal"] == {"AWS": f"arn:aws-cn:iam::{ACCOUNT}:root"}
    assert cloudwatch["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws-cn:cloudwatch:cn-north-1:{ACCOUNT}:alarm:*"
    }


def test_documents_are_serialised_with_sorted_keys_so_previews_never_show_a_spurious_diff():
    # GIVEN documents whose statements are built with unsorted keys
    documents = [function_policy_text(**OPTIONAL_VALUES), policies.alarm_topic_key_policy(ACCOUNT, REGION)]
    # THEN each text is the canonical (sorted-key) serialisation of itself
    for document in documents:
        assert document == json.dumps(json.loads(document), sort_keys=True)
