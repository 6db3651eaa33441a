"""AlarmSet: CloudWatch alarms on the function and its failure queue, sent to an encrypted alarm topic."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import policies
from components.naming import validate_emails

AT_LEAST = "GreaterThanOrEqualToThreshold"
ABOVE = "GreaterThanThreshold"


@dataclass(frozen=True)
class _Alarm:
    suffix: str
    namespace: str
    metric: str
    dimensions: dict[str, pulumi.Input[str]]
    statistic: str
    threshold: float
    comparison: str
    description: str


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
    duration_threshold_fraction: float = 0.8
    period_seconds: int = 300

    def __post_init__(self) -> None:
        if not re.match(r"^[A-Za-z0-9_-]{1,255}$", self.dashboard_name):
            raise ValueError(f"dashboard_name must be letters, digits, - or _, got {self.dashboard_name!r}")
        if not 0 < self.duration_threshold_fraction <= 1:
            raise ValueError(f"duration_threshold_fraction must be in (0, 1], got {self.duration_threshold_fraction}")
        if self.period_seconds < 60 or self.period_seconds % 60:
            raise ValueError(f"period_seconds must be a multiple of 60, got {self.period_seconds}")
        if self.function_timeout_seconds < 1:
            raise ValueError(f"function_timeout_seconds must be positive, got {self.function_timeout_seconds}")
        validate_emails(self.alarm_emails, "alarm_emails")


class AlarmSet(pulumi.ComponentResource):
    """Errors, duration, throttles and failed-event alarms, with alarm and OK actions to one topic.

    The topic is encrypted with a customer-managed key, because CloudWatch alarms cannot publish to a
    topic encrypted with the AWS-managed SNS key.
    """

    topic: aws.sns.Topic
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    dashboard: aws.cloudwatch.Dashboard
    dashboard_url: pulumi.Output[str]

    def __init__(self, name: str, args: AlarmSetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-processor:monitoring:AlarmSet", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(
            f"{name}-key",
            description="Encrypts the image-processor alarm topic",
            enable_key_rotation=True,
            policy=pulumi.Output.from_input(args.account_id).apply(policies.alarm_topic_key_policy),
            opts=child,
        )
        self.topic = aws.sns.Topic(f"{name}-alarms", kms_master_key_id=key.arn, opts=child)
        for index, address in enumerate(args.alarm_emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{index}", topic=self.topic.arn, protocol="email", endpoint=address, opts=child
            )

        function = {"FunctionName": args.function_name}
        queue = {"QueueName": args.dead_letter_queue_name}
        duration_ms = args.function_timeout_seconds * 1000 * args.duration_threshold_fraction
        specs = [
            _Alarm("errors", "AWS/Lambda", "Errors", function, "Sum", 1, AT_LEAST, "The function raised or timed out"),
            _Alarm(
                "duration",
                "AWS/Lambda",
                "Duration",
                function,
                "Maximum",
                duration_ms,
                ABOVE,
                f"An invocation took over {args.duration_threshold_fraction:.0%} of the function timeout",
            ),
            _Alarm("throttles", "AWS/Lambda", "Throttles", function, "Sum", 1, AT_LEAST, "Invocations were throttled"),
            _Alarm(
                "failed-events",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                queue,
                "Maximum",
                0,
                ABOVE,
                "Events exhausted their retries and wait in the on-failure queue",
            ),
        ]
        self.alarms = {
            spec.suffix: aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.suffix}",
                alarm_description=spec.description,
                namespace=spec.namespace,
                metric_name=spec.metric,
                dimensions=spec.dimensions,
                statistic=spec.statistic,
                period=args.period_seconds,
                evaluation_periods=1,
                threshold=spec.threshold,
                comparison_operator=spec.comparison,
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                opts=child,
            )
            for spec in specs
        }
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.dashboard_name,
            dashboard_body=pulumi.Output.all(args.function_name, args.dead_letter_queue_name).apply(
                lambda names: dashboard_body(args.region, names[0], names[1], args.period_seconds)
            ),
            opts=child,
        )
        self.dashboard_url = pulumi.Output.concat(
            f"https://{args.region}.console.aws.amazon.com/cloudwatch/home?region={args.region}#dashboards:name=",
            self.dashboard.dashboard_name,
        )
        self.register_outputs({"topic_arn": self.topic.arn, "dashboard_url": self.dashboard_url})


def dashboard_body(region: str, function_name: str, queue_name: str, period: int) -> str:
    """CloudWatch dashboard: the function's health, the per-image metrics and the failure queue."""

    def widget(title: str, metrics: list[list[Any]], stat: str = "Sum") -> dict[str, Any]:
        return {
            "type": "metric",
            "width": 12,
            "height": 6,
            "properties": {"title": title, "region": region, "stat": stat, "period": period, "metrics": metrics},
        }

    function = ["FunctionName", function_name]
    images = "ImageProcessor"
    failed_by_reason = (
        f'SEARCH(\'{{{images},FunctionName,Reason}} MetricName="ImagesFailed" '
        f"FunctionName=\"{function_name}\"', 'Sum', {period})"
    )
    widgets = [
        widget(
            "Invocations, errors, throttles",
            [["AWS/Lambda", name, *function] for name in ("Invocations", "Errors", "Throttles")],
        ),
        widget(
            "Duration (ms)",
            [
                ["AWS/Lambda", "Duration", *function, {"stat": stat, "label": stat}]
                for stat in ("p50", "p95", "Maximum")
            ],
            stat="Maximum",
        ),
        widget(
            "Images processed and failed (by reason)",
            [
                [images, "ImagesProcessed", *function],
                [{"expression": failed_by_reason, "id": "failed", "label": "ImagesFailed"}],
            ],
        ),
        widget("Bytes in and out", [[images, "BytesIn", *function], [images, "BytesOut", *function]]),
        widget(
            "Processing time per image (ms)",
            [[images, "ProcessingMs", *function, {"stat": stat, "label": stat}] for stat in ("p50", "p95", "Maximum")],
            stat="Maximum",
        ),
        widget("Pixels decoded", [[images, "Pixels", *function]]),
        widget(
            "Events waiting in the failure queue",
            [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue_name]],
            stat="Maximum",
        ),
    ]
    return json.dumps({"widgets": widgets}, sort_keys=True)
