"""The backfill workflow's and the upload API's policy documents, asserted whole, each optional statement too.

Plain function calls (no Pulumi): these are the unit tests `make mutate` runs for components/policies.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from components import policies

ACCOUNT = "111122223333"
REGION = "eu-central-1"
SOURCE = "arn:aws:s3:::uploads"
DESTINATION = "arn:aws:s3:::renditions"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:resize"
RESULTS = "arn:aws:s3:::backfill-results"
STATE_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:backfill"
EXECUTIONS = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:backfill"
INVENTORY = "arn:aws:s3:::inventories"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/history"
LOG_GROUP = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/api"
# The bucket key as the state machine and the API use it: as themselves, no S3-only condition.
BUCKET_KEY = {
    "Sid": "UseBucketKey",
    "Effect": "Allow",
    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
    "Resource": KEY,
}
READ_INVENTORY = {
    "Sid": "ReadInventoryManifests",
    "Effect": "Allow",
    "Action": "s3:GetObject",
    "Resource": f"{INVENTORY}/*",
}
WORKFLOW_STATEMENTS: list[dict[str, Any]] = [
    {"Sid": "ListSourceObjects", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": SOURCE},
    {"Sid": "InvokeImageFunction", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": FUNCTION},
    {
        "Sid": "WriteResults",
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
        "Resource": f"{RESULTS}/runs/*",
    },
    {"Sid": "RunOwnChildExecutions", "Effect": "Allow", "Action": "states:StartExecution", "Resource": STATE_MACHINE},
    {
        "Sid": "WatchOwnChildExecutions",
        "Effect": "Allow",
        "Action": ["states:DescribeExecution", "states:RedriveExecution", "states:StopExecution"],
        "Resource": [f"{EXECUTIONS}:*", f"{EXECUTIONS}/*"],
    },
]


def workflow_policy(**optional: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        policies.backfill_workflow_policy(
            source_bucket_arn=SOURCE,
            function_arn=FUNCTION,
            results_bucket_arn=RESULTS,
            results_prefix="runs/",
            state_machine_arn=STATE_MACHINE,
            **optional,
        )
    )
    return document


def test_the_workflow_lists_the_source_invokes_the_function_and_writes_results_only_there():
    # GIVEN no listing prefixes, inventory or key / WHEN the state machine's policy is built
    # THEN it is the five base statements, the child executions being those of this state machine
    assert workflow_policy() == {"Version": "2012-10-17", "Statement": WORKFLOW_STATEMENTS}


def test_listing_prefixes_restrict_the_listing_to_them():
    # GIVEN two prefixes to backfill / WHEN the policy is built
    document = workflow_policy(listing_prefixes=["photos/", "2024/"])
    # THEN the source may be listed under those prefixes only; the rest is unchanged
    listing = {**WORKFLOW_STATEMENTS[0], "Condition": {"StringLike": {"s3:prefix": ["photos/*", "2024/*"]}}}
    assert document["Statement"] == [listing, *WORKFLOW_STATEMENTS[1:]]


@pytest.mark.parametrize(
    ("option", "statement"),
    [
        (
            {"inventory_bucket_arn": INVENTORY},
            READ_INVENTORY,
        ),
        ({"kms_key_arn": KEY}, BUCKET_KEY),
    ],
    ids=["inventory", "kms"],
)
def test_an_inventory_or_a_bucket_key_adds_exactly_its_statement(option, statement):
    # GIVEN an S3 inventory to read, or a bucket key / WHEN the policy is built / THEN its statement comes last
    assert workflow_policy(**option)["Statement"] == [*WORKFLOW_STATEMENTS, statement]


def test_inventory_then_key_when_both():
    # GIVEN an inventory and a bucket key / WHEN the policy is built / THEN both come last, in this order
    assert workflow_policy(inventory_bucket_arn=INVENTORY, kms_key_arn=KEY)["Statement"][-2:] == [
        READ_INVENTORY,
        BUCKET_KEY,
    ]


def test_step_functions_alone_may_assume_the_workflow_role():
    assert json.loads(policies.states_assume_role()) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }


def test_log_delivery_is_the_one_wildcard_resource_and_grants_only_log_delivery_actions():
    # GIVEN the state machine's log delivery policy THEN it holds exactly the actions AWS requires, on "*"
    assert json.loads(policies.state_machine_log_delivery_policy()) == {
        "Version": "2012-10-17",
        "Statement": [
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
        ],
    }


API_STATEMENTS: list[dict[str, Any]] = [
    {"Sid": "PresignUploads", "Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{SOURCE}/incoming/*"},
    {"Sid": "DeleteUploads", "Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"{SOURCE}/incoming/*"},
    {"Sid": "ReadStatus", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE},
    {
        "Sid": "PresignRenditionReads",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": f"{DESTINATION}/resized/*",
    },
    {
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": f"{LOG_GROUP}:*",
    },
]


@pytest.mark.parametrize(("option", "added"), [({}, []), ({"kms_key_arn": KEY}, [BUCKET_KEY])], ids=["plain", "kms"])
def test_the_api_signs_only_under_the_upload_prefix_and_reads_status_and_renditions(option, added):
    # GIVEN the upload API's resources (and a bucket key) / WHEN its policy is built
    document = policies.api_function_policy(
        source_bucket_arn=SOURCE,
        destination_bucket_arn=DESTINATION,
        history_table_arn=TABLE,
        log_group_arn=LOG_GROUP,
        upload_prefix="incoming/",
        **option,
    )
    # THEN an uploader's presigned URL reaches only incoming/, and the key statement comes last
    assert json.loads(document) == {"Version": "2012-10-17", "Statement": [*API_STATEMENTS, *added]}
