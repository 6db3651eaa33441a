"""Each component on its own, as another team would reuse it: typed args, names from the component name."""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pytest

from components.alarm_set import AlarmSet, AlarmSetArgs
from components.notifying_function import NotifyingFunction, NotifyingFunctionArgs
from components.processed_bucket_pair import ProcessedBucketPair, ProcessedBucketPairArgs
from tests.infra.conftest import ACCOUNT_ID, STUB_ARCHIVE, Runner

BUCKETS = ProcessedBucketPairArgs(
    source_bucket_name="team-uploads",
    destination_bucket_name="team-renditions",
    log_bucket_name="team-access-logs",
    account_id=ACCOUNT_ID,
)
FUNCTION = NotifyingFunctionArgs(
    function_name="thumbnails",
    account_id=ACCOUNT_ID,
    region="eu-west-1",
    source_bucket_name="team-uploads",
    source_bucket_arn="arn:aws:s3:::team-uploads",
    destination_bucket_name="team-renditions",
    destination_bucket_arn="arn:aws:s3:::team-renditions",
    notification_emails=["team@example.com"],
    code=STUB_ARCHIVE,
)
ALARMS = AlarmSetArgs(
    account_id=ACCOUNT_ID,
    function_name="thumbnails",
    function_timeout_seconds=10,
    dead_letter_queue_name="thumbnails-failed",
    alarm_emails=["oncall@example.com"],
    region="eu-west-1",
    dashboard_name="thumbnails",
)


def test_bucket_pair_alone(run_pulumi: Runner):
    deployment = run_pulumi(lambda: ProcessedBucketPair("photos", BUCKETS))
    names = {r.name for r in deployment.registrations}
    assert {"photos", "photos-source", "photos-processed", "photos-source-versioning"} <= names
    assert all(name.startswith("photos") for name in names)
    assert sorted(r.inputs["bucket"] for r in deployment.of_type("aws:s3/bucket:Bucket")) == [
        "team-access-logs",
        "team-renditions",
        "team-uploads",
    ]


def test_notifying_function_alone(run_pulumi: Runner):
    deployment = run_pulumi(lambda: NotifyingFunction("thumbs", FUNCTION))
    assert all(r.name.startswith("thumbs") for r in deployment.registrations)
    assert deployment.one("aws:lambda/function:Function")["name"] == "thumbnails"
    assert deployment.one("aws:cloudwatch/logGroup:LogGroup")["name"] == "/aws/lambda/thumbnails"
    assert deployment.one("aws:lambda/permission:Permission")["sourceAccount"] == ACCOUNT_ID


def test_alarm_set_alone(run_pulumi: Runner):
    deployment = run_pulumi(lambda: AlarmSet("watch", ALARMS))
    assert all(r.name.startswith("watch") for r in deployment.registrations)
    duration = deployment.one("aws:cloudwatch/metricAlarm:MetricAlarm", "watch-duration")
    assert duration["threshold"] == 8000  # 80% of a 10 s timeout, in ms


def test_components_expose_their_outputs_as_attributes(run_pulumi: Runner):
    def program() -> pulumi.Output[Any]:
        pair = ProcessedBucketPair("photos", BUCKETS)
        function = NotifyingFunction("thumbs", FUNCTION)
        alarms = AlarmSet("watch", ALARMS)
        return pulumi.Output.all(
            pair.source_bucket_arn,
            pair.destination_bucket_name,
            function.function.name,
            function.log_group.name,
            alarms.topic.arn,
        )

    assert run_pulumi(program).returned == [
        "arn:aws:s3:::team-uploads",
        "team-renditions",
        "thumbnails",
        "/aws/lambda/thumbnails",
        "arn:aws:sns:us-east-1:123456789012:watch-alarms-generated",
    ]


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        (BUCKETS, "source_bucket_name", "Bad_Name"),
        (BUCKETS, "destination_bucket_name", "team-uploads"),  # same as the source
        (BUCKETS, "destination_bucket_name", "a" * 64),
        (BUCKETS, "kms_key_arn", "alias/mine"),
        (FUNCTION, "runtime", "python3.10"),
        (FUNCTION, "architecture", "arm"),
        (FUNCTION, "memory_mb", 100),
        (FUNCTION, "timeout_seconds", 0),
        (FUNCTION, "log_retention_days", 8),
        (FUNCTION, "max_retry_attempts", 3),
        (FUNCTION, "max_event_age_seconds", 59),
        (FUNCTION, "resize_width", 0),
        (FUNCTION, "resize_height", 10001),
        (FUNCTION, "jpeg_quality", 96),
        (FUNCTION, "notification_emails", []),
        (FUNCTION, "notification_emails", ["nobody"]),
        (FUNCTION, "function_name", "has spaces"),
        (ALARMS, "duration_threshold_fraction", 0),
        (ALARMS, "period_seconds", 90),
        (ALARMS, "function_timeout_seconds", 0),
        (ALARMS, "alarm_emails", ["x@"]),
        (ALARMS, "dashboard_name", "has space"),
    ],
)
def test_bad_args_are_refused_naming_the_field(args, field, value):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(args, **{field: value})
