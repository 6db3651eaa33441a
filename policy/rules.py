"""The project's invariants as Pulumi policies: least-privilege IAM, TLS only, encryption, retention, no public buckets.

Each check is a pure function of a resource's inputs (camelCase, as the engine sends them) returning the
violations as messages, so it can be tested without the CLI; `POLICIES` wraps them for `pulumi_policy`.
Bucket-level checks follow the companion resources (public access block, encryption, bucket policy)
to their bucket through the engine's property dependencies, which are known even during preview.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
TABLE = "aws:dynamodb/table:Table"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
KMS_KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"

# Identity policies: every document field that holds an IAM policy.
IDENTITY_POLICY_FIELDS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
RESOURCE_POLICY_FIELDS = {
    BUCKET_POLICY: "policy",
    TOPIC_POLICY: "policy",
    QUEUE_POLICY: "policy",
    TOPIC: "policy",
    QUEUE: "policy",
    KMS_KEY: "policy",
    ROLE: "assumeRolePolicy",
}
MANAGED_POLICY_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
)
# The only actions AWS lets no policy scope to a resource: they may (must) use `"Resource": "*"`.
# Service Authorization Reference: X-Ray trace upload and CloudWatch PutMetricData have no resource types.
# CloudWatch Logs' log-delivery actions manage deliveries, not a log group: AWS's documented policy for a
# state machine's logging (Step Functions, "IAM policies for logging to CloudWatch Logs") puts them on "*".
LOG_DELIVERY_ACTIONS = frozenset(
    {
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:DescribeLogGroups",
        "logs:DescribeResourcePolicies",
        "logs:GetLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:UpdateLogDelivery",
    }
)
RESOURCE_WILDCARD_REQUIRED = (
    frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:PutMetricData"}) | LOG_DELIVERY_ACTIONS
)
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
BUCKET_SSE_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})

Props = Mapping[str, Any]


def _as_list(value: Any) -> list[Any]:
    # Props arrive wrapped in pulumi_policy's proxies: Sequence and Mapping, not list and dict.
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]


def _statements(document: Any) -> list[dict[str, Any]]:
    parsed = json.loads(document) if isinstance(document, str) else document
    return [dict(statement) for statement in _as_list(parsed.get("Statement", []))] if parsed else []


def _sid(statement: Mapping[str, Any]) -> str:
    return f"statement {statement.get('Sid', '(no Sid)')}"


def _wildcard_action(action: str) -> bool:
    return action == "*" or action.endswith(":*")


def _public_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and "*" in _as_list(principal.get("AWS", []))


def _is_account_root(principal: Any) -> bool:
    if not isinstance(principal, Mapping) or set(principal) != {"AWS"}:
        return False
    return all(str(arn).startswith("arn:") and str(arn).endswith(":root") for arn in _as_list(principal["AWS"]))


def identity_policy_violations(document: Any) -> list[str]:
    """An identity policy may not Allow a `*`/`service:*` action, NotAction/NotResource, or a `*` resource.

    Exception: actions that support no resource-level permission (`RESOURCE_WILDCARD_REQUIRED`).
    """
    problems = []
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        for negated in ("NotAction", "NotResource"):
            if negated in statement:
                problems.append(f"{_sid(statement)}: Allow with {negated} grants everything else")
        actions = [str(action) for action in _as_list(statement.get("Action", []))]
        problems += [f"{_sid(statement)}: wildcard action {action}" for action in actions if _wildcard_action(action)]
        if "*" in _as_list(statement.get("Resource", [])):
            unscoped = sorted(set(actions) - RESOURCE_WILDCARD_REQUIRED)
            if unscoped:
                problems.append(f"{_sid(statement)}: Resource '*' for {', '.join(unscoped)}")
    return problems


def resource_policy_violations(document: Any, *, key_policy: bool = False) -> list[str]:
    """A resource policy may not Allow everyone, or a wildcard action.

    In a key policy `Resource: "*"` means the key itself, and `kms:*` for the account root is AWS's
    default statement that keeps the key manageable through IAM.
    """
    problems = []
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        if _public_principal(principal):
            problems.append(f"{_sid(statement)}: Allow to Principal '*'")
        if "NotAction" in statement or "NotPrincipal" in statement:
            problems.append(f"{_sid(statement)}: Allow with NotAction/NotPrincipal")
        root_administers = key_policy and _is_account_root(principal)
        problems += [
            f"{_sid(statement)}: wildcard action {action}"
            for action in map(str, _as_list(statement.get("Action", [])))
            if _wildcard_action(action) and not root_administers
        ]
    return problems


# Actions a TLS-only Deny must cover. SNS: AWS's documented statement denies sns:Publish (the data path).
TLS_DENY_ACTIONS = {"s3": {"*", "s3:*"}, "sqs": {"*", "sqs:*"}, "sns": {"*", "sns:*", "sns:publish"}}


def denies_insecure_transport(document: Any, service: str) -> bool:
    """True if the document Denies everyone the service's actions (`TLS_DENY_ACTIONS`) without TLS."""
    for statement in _statements(document):
        condition = statement.get("Condition", {}).get("Bool", {})
        secure = str(condition.get("aws:SecureTransport", "")).lower()
        # IAM action names are case-insensitive (SNS:Publish is sns:Publish).
        actions = {str(action).lower() for action in _as_list(statement.get("Action", []))}
        if (
            statement.get("Effect") == "Deny"
            and _public_principal(statement.get("Principal"))
            and secure == "false"
            and actions & TLS_DENY_ACTIONS[service]
        ):
            return True
    return False


def public_access_block_violations(props: Props) -> list[str]:
    """Every flag of a bucket's public access block must be true."""
    return [f"{flag} must be true" for flag in PUBLIC_ACCESS_FLAGS if props.get(flag) is not True]


def bucket_encryption_violations(props: Props) -> list[str]:
    """A bucket encryption configuration needs a default rule with SSE-S3, SSE-KMS or DSSE-KMS."""
    algorithms = [
        (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
        for rule in _as_list(props.get("rules", []))
    ]
    if not any(algorithm in BUCKET_SSE_ALGORITHMS for algorithm in algorithms):
        return [f"no default encryption rule with one of {sorted(BUCKET_SSE_ALGORITHMS)}"]
    return []


def encryption_violations(resource_type: str, props: Props) -> list[str]:
    """Topics, queues and tables encrypt at rest with KMS or the service's managed SSE."""
    if resource_type == TOPIC and not props.get("kmsMasterKeyId"):
        return ["topic without kmsMasterKeyId"]
    if resource_type == QUEUE and not (props.get("sqsManagedSseEnabled") is True or props.get("kmsMasterKeyId")):
        return ["queue without sqsManagedSseEnabled or kmsMasterKeyId"]
    if resource_type == TABLE and (props.get("serverSideEncryption") or {}).get("enabled") is not True:
        return ["table without serverSideEncryption.enabled (KMS)"]
    return []


def log_retention_violations(props: Props) -> list[str]:
    """A log group must expire its events: retentionInDays set and positive (0 means never)."""
    days = props.get("retentionInDays")
    # The engine sends numbers as floats (7.0).
    return (
        []
        if isinstance(days, int | float) and not isinstance(days, bool) and days > 0
        else ["retentionInDays must be set; logs would be kept forever"]
    )


def managed_policy_violations(props: Props) -> list[str]:
    """AWS-managed policies are written for every account (most with wildcards): attach the program's own."""
    arn = str(props.get("policyArn", ""))
    return [f"AWS-managed policy {arn} attached"] if ":iam::aws:policy/" in arn else []


def iam_violations(resource_type: str, props: Props) -> list[str]:
    """The identity-policy rules for every resource that carries or attaches one."""
    if resource_type in IDENTITY_POLICY_FIELDS:
        return identity_policy_violations(props.get(IDENTITY_POLICY_FIELDS[resource_type]))
    if resource_type in MANAGED_POLICY_ATTACHMENTS:
        return managed_policy_violations(props)
    if resource_type == ROLE:
        inline = [p for entry in _as_list(props.get("inlinePolicies") or []) if (p := entry.get("policy"))]
        managed = _as_list(props.get("managedPolicyArns") or [])
        return [problem for document in inline for problem in identity_policy_violations(document)] + [
            problem for arn in managed for problem in managed_policy_violations({"policyArn": arn})
        ]
    return []


def invoke_violations(resource_type: str, props: Props) -> list[str]:
    """Nobody may invoke a function anonymously, and a service only for one source (no confused deputy)."""
    if resource_type == FUNCTION_URL and props.get("authorizationType") == "NONE":
        return ["function URL without authorization"]
    if resource_type != LAMBDA_PERMISSION:
        return []
    principal = str(props.get("principal", ""))
    if principal == "*":
        return ["invoke permission for Principal '*'"]
    if principal.endswith(".amazonaws.com") and not props.get("sourceArn"):
        return [f"{principal} may invoke without sourceArn: any {principal} resource could"]
    return []


def _linked(resources: Iterable[PolicyResource], guard_type: str, key: str, ok: Callable[[Props], bool]) -> set[str]:
    """URNs of the resources that a passing `guard_type` resource points at through its `key` input."""
    return {
        target.urn
        for guard in resources
        if guard.resource_type == guard_type and ok(guard.props)
        for target in guard.property_dependencies.get(key, [])
    }


def stack_violations(resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    """(urn, message) for every bucket, topic or queue missing a companion control."""
    buckets = [r for r in resources if r.resource_type == BUCKET]
    blocked = _linked(resources, PUBLIC_ACCESS_BLOCK, "bucket", lambda p: not public_access_block_violations(p))
    encrypted = _linked(resources, BUCKET_ENCRYPTION, "bucket", lambda p: not bucket_encryption_violations(p))
    tls_buckets = _linked(resources, BUCKET_POLICY, "bucket", lambda p: denies_insecure_transport(p["policy"], "s3"))
    tls_topics = _linked(resources, TOPIC_POLICY, "arn", lambda p: denies_insecure_transport(p["policy"], "sns"))
    tls_queues = _linked(resources, QUEUE_POLICY, "queueUrl", lambda p: denies_insecure_transport(p["policy"], "sqs"))
    problems = []
    for bucket in buckets:
        if bucket.urn not in blocked:
            problems.append((bucket.urn, "no public access block with all four flags true"))
        if bucket.urn not in encrypted:
            problems.append((bucket.urn, "no default encryption configuration"))
        if bucket.urn not in tls_buckets:
            problems.append((bucket.urn, "no bucket policy denying requests without TLS"))
    for typ, service, tls in ((TOPIC, "sns", tls_topics), (QUEUE, "sqs", tls_queues)):
        for resource in resources:
            if resource.resource_type != typ or resource.urn in tls:
                continue
            inline = resource.props.get("policy")
            if not (inline and denies_insecure_transport(inline, service)):
                problems.append((resource.urn, f"no {service} policy denying requests without TLS"))
    return problems


def _report(problems: Iterable[str], report_violation: ReportViolation) -> None:
    for problem in problems:
        report_violation(problem, None)


def _resource_policy(name: str, description: str, check: Callable[[str, Props], list[str]]) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        _report(check(args.resource_type, args.props), report_violation)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=EnforcementLevel.MANDATORY
    )


def _resource_policies(resource_type: str, props: Props) -> list[str]:
    field = RESOURCE_POLICY_FIELDS.get(resource_type)
    document = props.get(field) if field else None
    return resource_policy_violations(document, key_policy=resource_type == KMS_KEY) if document else []


def _stack_validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for urn, message in stack_violations(args.resources):
        report_violation(message, urn)


POLICIES = [
    _resource_policy(
        "iam-no-wildcards",
        "Identity policies name their actions and resources: no '*' action or resource (except actions AWS "
        "cannot scope), no NotAction/NotResource, no AWS-managed policies.",
        iam_violations,
    ),
    _resource_policy(
        "lambda-invoke-bound",
        "Functions are never invocable by everyone; a service principal's permission names its source ARN.",
        invoke_violations,
    ),
    _resource_policy(
        "resource-policies-not-public",
        "Resource and trust policies never Allow Principal '*' or a wildcard action (key policies: root only).",
        _resource_policies,
    ),
    _resource_policy(
        "encryption-at-rest",
        "Topics, queues and tables are encrypted at rest; bucket encryption rules use SSE-S3 or SSE-KMS.",
        lambda typ, props: (
            bucket_encryption_violations(props) if typ == BUCKET_ENCRYPTION else encryption_violations(typ, props)
        ),
    ),
    _resource_policy(
        "log-retention",
        "Every log group expires its events.",
        lambda typ, props: log_retention_violations(props) if typ == LOG_GROUP else [],
    ),
    _resource_policy(
        "public-access-block-complete",
        "A bucket public access block sets all four flags.",
        lambda typ, props: public_access_block_violations(props) if typ == PUBLIC_ACCESS_BLOCK else [],
    ),
    StackValidationPolicy(
        name="every-store-locked-down",
        description="Every bucket has a full public access block, default encryption and a TLS-only policy; "
        "every topic and queue has a TLS-only policy.",
        validate=_stack_validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]
