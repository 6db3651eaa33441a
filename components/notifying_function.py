"""NotifyingFunction: the image Lambda, its trigger, role, logs, notification topic and failure queue."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import packaging, policies
from components.naming import validate_emails
from handler.renditions import RenditionSpec, renditions_json, watermark_keys
from handler.settings import settings_from_env

HANDLER = "handler.app.lambda_handler"
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
# Handler variables set from typed args: an error about the variable names the arg instead.
ENVIRONMENT_FIELDS = {"RESIZE_WIDTH": "resize_width", "RESIZE_HEIGHT": "resize_height", "JPEG_QUALITY": "jpeg_quality"}


@dataclass(frozen=True)
class NotifyingFunctionArgs:
    """What the function reads, writes and tells, and how it runs."""

    function_name: str
    account_id: pulumi.Input[str]
    source_bucket_name: pulumi.Input[str]
    source_bucket_arn: pulumi.Input[str]
    destination_bucket_name: pulumi.Input[str]
    destination_bucket_arn: pulumi.Input[str]
    notification_emails: Sequence[str]
    runtime: str = "python3.13"
    architecture: str = "x86_64"
    memory_mb: int = 512
    timeout_seconds: int = 60
    log_retention_days: int = 7
    max_retry_attempts: int = 2
    max_event_age_seconds: int = 3600
    resize_width: int = 800
    resize_height: int = 600
    jpeg_quality: int = 85
    kms_key_arn: str | None = None
    renditions: tuple[RenditionSpec, ...] = ()
    processing_history: bool = False
    cache_control: str = ""
    environment: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.runtime not in packaging.RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(packaging.RUNTIMES)}, got {self.runtime!r}")
        if self.architecture not in packaging.ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {', '.join(packaging.ARCHITECTURES)}, got {self.architecture!r}"
            )
        if not 128 <= self.memory_mb <= 10240:
            raise ValueError(f"memory_mb must be between 128 and 10240, got {self.memory_mb}")
        if not 1 <= self.timeout_seconds <= 900:
            raise ValueError(f"timeout_seconds must be between 1 and 900, got {self.timeout_seconds}")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"log_retention_days must be one of {LOG_RETENTION_DAYS}, got {self.log_retention_days}")
        if not 0 <= self.max_retry_attempts <= 2:
            raise ValueError(f"max_retry_attempts must be 0, 1 or 2, got {self.max_retry_attempts}")
        if not 60 <= self.max_event_age_seconds <= 21600:
            raise ValueError(f"max_event_age_seconds must be between 60 and 21600, got {self.max_event_age_seconds}")
        try:
            # The handler's own rules, so preview refuses exactly what a cold start would.
            settings_from_env({**self.handler_environment(), "DESTINATION_BUCKET": "-", "SNS_TOPIC_ARN": "arn:-"})
        except ValueError as error:
            variable = str(error).split()[0]
            raise ValueError(
                f"{ENVIRONMENT_FIELDS[variable]}: {error}" if variable in ENVIRONMENT_FIELDS else str(error)
            ) from None
        validate_emails(self.notification_emails, "notification_emails")
        if len(renditions_json(self.renditions)) > MAX_RENDITIONS_JSON:
            raise ValueError(
                f"renditions: more than {MAX_RENDITIONS_JSON} characters of JSON; Lambda's environment is 4 KB"
            )
        if not re.match(r"^[A-Za-z0-9_-]{1,64}$", self.function_name):
            raise ValueError(f"function_name must be 1-64 letters, digits, - or _, got {self.function_name!r}")

    def handler_environment(self) -> dict[str, str]:
        """The function's variables known before deployment (bucket and topic names come later)."""
        return {
            **self.environment,
            "RESIZE_WIDTH": str(self.resize_width),
            "RESIZE_HEIGHT": str(self.resize_height),
            "JPEG_QUALITY": str(self.jpeg_quality),
            **({"RENDITIONS": renditions_json(self.renditions)} if self.renditions else {}),
            **({"CACHE_CONTROL": self.cache_control} if self.cache_control else {}),
        }


class NotifyingFunction(pulumi.ComponentResource):
    """The image-processing Lambda wired to S3 ObjectCreated events of the source bucket.

    Also: the notification topic (KMS-encrypted) with e-mail subscriptions, the log group (created
    before the function), a least-privilege role, and an encrypted on-failure queue for events that
    exhaust their async retries.
    """

    function: aws.lambda_.Function
    topic: aws.sns.Topic
    log_group: aws.cloudwatch.LogGroup
    dead_letter_queue: aws.sqs.Queue
    role: aws.iam.Role
    history_table: aws.dynamodb.Table | None

    def __init__(self, name: str, args: NotifyingFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-processor:compute:NotifyingFunction", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if packaging.RUNTIMES[args.runtime] == "manylinux2014":
            pulumi.log.warn(
                f"{args.runtime} runs on Amazon Linux 2 (glibc 2.26): it gets Pillow "
                f"{packaging.AMAZON_LINUX_2_PILLOW}, without the security fixes of later Pillow releases. "
                "Prefer python3.12 or newer.",
                resource=self,
            )

        self.topic = aws.sns.Topic(f"{name}-notifications", kms_master_key_id="alias/aws/sns", opts=child)
        for index, address in enumerate(args.notification_emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{index}", topic=self.topic.arn, protocol="email", endpoint=address, opts=child
            )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{args.function_name}",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-failed-events",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=FOURTEEN_DAYS,
            opts=child,
        )
        self.role = aws.iam.Role(f"{name}-role", assume_role_policy=policies.lambda_assume_role(), opts=child)
        self.history_table: aws.dynamodb.Table | None = None
        if args.processing_history:
            self.history_table = aws.dynamodb.Table(
                f"{name}-history",
                billing_mode="PAY_PER_REQUEST",
                hash_key="source_key",
                attributes=[{"name": "source_key", "type": "S"}],
                server_side_encryption={"enabled": True},
                point_in_time_recovery={"enabled": True},
                opts=child,
            )
        history_arn = self.history_table.arn if self.history_table else ""
        role_policy = aws.iam.RolePolicy(
            f"{name}-permissions",
            role=self.role.id,
            policy=pulumi.Output.all(
                args.source_bucket_arn,
                args.destination_bucket_arn,
                self.topic.arn,
                self.log_group.arn,
                self.dead_letter_queue.arn,
                history_arn,
            ).apply(
                lambda arns: policies.function_policy(
                    source_bucket_arn=arns[0],
                    destination_bucket_arn=arns[1],
                    topic_arn=arns[2],
                    log_group_arn=arns[3],
                    dead_letter_queue_arn=arns[4],
                    kms_key_arn=args.kms_key_arn,
                    watermark_keys=watermark_keys(args.renditions),
                    history_table_arn=arns[5] or None,
                )
            ),
            opts=child,
        )
        archive = packaging.build_archive(args.runtime, args.architecture)
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            role=self.role.arn,
            runtime=args.runtime,
            architectures=[args.architecture],
            handler=HANDLER,
            code=pulumi.FileArchive(str(archive)),
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            logging_config={"log_format": "Text", "log_group": self.log_group.name},
            environment={
                "variables": {
                    **args.handler_environment(),
                    **({"HISTORY_TABLE": self.history_table.name} if self.history_table else {}),
                    "SOURCE_BUCKET": args.source_bucket_name,
                    "DESTINATION_BUCKET": args.destination_bucket_name,
                    "SNS_TOPIC_ARN": self.topic.arn,
                }
            },
            # The log group must exist first, or Lambda creates an unmanaged one that never expires.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, role_policy]),
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-async",
            function_name=self.function.name,
            maximum_retry_attempts=args.max_retry_attempts,
            maximum_event_age_in_seconds=args.max_event_age_seconds,
            destination_config={"on_failure": {"destination": self.dead_letter_queue.arn}},
            opts=child,
        )
        permission = aws.lambda_.Permission(
            f"{name}-s3-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="s3.amazonaws.com",
            source_arn=args.source_bucket_arn,
            source_account=args.account_id,  # with source_arn: no other account's bucket can invoke it
            opts=child,
        )
        aws.s3.BucketNotification(
            f"{name}-trigger",
            bucket=args.source_bucket_name,
            lambda_functions=[
                {"lambda_function_arn": self.function.arn, "events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )
        self.register_outputs(
            {
                "function_name": self.function.name,
                "function_arn": self.function.arn,
                "topic_arn": self.topic.arn,
                "log_group_name": self.log_group.name,
                "dead_letter_queue_url": self.dead_letter_queue.url,
                "dead_letter_queue_name": self.dead_letter_queue.name,
                "history_table_name": self.history_table.name if self.history_table else None,
            }
        )
