"""NotifyingFunction: the image Lambda, its trigger, role, logs, notification topic and failure queue."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pulumi
import pulumi_aws as aws

from components import packaging, policies
from components.args import ArgError, between, one_of
from components.naming import validate_emails
from handler.renditions import RenditionSpec, renditions_json, watermark_keys
from handler.settings import check_int, default, settings_from_env

HANDLER = "handler.app.lambda_handler"
DEFAULT_RUNTIME = "python3.13"
DEFAULT_ARCHITECTURE = "x86_64"
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
FOURTEEN_DAYS = 14 * 24 * 3600
MAX_RENDITIONS_JSON = 3000
MAX_TIMEOUT_SECONDS = 900
MAX_RESERVED_CONCURRENCY = 1000  # the default account quota
S3_EVENTS = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
EVENTBRIDGE_DETAIL_TYPES = ["Object Created", "Object Deleted"]
# AWS's advice for an SQS event source: visibility of six function timeouts, and five receives before the DLQ.
VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT = 6
MAX_RECEIVES_BEFORE_DEAD_LETTER = 5
MAX_SQS_BATCH_SIZE = 10  # larger batches need a batching window, which delays every image
SQS_MAX_CONCURRENCY_RANGE = (2, 1000)  # Lambda's limits for an SQS event source's maximum concurrency


@dataclass(frozen=True)
class NotifyingFunctionArgs:
    """What the function reads, writes and tells, how it runs, and what triggers it."""

    function_name: str
    account_id: pulumi.Input[str]
    region: str
    source_bucket_name: pulumi.Input[str]
    source_bucket_arn: pulumi.Input[str]
    destination_bucket_name: pulumi.Input[str]
    destination_bucket_arn: pulumi.Input[str]
    notification_emails: Sequence[str]
    code: pulumi.Archive
    runtime: str = DEFAULT_RUNTIME
    architecture: str = DEFAULT_ARCHITECTURE
    memory_mb: int = default("memory_mb")
    timeout_seconds: int = 60
    log_retention_days: int = 7
    max_retry_attempts: int = 2
    max_event_age_seconds: int = 3600
    resize_width: int = default("width")
    resize_height: int = default("height")
    jpeg_quality: int = default("jpeg_quality")
    kms_key_arn: str | None = None
    renditions: tuple[RenditionSpec, ...] = ()
    processing_history: bool = False
    cache_control: str = ""
    heic: bool = default("heic")
    reserved_concurrency: int | None = None
    cdn_distribution: aws.cloudfront.Distribution | None = None
    trigger: str = default("trigger")
    sqs_batch_size: int = 5
    sqs_max_concurrency: int = 5
    environment: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_platform(self.runtime, self.architecture)
        check_int("memory_mb", self.memory_mb)
        between("timeout_seconds", self.timeout_seconds, 1, MAX_TIMEOUT_SECONDS)
        one_of("log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)
        between("max_retry_attempts", self.max_retry_attempts, 0, 2)
        between("max_event_age_seconds", self.max_event_age_seconds, 60, 21600)
        # The handler's own rules, so preview refuses exactly what a cold start would.
        settings_from_env({**self.handler_environment(), "DESTINATION_BUCKET": "-", "SNS_TOPIC_ARN": "arn:-"})
        if len(renditions_json(self.renditions)) > MAX_RENDITIONS_JSON:
            raise ArgError(
                "renditions", f"take more than {MAX_RENDITIONS_JSON} characters of JSON; Lambda's environment is 4 KB"
            )
        validate_emails(self.notification_emails, "notification_emails")
        if not re.match(r"^[A-Za-z0-9_-]{1,64}$", self.function_name):
            raise ArgError("function_name", f"must be 1-64 letters, digits, - or _, got {self.function_name!r}")
        self._check_concurrency()

    def _check_concurrency(self) -> None:
        if self.reserved_concurrency is not None:
            # 0 would stop the function; above the account's quota the deploy fails anyway.
            between("reserved_concurrency", self.reserved_concurrency, 1, MAX_RESERVED_CONCURRENCY)
        between("sqs_batch_size", self.sqs_batch_size, 1, MAX_SQS_BATCH_SIZE)
        between("sqs_max_concurrency", self.sqs_max_concurrency, *SQS_MAX_CONCURRENCY_RANGE)
        reserved = self.reserved_concurrency
        if self.trigger == "sqs" and reserved is not None and reserved < self.sqs_max_concurrency:
            raise ArgError(
                "sqs_max_concurrency",
                f"({self.sqs_max_concurrency}) must not exceed reserved_concurrency ({reserved}): "
                "throttled batches would end in the dead-letter queue",
            )

    def handler_environment(self) -> dict[str, str]:
        """The function's variables known before deployment (bucket and topic names come later)."""
        return {
            **self.environment,
            "RESIZE_WIDTH": str(self.resize_width),
            "RESIZE_HEIGHT": str(self.resize_height),
            "JPEG_QUALITY": str(self.jpeg_quality),
            "HEIC_ENABLED": "true" if self.heic else "false",
            "TRIGGER": self.trigger,
            **({"RENDITIONS": renditions_json(self.renditions)} if self.renditions else {}),
            **({"CACHE_CONTROL": self.cache_control} if self.cache_control else {}),
        }


def check_platform(runtime: str, architecture: str) -> None:
    """Refuse a runtime or architecture the deployment archive is not built for."""
    one_of("runtime", runtime, packaging.RUNTIMES)
    one_of("architecture", architecture, packaging.ARCHITECTURES)


class NotifyingFunction(pulumi.ComponentResource):
    """The image-processing Lambda wired to the source bucket's object created and removed events.

    Also: the notification topic (KMS-encrypted, TLS-only) with e-mail subscriptions, the log group
    (created before the function), a least-privilege role, and an encrypted, TLS-only failure queue
    for events that exhaust their retries. The trigger is S3's direct notification (`s3`), an SQS
    queue in between (`sqs`: batches, a concurrency cap, partial batch failures, redrive to the
    failure queue) or EventBridge (`eventbridge`).
    """

    function: aws.lambda_.Function
    topic: aws.sns.Topic
    log_group: aws.cloudwatch.LogGroup
    dead_letter_queue: aws.sqs.Queue
    trigger_queue: aws.sqs.Queue | None
    role: aws.iam.Role
    history_table: aws.dynamodb.Table | None

    def __init__(self, name: str, args: NotifyingFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-processor:compute:NotifyingFunction", name, None, opts)
        self._name = name
        self._args = args
        self.topic = self._topic()
        self.log_group = function_log_group(self, name, args)
        self.dead_letter_queue = self._failure_queue()
        self.trigger_queue = self._trigger_queue() if args.trigger == "sqs" else None
        self.history_table = self._history_table() if args.processing_history else None
        self.role = function_role(self, name)
        self.function = self._function(self._role_policy())
        self._retry_then_keep_failed_events()
        self._failure_queue_policy(self._trigger())
        self.register_outputs(
            {
                "function_name": self.function.name,
                "function_arn": self.function.arn,
                "topic_arn": self.topic.arn,
                "log_group_name": self.log_group.name,
                "dead_letter_queue_url": self.dead_letter_queue.url,
                "dead_letter_queue_name": self.dead_letter_queue.name,
                "trigger_queue_url": self.trigger_queue.url if self.trigger_queue else None,
                "history_table_name": self.history_table.name if self.history_table else None,
            }
        )

    def _topic(self) -> aws.sns.Topic:
        child = pulumi.ResourceOptions(parent=self)
        topic = aws.sns.Topic(f"{self._name}-notifications", kms_master_key_id="alias/aws/sns", opts=child)
        aws.sns.TopicPolicy(
            f"{self._name}-notifications-tls-only",
            arn=topic.arn,
            policy=topic.arn.apply(policies.topic_policy),
            opts=child,
        )
        for index, address in enumerate(self._args.notification_emails):
            aws.sns.TopicSubscription(
                f"{self._name}-email-{index}", topic=topic.arn, protocol="email", endpoint=address, opts=child
            )
        return topic

    def _tls_only(self, name: str, queue: aws.sqs.Queue, policy: pulumi.Input[str]) -> aws.sqs.QueuePolicy:
        return aws.sqs.QueuePolicy(name, queue_url=queue.url, policy=policy, opts=pulumi.ResourceOptions(parent=self))

    def _failure_queue(self) -> aws.sqs.Queue:
        return aws.sqs.Queue(
            f"{self._name}-failed-events",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=FOURTEEN_DAYS,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _failure_queue_policy(self, event_rule: aws.cloudwatch.EventRule | None) -> None:
        """TLS only; with trigger eventbridge, the rule may also leave the events it could not deliver."""
        queue = self.dead_letter_queue
        policy = pulumi.Output.all(queue.arn, event_rule.arn if event_rule else "").apply(
            lambda arns: policies.queue_policy(arns[0], arns[1] or None)
        )
        self._tls_only(f"{self._name}-failed-events-tls-only", queue, policy)

    def _trigger_queue(self) -> aws.sqs.Queue:
        """The queue between S3 and the function (trigger "sqs"): failed batches move to the failure queue."""
        return aws.sqs.Queue(
            f"{self._name}-upload-events",
            sqs_managed_sse_enabled=True,
            visibility_timeout_seconds=self._args.timeout_seconds * VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT,
            redrive_policy=self.dead_letter_queue.arn.apply(
                lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": MAX_RECEIVES_BEFORE_DEAD_LETTER})
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _history_table(self) -> aws.dynamodb.Table:
        return aws.dynamodb.Table(
            f"{self._name}-history",
            billing_mode="PAY_PER_REQUEST",
            hash_key="source_key",
            attributes=[{"name": "source_key", "type": "S"}],
            server_side_encryption={"enabled": True},
            point_in_time_recovery={"enabled": True},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _role_policy(self) -> aws.iam.RolePolicy:
        args = self._args
        optional = (self.history_table, args.cdn_distribution, self.trigger_queue)
        arns = pulumi.Output.all(
            args.source_bucket_arn,
            args.destination_bucket_arn,
            self.topic.arn,
            self.log_group.arn,
            self.dead_letter_queue.arn,
            *(resource.arn if resource else "" for resource in optional),
        )
        policy = arns.apply(
            lambda arn: policies.function_policy(
                region=args.region,
                source_bucket_arn=arn[0],
                destination_bucket_arn=arn[1],
                topic_arn=arn[2],
                log_group_arn=arn[3],
                dead_letter_queue_arn=arn[4],
                kms_key_arn=args.kms_key_arn,
                watermark_keys=watermark_keys(args.renditions),
                history_table_arn=arn[5] or None,
                distribution_arn=arn[6] or None,
                trigger_queue_arn=arn[7] or None,
            )
        )
        return aws.iam.RolePolicy(
            f"{self._name}-permissions", role=self.role.id, policy=policy, opts=pulumi.ResourceOptions(parent=self)
        )

    def _function(self, role_policy: aws.iam.RolePolicy) -> aws.lambda_.Function:
        args = self._args
        distribution = args.cdn_distribution
        return lambda_function(
            self,
            self._name,
            args,
            handler=HANDLER,
            role=self.role,
            role_policy=role_policy,
            log_group=self.log_group,
            reserved_concurrency=args.reserved_concurrency,
            variables={
                **args.handler_environment(),
                **({"HISTORY_TABLE": self.history_table.name} if self.history_table else {}),
                **(
                    {"CDN_DISTRIBUTION_ID": distribution.id, "CDN_DOMAIN": distribution.domain_name}
                    if distribution
                    else {}
                ),
                "SOURCE_BUCKET": args.source_bucket_name,
                "DESTINATION_BUCKET": args.destination_bucket_name,
                "SNS_TOPIC_ARN": self.topic.arn,
            },
        )

    def _retry_then_keep_failed_events(self) -> None:
        """Asynchronous invocations (triggers s3 and eventbridge) retry, then land in the failure queue."""
        aws.lambda_.FunctionEventInvokeConfig(
            f"{self._name}-async",
            function_name=self.function.name,
            maximum_retry_attempts=self._args.max_retry_attempts,
            maximum_event_age_in_seconds=self._args.max_event_age_seconds,
            destination_config={"on_failure": {"destination": self.dead_letter_queue.arn}},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _trigger(self) -> aws.cloudwatch.EventRule | None:
        """Wire the configured trigger; the EventBridge rule, if that is the trigger."""
        if self._args.trigger == "eventbridge":
            return self._eventbridge_trigger()
        if self._args.trigger == "sqs":
            self._sqs_trigger()
        else:
            self._s3_trigger()
        return None

    def _s3_trigger(self) -> None:
        args = self._args
        permission = aws.lambda_.Permission(
            f"{self._name}-s3-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="s3.amazonaws.com",
            source_arn=args.source_bucket_arn,
            source_account=args.account_id,  # with source_arn: no other account's bucket can invoke it
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.s3.BucketNotification(
            f"{self._name}-trigger",
            bucket=args.source_bucket_name,
            lambda_functions=[{"lambda_function_arn": self.function.arn, "events": S3_EVENTS}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )

    def _sqs_trigger(self) -> None:
        assert self.trigger_queue is not None
        args = self._args
        queue_policy = self._tls_only(
            f"{self._name}-upload-events-policy",
            self.trigger_queue,
            pulumi.Output.all(self.trigger_queue.arn, args.source_bucket_arn, args.account_id).apply(
                lambda values: policies.trigger_queue_policy(values[0], values[1], values[2])
            ),
        )
        aws.s3.BucketNotification(
            f"{self._name}-trigger",
            bucket=args.source_bucket_name,
            queues=[{"queue_arn": self.trigger_queue.arn, "events": S3_EVENTS}],
            # S3 checks that it may send to the queue when the notification is saved.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy]),
        )
        aws.lambda_.EventSourceMapping(
            f"{self._name}-upload-events-source",
            event_source_arn=self.trigger_queue.arn,
            function_name=self.function.arn,
            batch_size=args.sqs_batch_size,
            scaling_config={"maximum_concurrency": args.sqs_max_concurrency},
            function_response_types=["ReportBatchItemFailures"],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _eventbridge_trigger(self) -> aws.cloudwatch.EventRule:
        args = self._args
        child = pulumi.ResourceOptions(parent=self)
        aws.s3.BucketNotification(f"{self._name}-trigger", bucket=args.source_bucket_name, eventbridge=True, opts=child)
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-object-events",
            description="Objects created in or deleted from the image source bucket",
            event_pattern=pulumi.Output.from_input(args.source_bucket_name).apply(_object_event_pattern),
            opts=child,
        )
        permission = aws.lambda_.Permission(
            f"{self._name}-eventbridge-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-object-events-target",
            rule=rule.name,
            arn=self.function.arn,
            # After EventBridge's own retries (24 hours), nothing is lost: the event waits in the failure queue.
            dead_letter_config={"arn": self.dead_letter_queue.arn},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )
        return rule


class FunctionSettings(Protocol):
    """The fields every component's function args share (NotifyingFunctionArgs, UploadApiArgs)."""

    @property
    def function_name(self) -> str: ...
    @property
    def code(self) -> pulumi.Archive: ...
    @property
    def runtime(self) -> str: ...
    @property
    def architecture(self) -> str: ...
    @property
    def memory_mb(self) -> int: ...
    @property
    def timeout_seconds(self) -> int: ...
    @property
    def log_retention_days(self) -> int: ...


def function_log_group(parent: pulumi.Resource, name: str, settings: FunctionSettings) -> aws.cloudwatch.LogGroup:
    """`/aws/lambda/<function>` (`<name>-logs`) with its retention, for `lambda_function` to wait for."""
    return aws.cloudwatch.LogGroup(
        f"{name}-logs",
        name=f"/aws/lambda/{settings.function_name}",
        retention_in_days=settings.log_retention_days,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def function_role(parent: pulumi.Resource, name: str) -> aws.iam.Role:
    """A role (`<name>-role`) only Lambda may assume; its permissions are one inline policy of the caller's."""
    return aws.iam.Role(
        f"{name}-role", assume_role_policy=policies.lambda_assume_role(), opts=pulumi.ResourceOptions(parent=parent)
    )


def lambda_function(
    parent: pulumi.Resource,
    name: str,
    settings: FunctionSettings,
    *,
    handler: str,
    role: aws.iam.Role,
    role_policy: aws.iam.RolePolicy,
    log_group: aws.cloudwatch.LogGroup,
    variables: Mapping[str, pulumi.Input[str]],
    reserved_concurrency: int | None = None,
) -> aws.lambda_.Function:
    """The function (`<name>-function`), logging to `log_group`, created after it and its role's policy."""
    return aws.lambda_.Function(
        f"{name}-function",
        name=settings.function_name,
        role=role.arn,
        runtime=settings.runtime,
        architectures=[settings.architecture],
        handler=handler,
        code=settings.code,
        memory_size=settings.memory_mb,
        timeout=settings.timeout_seconds,
        reserved_concurrent_executions=reserved_concurrency,
        logging_config={"log_format": "Text", "log_group": log_group.name},
        environment={"variables": dict(variables)},
        # The log group must exist first, or Lambda creates an unmanaged one that never expires.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[log_group, role_policy]),
    )


def _object_event_pattern(bucket_name: str) -> str:
    return json.dumps(
        {"source": ["aws.s3"], "detail-type": EVENTBRIDGE_DETAIL_TYPES, "detail": {"bucket": {"name": [bucket_name]}}},
        sort_keys=True,
    )
