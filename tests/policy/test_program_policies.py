"""The policy pack on the whole program (__main__.py) under the recording mocks: it passes, and notices a change."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from policy import rules
from tests.policy.conftest import StackRunner, evaluate

EMAIL = "ops@photos.test"
KEY = "arn:aws:kms:us-east-1:123456789012:key/abcd"
WATERMARKED = json.dumps([{"name": "marked", "watermark": {"image_key": "watermarks/logo.png"}}])
VARIANTS = {
    "default": {},
    "kmsKeyArn": {"kmsKeyArn": KEY},
    "cdn": {"cdn": "true"},
    "history and watermark": {"processingHistory": "true", "renditions": WATERMARKED},
    "sqs trigger, reserved concurrency": {"trigger": "sqs", "reservedConcurrency": "10"},
    "eventbridge trigger": {"trigger": "eventbridge"},
    "upload api and backfill workflow": {"api": "true", "backfillWorkflow": "true", "corsOrigins": "https://a.test"},
}


@pytest.mark.parametrize("config", VARIANTS.values(), ids=VARIANTS.keys())
def test_the_program_passes_the_pack_in_every_variant(program_resources: StackRunner, config: dict[str, str]):
    # GIVEN the program in one config variant WHEN the pack runs on its resources THEN nothing is reported
    resources = program_resources(notificationEmail=EMAIL, **config)
    types = {r.resource_type for r in resources}
    assert {rules.BUCKET, rules.TOPIC, rules.QUEUE, rules.LOG_GROUP, "aws:iam/rolePolicy:RolePolicy"} <= types
    assert evaluate(resources) == []


def test_the_api_and_workflow_roles_are_inline_and_pass_the_pack(program_resources: StackRunner):
    # GIVEN the program with the upload API and the backfill workflow
    resources = program_resources(notificationEmail=EMAIL, api="true", backfillWorkflow="true")
    # WHEN the pack runs on every role policy THEN their inline documents are among them and nothing is reported
    role_policies = {r.name for r in resources if r.resource_type == "aws:iam/rolePolicy:RolePolicy"}
    assert {"api-permissions", "backfill-permissions", "backfill-log-delivery"} <= role_policies
    assert not [r for r in resources if r.resource_type in rules.MANAGED_POLICY_ATTACHMENTS]
    assert evaluate(resources) == []


def change(typ: str, edit: dict[str, Any]) -> Any:
    """A stack transformation setting `edit` on the first resource of type `typ` (a regression in one control)."""
    done: list[str] = []

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.type_ != typ or done:
            return None
        done.append(args.name)
        return pulumi.ResourceTransformationResult({**args.props, **edit}, args.opts)

    return transform


def grant(statement: dict[str, Any]) -> Any:
    """An extra statement appended to the function's role policy."""

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.type_ != "aws:iam/rolePolicy:RolePolicy":
            return None
        policy = pulumi.Output.from_input(args.props["policy"]).apply(
            lambda text: json.dumps({**json.loads(text), "Statement": [*json.loads(text)["Statement"], statement]})
        )
        return pulumi.ResourceTransformationResult({**args.props, "policy": policy}, args.opts)

    return transform


REGRESSIONS = {
    "public acls allowed": (
        change(rules.PUBLIC_ACCESS_BLOCK, {"block_public_acls": False}),
        "public-access-block-complete",
    ),
    "bucket policy without TLS": (
        change(rules.BUCKET_POLICY, {"policy": json.dumps({"Version": "2012-10-17", "Statement": []})}),
        "every-store-locked-down",
    ),
    "bucket without encryption": (
        change(
            rules.BUCKET_ENCRYPTION, {"rules": [{"apply_server_side_encryption_by_default": {"sse_algorithm": "-"}}]}
        ),
        "encryption-at-rest",
    ),
    "topic unencrypted": (change(rules.TOPIC, {"kms_master_key_id": None}), "encryption-at-rest"),
    "queue unencrypted": (change(rules.QUEUE, {"sqs_managed_sse_enabled": False}), "encryption-at-rest"),
    "logs kept forever": (change(rules.LOG_GROUP, {"retention_in_days": 0}), "log-retention"),
    "wildcard resource": (
        grant({"Sid": "Everything", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
        "iam-no-wildcards",
    ),
    "invoke without source": (
        change("aws:lambda/permission:Permission", {"source_arn": None}),
        "lambda-invoke-bound",
    ),
    "wildcard action": (
        grant({"Sid": "Everything", "Effect": "Allow", "Action": "sns:*", "Resource": "arn:aws:sns:::t"}),
        "iam-no-wildcards",
    ),
}


@pytest.mark.parametrize(("transformation", "policy"), REGRESSIONS.values(), ids=REGRESSIONS.keys())
def test_a_regression_in_any_control_is_reported(program_resources: StackRunner, transformation: Any, policy: str):
    # GIVEN the program with one control weakened on one resource
    resources = program_resources(transformation, notificationEmail=EMAIL)
    # WHEN the pack runs THEN the policy guarding that control reports it
    assert policy in {violation.policy for violation in evaluate(resources)}


@pytest.mark.parametrize(
    ("policy_type", "store_type", "service"),
    [(rules.TOPIC_POLICY, rules.TOPIC, "sns"), (rules.QUEUE_POLICY, rules.QUEUE, "sqs")],
)
def test_a_topic_or_queue_without_its_tls_policy_is_reported(
    program_resources: StackRunner, policy_type: str, store_type: str, service: str
):
    # GIVEN the program whose first topic (queue) policy is emptied
    empty = json.dumps({"Version": "2012-10-17", "Statement": []})
    resources = program_resources(change(policy_type, {"policy": empty}), notificationEmail=EMAIL)
    # WHEN the pack runs THEN that one topic (queue), which lost its TLS-only policy, is named
    (violation,) = evaluate(resources)
    assert violation.message == f"no {service} policy denying requests without TLS"
    assert violation.resource in {r.name for r in resources if r.resource_type == store_type}
