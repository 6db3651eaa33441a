"""AlarmSet: CloudWatch alarms and a dashboard for the pipeline, sent to an encrypted alarm topic."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import policies
from components.args import ArgError, one_of
from components.naming import REQUEST_METRICS_FILTER, validate_emails

AT_LEAST = "GreaterThanOrEqualToThreshold"
ABOVE = "GreaterThanThreshold"
COMPARISONS = (AT_LEAST, ABOVE, "LessThanThreshold", "LessThanOrEqualToThreshold")
# S3 publishes storage metrics once a day.
STORAGE_PERIOD_SECONDS = 86400


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch alarm: the metric to watch and when it fires. Other components add theirs this way."""

    suffix: str
    namespace: str
    metric: str
    dimensions: dict[str, pulumi.Input[str]]
    statistic: str
    threshold: float
    comparison: str
    description: str

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z0-9-]{1,64}$", self.suffix):
            raise ArgError("suffix", f"must be lower-case letters, digits or -, got {self.suffix!r}")
        one_of("comparison", self.comparison, COMPARISONS)


@dataclass(frozen=True)
class AlarmSetArgs:
    """What to watch and whom to tell."""

    account_id: pulumi.Input[str]
    function_name: pulumi.Input[str]
    function_timeout_seconds: int
    dead_letter_queue_name: pulumi.Input[str]
    alarm_emails: Sequence[str]
    region: str
    dashboard_name: str
    bucket_names: Sequence[pulumi.Input[str]] = ()
    notification_topic_name: pulumi.Input[str] | None = None
    duration_threshold_fraction: float = 0.8
    period_seconds: int = 300
    extra_alarms: Sequence[AlarmSpec] = ()
    extra_widgets: Sequence[pulumi.Input[dict[str, Any]]] = ()

    def __post_init__(self) -> None:
        if not re.match(r"^[A-Za-z0-9_-]{1,255}$", self.dashboard_name):
            raise ArgError("dashboard_name", f"must be letters, digits, - or _, got {self.dashboard_name!r}")
        if not 0 < self.duration_threshold_fraction <= 1:
            raise ArgError("duration_threshold_fraction", f"must be in (0, 1], got {self.duration_threshold_fraction}")
        if self.period_seconds < 60 or self.period_seconds % 60:
            raise ArgError("period_seconds", f"must be a multiple of 60, got {self.period_seconds}")
        if self.function_timeout_seconds < 1:
            raise ArgError("function_timeout_seconds", f"must be positive, got {self.function_timeout_seconds}")
        validate_emails(self.alarm_emails, "alarm_emails")
        suffixes = [spec.suffix for spec in self.alarm_specs()]
        if len(set(suffixes)) < len(suffixes):
            raise ArgError("extra_alarms", f"need unique suffixes, got {suffixes}")

    def alarm_specs(self) -> list[AlarmSpec]:
        """The pipeline's own alarms followed by the extra ones."""
        function = {"FunctionName": self.function_name}
        duration_ms = self.function_timeout_seconds * 1000 * self.duration_threshold_fraction
        own = [
            AlarmSpec(
                "errors", "AWS/Lambda", "Errors", function, "Sum", 1, AT_LEAST, "The function raised or timed out"
            ),
            AlarmSpec(
                "duration",
                "AWS/Lambda",
                "Duration",
                function,
                "Maximum",
                duration_ms,
                ABOVE,
                f"An invocation took over {self.duration_threshold_fraction:.0%} of the function timeout",
            ),
            AlarmSpec(
                "throttles", "AWS/Lambda", "Throttles", function, "Sum", 1, AT_LEAST, "Invocations were throttled"
            ),
            AlarmSpec(
                "failed-events",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": self.dead_letter_queue_name},
                "Maximum",
                0,
                ABOVE,
                "Events exhausted their retries and wait in the on-failure queue",
            ),
        ]
        if self.notification_topic_name is not None:
            own.append(
                AlarmSpec(
                    "notifications-failed",
                    "AWS/SNS",
                    "NumberOfNotificationsFailed",
                    {"TopicName": self.notification_topic_name},
                    "Sum",
                    1,
                    AT_LEAST,
                    "Notification e-mails failed to deliver",
                )
            )
        return [*own, *self.extra_alarms]


class AlarmSet(pulumi.ComponentResource):
    """Errors, duration, throttles, failed-event and failed-notification alarms, and a dashboard.

    Alarm and OK actions go to one topic, encrypted with a customer-managed key (CloudWatch alarms
    cannot publish to a topic encrypted with the AWS-managed SNS key) whose policy and the topic's
    admit CloudWatch only for this account's alarms in this region, and only over TLS.
    """

    topic: aws.sns.Topic
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    dashboard: aws.cloudwatch.Dashboard
    dashboard_url: pulumi.Output[str]

    def __init__(self, name: str, args: AlarmSetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-processor:monitoring:AlarmSet", name, None, opts)
        self._name = name
        self._args = args
        self.topic = self._topic()
        self.alarms = {spec.suffix: self._alarm(spec) for spec in args.alarm_specs()}
        self.dashboard = self._dashboard()
        self.dashboard_url = pulumi.Output.concat(
            f"https://{args.region}.console.aws.amazon.com/cloudwatch/home?region={args.region}#dashboards:name=",
            self.dashboard.dashboard_name,
        )
        self.register_outputs({"topic_arn": self.topic.arn, "dashboard_url": self.dashboard_url})

    def _topic(self) -> aws.sns.Topic:
        args = self._args
        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(
            f"{self._name}-key",
            description="Encrypts the image-processor alarm topic",
            enable_key_rotation=True,
            policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account_id: policies.alarm_topic_key_policy(account_id, args.region)
            ),
            opts=child,
        )
        topic = aws.sns.Topic(f"{self._name}-alarms", kms_master_key_id=key.arn, opts=child)
        aws.sns.TopicPolicy(
            f"{self._name}-alarms-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, args.account_id).apply(
                lambda values: policies.alarm_topic_policy(values[0], values[1], args.region)
            ),
            opts=child,
        )
        for index, address in enumerate(args.alarm_emails):
            aws.sns.TopicSubscription(
                f"{self._name}-email-{index}", topic=topic.arn, protocol="email", endpoint=address, opts=child
            )
        return topic

    def _alarm(self, spec: AlarmSpec) -> aws.cloudwatch.MetricAlarm:
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{spec.suffix}",
            alarm_description=spec.description,
            namespace=spec.namespace,
            metric_name=spec.metric,
            dimensions=spec.dimensions,
            statistic=spec.statistic,
            period=self._args.period_seconds,
            evaluation_periods=1,
            threshold=spec.threshold,
            comparison_operator=spec.comparison,
            treat_missing_data="notBreaching",
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _dashboard(self) -> aws.cloudwatch.Dashboard:
        args = self._args
        body = pulumi.Output.all(
            args.function_name,
            args.dead_letter_queue_name,
            args.notification_topic_name or "",
            pulumi.Output.all(*args.bucket_names),
            pulumi.Output.all(*args.extra_widgets),
        ).apply(
            lambda values: dashboard_body(
                args.region,
                args.period_seconds,
                function_name=values[0],
                queue_name=values[1],
                topic_name=values[2],
                bucket_names=values[3],
                extra_widgets=values[4],
            )
        )
        return aws.cloudwatch.Dashboard(
            f"{self._name}-dashboard",
            dashboard_name=args.dashboard_name,
            dashboard_body=body,
            opts=pulumi.ResourceOptions(parent=self),
        )


def _widget(region: str, title: str, metrics: list[list[Any]], stat: str, period: int) -> dict[str, Any]:
    return {
        "type": "metric",
        "width": 12,
        "height": 6,
        "properties": {"title": title, "region": region, "stat": stat, "period": period, "metrics": metrics},
    }


def dashboard_body(
    region: str,
    period: int,
    *,
    function_name: str,
    queue_name: str,
    topic_name: str = "",
    bucket_names: Sequence[str] = (),
    extra_widgets: Sequence[dict[str, Any]] = (),
) -> str:
    """CloudWatch dashboard: the function, the per-image metrics, the failure queue, buckets, notifications."""
    widgets = [
        *_function_widgets(region, period, function_name),
        _widget(
            region,
            "Events waiting in the failure queue",
            [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue_name]],
            "Maximum",
            period,
        ),
        *_bucket_widgets(region, period, bucket_names),
        *_topic_widgets(region, period, topic_name),
        *extra_widgets,
    ]
    return json.dumps({"widgets": widgets}, sort_keys=True)


def _function_widgets(region: str, period: int, function_name: str) -> list[dict[str, Any]]:
    function = ["FunctionName", function_name]
    images = "ImageProcessor"
    failed_by_reason = (
        f'SEARCH(\'{{{images},FunctionName,Reason}} MetricName="ImagesFailed" '
        f"FunctionName=\"{function_name}\"', 'Sum', {period})"
    )
    percentiles = ("p50", "p95", "Maximum")
    return [
        _widget(
            region,
            "Invocations, errors, throttles",
            [["AWS/Lambda", name, *function] for name in ("Invocations", "Errors", "Throttles")],
            "Sum",
            period,
        ),
        _widget(
            region,
            "Duration (ms)",
            [["AWS/Lambda", "Duration", *function, {"stat": stat, "label": stat}] for stat in percentiles],
            "Maximum",
            period,
        ),
        _widget(
            region, "Concurrent executions", [["AWS/Lambda", "ConcurrentExecutions", *function]], "Maximum", period
        ),
        _widget(
            region,
            "Images processed and failed (by reason)",
            [
                [images, "ImagesProcessed", *function],
                [{"expression": failed_by_reason, "id": "failed", "label": "ImagesFailed"}],
            ],
            "Sum",
            period,
        ),
        _widget(
            region, "Bytes in and out", [[images, "BytesIn", *function], [images, "BytesOut", *function]], "Sum", period
        ),
        _widget(
            region,
            "Processing time per image (ms)",
            [[images, "ProcessingMs", *function, {"stat": stat, "label": stat}] for stat in percentiles],
            "Maximum",
            period,
        ),
        _widget(region, "Pixels decoded", [[images, "Pixels", *function]], "Sum", period),
    ]


# S3's bucket metrics: title, metric, the dimension that selects it, statistic, and whether it is daily.
BUCKET_METRICS = (
    ("Objects per bucket", "NumberOfObjects", ("StorageType", "AllStorageTypes"), "Average", True),
    ("Bucket size (bytes)", "BucketSizeBytes", ("StorageType", "StandardStorage"), "Average", True),
    ("Requests per bucket", "AllRequests", ("FilterId", REQUEST_METRICS_FILTER), "Sum", False),
)


def _bucket_widgets(region: str, period: int, bucket_names: Sequence[str]) -> list[dict[str, Any]]:
    return [
        _widget(
            region,
            title,
            [["AWS/S3", metric, "BucketName", name, *dimension] for name in bucket_names],
            stat,
            STORAGE_PERIOD_SECONDS if daily else period,
        )
        for title, metric, dimension, stat, daily in BUCKET_METRICS
        if bucket_names
    ]


def _topic_widgets(region: str, period: int, topic_name: str) -> list[dict[str, Any]]:
    if not topic_name:
        return []
    return [
        _widget(
            region,
            "Notifications published and failed",
            [
                ["AWS/SNS", name, "TopicName", topic_name]
                for name in ("NumberOfMessagesPublished", "NumberOfNotificationsFailed")
            ],
            "Sum",
            period,
        )
    ]
