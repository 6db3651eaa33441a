"""Each component on its own, as another team would reuse it: typed args, names from the component name."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pulumi
import pytest

from components.alarm_set import AlarmSet, AlarmSetArgs, AlarmSpec
from components.notifying_function import NotifyingFunction, NotifyingFunctionArgs
from components.processed_bucket_pair import ProcessedBucketPair, ProcessedBucketPairArgs
from handler.settings import FIELD, ConfigError
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
    """GIVEN bucket args of another team WHEN the pair is deployed alone
    THEN it names its children after itself and the buckets as given.
    """
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
    """GIVEN function args with a stub archive WHEN deployed alone
    THEN the function, its log group and its S3 permission follow the args.
    """
    deployment = run_pulumi(lambda: NotifyingFunction("thumbs", FUNCTION))
    assert all(r.name.startswith("thumbs") for r in deployment.registrations)
    assert deployment.one("aws:lambda/function:Function")["name"] == "thumbnails"
    assert deployment.one("aws:cloudwatch/logGroup:LogGroup")["name"] == "/aws/lambda/thumbnails"
    assert deployment.one("aws:lambda/permission:Permission")["sourceAccount"] == ACCOUNT_ID


def test_alarm_set_alone(run_pulumi: Runner):
    """GIVEN a 10 s timeout WHEN the alarm set is deployed alone THEN the duration alarm fires at 80% of it."""
    deployment = run_pulumi(lambda: AlarmSet("watch", ALARMS))
    assert all(r.name.startswith("watch") for r in deployment.registrations)
    duration = deployment.one("aws:cloudwatch/metricAlarm:MetricAlarm", "watch-duration")
    assert duration["threshold"] == 8000  # 80% of a 10 s timeout, in ms


def test_components_expose_their_outputs_as_attributes(run_pulumi: Runner):
    """GIVEN the three components WHEN deployed together THEN their outputs are readable as attributes."""

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
        (BUCKETS, "log_bucket_name", "Logs"),
        (BUCKETS, "kms_key_arn", "alias/mine"),
        (BUCKETS, "noncurrent_version_days", 0),
        (BUCKETS, "access_log_days", 0),
        (FUNCTION, "runtime", "python3.10"),
        (FUNCTION, "architecture", "arm"),
        (FUNCTION, "memory_mb", 100),
        (FUNCTION, "timeout_seconds", 0),
        (FUNCTION, "log_retention_days", 8),
        (FUNCTION, "max_retry_attempts", 3),
        (FUNCTION, "max_event_age_seconds", 59),
        (FUNCTION, "notification_emails", []),
        (FUNCTION, "notification_emails", ["nobody"]),
        (FUNCTION, "function_name", "has spaces"),
        (FUNCTION, "reserved_concurrency", 0),
        (FUNCTION, "sqs_batch_size", 11),
        (FUNCTION, "sqs_max_concurrency", 1),
        (ALARMS, "duration_threshold_fraction", 0),
        (ALARMS, "period_seconds", 90),
        (ALARMS, "function_timeout_seconds", 0),
        (ALARMS, "alarm_emails", ["x@"]),
        (ALARMS, "dashboard_name", "has space"),
    ],
)
def test_bad_args_are_refused_naming_the_field(args, field, value):
    # GIVEN valid args WHEN one field gets a bad value THEN a ConfigError carries that field
    with pytest.raises(ConfigError) as error:
        dataclasses.replace(args, **{field: value})
    assert error.value.field == field


@pytest.mark.parametrize(
    ("arg", "value", "setting"),
    [("resize_width", 0, "width"), ("resize_height", 10001, "height"), ("jpeg_quality", 96, "jpeg_quality")],
)
def test_args_carrying_handler_settings_are_refused_by_the_handlers_own_rules(arg, value, setting):
    # GIVEN function args WHEN a handler setting is out of the handler's limits
    with pytest.raises(ConfigError) as error:
        dataclasses.replace(FUNCTION, **{arg: value})
    # THEN the error is the handler's, for its setting (one validator for preview and cold start)
    assert (error.value.field, error.value.message) == (
        setting,
        f"must be between {FIELD[setting].low} and {FIELD[setting].high}, got {value}",
    )


def test_bucket_pair_refuses_a_cdn_in_front_of_a_foreign_kms_key():
    # GIVEN a CDN WHEN the buckets are encrypted with a key the component does not manage THEN it is refused
    with pytest.raises(ConfigError, match="403") as error:
        dataclasses.replace(BUCKETS, cdn=True, kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/abcd")
    assert error.value.field == "cdn"


def test_sqs_concurrency_above_the_reserved_concurrency_is_refused():
    # GIVEN trigger sqs with 5 reserved WHEN the queue may run 10 at once THEN it is refused (throttles -> DLQ)
    with pytest.raises(ConfigError, match="must not exceed reserved_concurrency") as error:
        dataclasses.replace(FUNCTION, trigger="sqs", reserved_concurrency=5, sqs_max_concurrency=10)
    assert error.value.field == "sqs_max_concurrency"
    # AND without the sqs trigger the same numbers are fine
    assert dataclasses.replace(FUNCTION, reserved_concurrency=5, sqs_max_concurrency=10).reserved_concurrency == 5


def test_alarm_set_takes_other_components_alarms_and_widgets(run_pulumi: Runner):
    """GIVEN an extra AlarmSpec and an extra widget (as the API or workflow component would produce)."""
    api_errors = AlarmSpec(
        "api-5xx", "AWS/ApiGateway", "5xx", {"ApiId": "abc123"}, "Sum", 5, "GreaterThanOrEqualToThreshold", "API errors"
    )
    widget = {"type": "text", "width": 24, "height": 2, "properties": {"markdown": "Upload API"}}
    args = dataclasses.replace(ALARMS, extra_alarms=[api_errors], extra_widgets=[pulumi.Output.from_input(widget)])
    # WHEN the alarm set is deployed
    deployment = run_pulumi(lambda: AlarmSet("watch", args))
    # THEN the extra alarm is one more alarm on the same topic, and the widget ends the dashboard
    alarm = deployment.one("aws:cloudwatch/metricAlarm:MetricAlarm", "watch-api-5xx")
    assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"], alarm["threshold"]) == (
        "AWS/ApiGateway",
        "5xx",
        {"ApiId": "abc123"},
        5,
    )
    assert alarm["alarmActions"] == ["arn:aws:sns:us-east-1:123456789012:watch-alarms-generated"]
    widgets = json.loads(deployment.one("aws:cloudwatch/dashboard:Dashboard")["dashboardBody"])["widgets"]
    assert widgets[-1] == widget


@pytest.mark.parametrize(
    ("change", "field"),
    [({"suffix": "Bad Suffix"}, "suffix"), ({"comparison": "Above"}, "comparison")],
)
def test_bad_alarm_specs_are_refused_naming_the_field(change, field):
    """GIVEN an AlarmSpec WHEN a field is invalid THEN a ConfigError carries that field."""
    spec = AlarmSpec("x", "AWS/Lambda", "Errors", {}, "Sum", 1, "GreaterThanThreshold", "x")
    with pytest.raises(ConfigError) as error:
        dataclasses.replace(spec, **change)
    assert error.value.field == field


def test_extra_alarms_may_not_reuse_a_suffix():
    """GIVEN an extra alarm named like a built-in one WHEN the args are built THEN they are refused."""
    clash = AlarmSpec("errors", "AWS/ApiGateway", "5xx", {}, "Sum", 1, "GreaterThanThreshold", "clash")
    with pytest.raises(ConfigError) as error:
        dataclasses.replace(ALARMS, extra_alarms=[clash])
    assert error.value.field == "extra_alarms"
