"""The policy pack's rules on hand-made documents and resources, through the pulumi_policy objects the CLI calls."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel

from components import policies
from policy import rules
from tests.policy.conftest import Violation, evaluate, resource

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
BUCKET_ARN = "arn:aws:s3:::photos"
ROOT = "arn:aws:iam::123456789012:root"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource_: Any = "arn:aws:s3:::photos/*", **extra: Any) -> dict[str, Any]:
    return {"Sid": "Grant", "Effect": "Allow", "Action": action, "Resource": resource_, **extra}


def tls_statement(**change: Any) -> dict[str, Any]:
    """The program's TLS-only statement, with `change` applied."""
    return {**json.loads(policies.bucket_policy(BUCKET_ARN))["Statement"][0], **change}


def role_policy(policy: str) -> list[Violation]:
    return evaluate([resource(ROLE_POLICY, "permissions", {"role": "r", "policy": policy})])


def test_the_pack_is_mandatory_and_names_each_policy_once():
    # GIVEN the pack's policies WHEN listed THEN all block a deployment, under distinct names
    assert {policy.enforcement_level for policy in rules.POLICIES} == {EnforcementLevel.MANDATORY}
    names = [policy.name for policy in rules.POLICIES]
    assert len(names) == len(set(names)) == 7


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (allow("*"), "statement Grant: wildcard action *"),
        (allow("s3:*"), "statement Grant: wildcard action s3:*"),
        (allow("s3:GetObject", "*"), "statement Grant: Resource '*' for s3:GetObject"),
        (allow(["xray:PutTraceSegments", "s3:GetObject"], "*"), "statement Grant: Resource '*' for s3:GetObject"),
        (
            {"Sid": "Grant", "Effect": "Allow", "NotAction": "iam:*", "Resource": BUCKET_ARN},
            "statement Grant: Allow with NotAction grants everything else",
        ),
    ],
)
def test_identity_policies_may_not_allow_wildcards(statement, expected):
    # GIVEN a role policy with one wildcard grant WHEN checked THEN iam-no-wildcards names the statement
    assert role_policy(document(statement)) == [Violation("iam-no-wildcards", "permissions", expected)]


def test_actions_aws_cannot_scope_and_denies_may_use_wildcards():
    # GIVEN X-Ray and PutMetricData on '*' (no resource types exist) and a Deny of everything
    grants = document(
        allow(["xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:PutMetricData"], "*"),
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
    )
    # WHEN checked THEN nothing is reported
    assert role_policy(grants) == []


def test_the_state_machine_log_delivery_statement_is_the_only_logs_wildcard():
    # GIVEN the workflow's log-delivery document (AWS requires "*"), and the same "*" for writing log events
    delivery = policies.state_machine_log_delivery_policy()
    writing = document(allow(["logs:CreateLogDelivery", "logs:PutLogEvents"], "*"))
    # WHEN checked THEN the delivery document passes; a log action that AWS can scope is still reported
    assert role_policy(delivery) == []
    assert role_policy(writing) == [
        Violation("iam-no-wildcards", "permissions", "statement Grant: Resource '*' for logs:PutLogEvents")
    ]


def test_aws_managed_policies_are_refused():
    # GIVEN an attachment of an AWS-managed policy WHEN checked THEN it is reported; the account's own policy is not
    attach = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    managed = resource(attach, "basic", {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    own = resource(attach, "own", {"role": "r", "policyArn": "arn:aws:iam::123456789012:policy/own"})
    message = "AWS-managed policy arn:aws:iam::aws:policy/AdministratorAccess attached"
    assert evaluate([managed, own]) == [Violation("iam-no-wildcards", "basic", message)]


def test_the_programs_resource_policies_pass():
    # GIVEN the bucket policy (with CDN) and trust policy the program generates, and AWS's default key policy
    found = evaluate(
        [
            resource(rules.BUCKET_POLICY, "tls", {"policy": policies.bucket_policy(BUCKET_ARN, "arn:cf")}),
            resource("aws:iam/role:Role", "role", {"assumeRolePolicy": policies.lambda_assume_role()}),
            resource(rules.KMS_KEY, "key", {"policy": document(allow("kms:*", "*", Principal={"AWS": ROOT}))}),
        ]
    )
    # WHEN checked THEN only the stack rule speaks (no bucket exists for the bucket policy): no resource rule does
    assert [v for v in found if v.policy == "resource-policies-not-public"] == []


@pytest.mark.parametrize(
    ("typ", "statement", "expected"),
    [
        (rules.BUCKET_POLICY, allow("s3:GetObject", Principal="*"), "statement Grant: Allow to Principal '*'"),
        (rules.TOPIC_POLICY, allow("sns:Publish", Principal={"AWS": "*"}), "statement Grant: Allow to Principal '*'"),
        (
            rules.KMS_KEY,
            allow("kms:*", "*", Principal={"Service": "cloudwatch.amazonaws.com"}),
            "statement Grant: wildcard action kms:*",
        ),
    ],
)
def test_resource_policies_may_not_be_public_or_wildcard(typ, statement, expected):
    # GIVEN a resource policy granting everyone, or kms:* to someone other than the account root
    found = evaluate([resource(typ, "doc", {"policy": document(statement)})])
    # WHEN checked THEN resource-policies-not-public names the statement
    assert Violation("resource-policies-not-public", "doc", expected) in found


@pytest.mark.parametrize(
    ("statement", "denies"),
    [
        (json.loads(policies.bucket_policy(BUCKET_ARN))["Statement"][0], True),
        (tls_statement(Action="*", Condition={"Bool": {"aws:SecureTransport": False}}), True),
        (tls_statement(Condition={"Bool": {"aws:SecureTransport": "true"}}), False),
        (tls_statement(Action="s3:GetObject"), False),
        (tls_statement(Action="sns:Publish"), False),
        (tls_statement(Principal={"Service": "cloudfront.amazonaws.com"}), False),
        (tls_statement(Effect="Allow"), False),
    ],
)
def test_only_a_deny_of_every_action_to_everyone_without_tls_counts(statement, denies):
    # GIVEN one statement WHEN judged as a TLS-only policy THEN only a full Deny on SecureTransport=false counts
    assert rules.denies_insecure_transport(document(statement), "s3") is denies


def bucket_with(**drop: bool) -> list[Any]:
    """A bucket and its three companions, leaving out those named in `drop`."""
    bucket = resource(rules.BUCKET, "photos", {"bucket": "photos"})
    flags = dict.fromkeys(rules.PUBLIC_ACCESS_FLAGS, True)
    sse = {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}
    companions = {
        "block": resource(rules.PUBLIC_ACCESS_BLOCK, "block", flags, bucket=bucket),
        "sse": resource(rules.BUCKET_ENCRYPTION, "sse", sse, bucket=bucket),
        "tls": resource(rules.BUCKET_POLICY, "tls", {"policy": policies.bucket_policy(BUCKET_ARN)}, bucket=bucket),
    }
    return [bucket, *(r for name, r in companions.items() if not drop.get(name))]


def test_a_bucket_with_its_three_companions_passes():
    # GIVEN a bucket with a full public access block, default encryption and a TLS-only policy
    # WHEN the pack runs THEN nothing is reported
    assert evaluate(bucket_with()) == []


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("block", "no public access block with all four flags true"),
        ("sse", "no default encryption configuration"),
        ("tls", "no bucket policy denying requests without TLS"),
    ],
)
def test_a_bucket_without_a_companion_is_reported(missing, message):
    # GIVEN a bucket missing one companion WHEN the pack runs THEN the stack policy names the bucket and the gap
    assert evaluate(bucket_with(**{missing: True})) == [Violation("every-store-locked-down", "photos", message)]


@pytest.mark.parametrize("flag", rules.PUBLIC_ACCESS_FLAGS)
def test_a_public_access_block_with_one_flag_off_is_reported_twice(flag):
    # GIVEN a bucket whose public access block leaves one flag false
    bucket = resource(rules.BUCKET, "photos", {})
    flags = {**dict.fromkeys(rules.PUBLIC_ACCESS_FLAGS, True), flag: False}
    others = [r for r in bucket_with(block=True) if r.resource_type != rules.BUCKET]
    for other in others:
        other.property_dependencies = {"bucket": [bucket]}
    found = evaluate([bucket, resource(rules.PUBLIC_ACCESS_BLOCK, "block", flags, bucket=bucket), *others])
    # WHEN the pack runs THEN the block itself and the bucket it leaves open are both reported
    assert found == [
        Violation("public-access-block-complete", "block", f"{flag} must be true"),
        Violation("every-store-locked-down", "photos", "no public access block with all four flags true"),
    ]


@pytest.mark.parametrize(
    ("typ", "props", "message"),
    [
        (rules.TOPIC, {}, "topic without kmsMasterKeyId"),
        (rules.QUEUE, {"sqsManagedSseEnabled": False}, "queue without sqsManagedSseEnabled or kmsMasterKeyId"),
        (rules.TABLE, {"serverSideEncryption": {"enabled": False}}, "table without serverSideEncryption.enabled (KMS)"),
        (
            rules.BUCKET_ENCRYPTION,
            {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "none"}}]},
            "no default encryption rule with one of ['AES256', 'aws:kms', 'aws:kms:dsse']",
        ),
    ],
)
def test_stores_without_encryption_at_rest_are_reported(typ, props, message):
    # GIVEN a store without encryption at rest WHEN checked THEN encryption-at-rest says what is missing
    assert Violation("encryption-at-rest", "store", message) in evaluate([resource(typ, "store", props)])


@pytest.mark.parametrize(
    ("typ", "props"),
    [
        (rules.TOPIC, {"kmsMasterKeyId": "alias/aws/sns"}),
        (rules.QUEUE, {"sqsManagedSseEnabled": True}),
        (rules.QUEUE, {"kmsMasterKeyId": "arn:aws:kms:us-east-1:1:key/k"}),
        (rules.TABLE, {"serverSideEncryption": {"enabled": True}}),
    ],
)
def test_encrypted_stores_pass(typ, props):
    # GIVEN an encrypted store WHEN checked THEN encryption-at-rest is silent
    assert [v for v in evaluate([resource(typ, "store", props)]) if v.policy == "encryption-at-rest"] == []


@pytest.mark.parametrize("typ", [rules.TOPIC, rules.QUEUE])
def test_topics_and_queues_need_a_tls_only_policy_linked_or_inline(typ):
    # GIVEN a topic/queue without a policy, one with a linked TLS-only policy, and one with it inline
    service, policy_type, key = (
        ("sns", rules.TOPIC_POLICY, "arn") if typ == rules.TOPIC else ("sqs", rules.QUEUE_POLICY, "queueUrl")
    )
    tls = document({"Effect": "Deny", "Principal": "*", "Action": f"{service}:*", "Resource": "x",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}})  # fmt: skip
    encrypted = {"kmsMasterKeyId": "k", "sqsManagedSseEnabled": True}
    bare, linked = resource(typ, "bare", encrypted), resource(typ, "linked", encrypted)
    inline = resource(typ, "inline", {**encrypted, "policy": tls})
    found = evaluate([bare, linked, inline, resource(policy_type, "tls", {"policy": tls}, **{key: linked})])
    # WHEN the pack runs THEN only the bare one is reported
    assert found == [Violation("every-store-locked-down", "bare", f"no {service} policy denying requests without TLS")]


@pytest.mark.parametrize(
    ("props", "ok"),
    [
        ({"retentionInDays": 7.0}, True),
        ({}, False),
        ({"retentionInDays": 0}, False),
        ({"retentionInDays": True}, False),
    ],
)
def test_log_groups_must_expire(props, ok):
    # GIVEN a log group WHEN checked THEN only a positive retention passes
    found = evaluate([resource(rules.LOG_GROUP, "logs", props)])
    assert found == ([] if ok else [Violation("log-retention", "logs", rules.log_retention_violations({})[0])])


@pytest.mark.parametrize(("service", "denies"), [("sns", True), ("sqs", False), ("s3", False)])
def test_a_deny_of_publish_only_is_enough_for_a_topic_alone(service, denies):
    # GIVEN AWS's documented SNS statement: Deny SNS:Publish without TLS (any case)
    statement = tls_statement(Action="SNS:Publish")
    # WHEN judged for each service THEN it counts for a topic only: queues and buckets must deny every action
    assert rules.denies_insecure_transport(document(statement), service) is denies


def test_roles_inline_and_managed_policies_are_checked_too():
    # GIVEN a role carrying a wildcard inline policy and an AWS-managed policy
    role = resource(
        rules.ROLE,
        "role",
        {
            "assumeRolePolicy": policies.lambda_assume_role(),
            "inlinePolicies": [{"name": "all", "policy": document(allow("s3:*"))}],
            "managedPolicyArns": ["arn:aws:iam::aws:policy/PowerUserAccess"],
        },
    )
    # WHEN checked THEN both are reported by iam-no-wildcards
    assert [v.message for v in evaluate([role]) if v.policy == "iam-no-wildcards"] == [
        "statement Grant: wildcard action s3:*",
        "AWS-managed policy arn:aws:iam::aws:policy/PowerUserAccess attached",
    ]


@pytest.mark.parametrize(
    ("typ", "props", "message"),
    [
        (rules.LAMBDA_PERMISSION, {"principal": "*"}, "invoke permission for Principal '*'"),
        (
            rules.LAMBDA_PERMISSION,
            {"principal": "s3.amazonaws.com", "sourceAccount": "123456789012"},
            "s3.amazonaws.com may invoke without sourceArn: any s3.amazonaws.com resource could",
        ),
        (rules.FUNCTION_URL, {"authorizationType": "NONE"}, "function URL without authorization"),
    ],
)
def test_functions_are_never_open_to_invoke(typ, props, message):
    # GIVEN an anonymous or unbound invoke grant WHEN checked THEN lambda-invoke-bound reports it
    assert evaluate([resource(typ, "invoke", props)]) == [Violation("lambda-invoke-bound", "invoke", message)]


def test_a_service_permission_bound_to_its_source_passes():
    # GIVEN S3 allowed to invoke for one bucket of one account WHEN checked THEN nothing is reported
    props = {"principal": "s3.amazonaws.com", "sourceArn": BUCKET_ARN, "sourceAccount": "123456789012"}
    assert evaluate([resource(rules.LAMBDA_PERMISSION, "invoke", props)]) == []
