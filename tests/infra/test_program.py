"""The whole Pulumi program (__main__.py) under mocks: every resource's inputs, wiring and exports."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components import policies
from tests.infra.conftest import ACCOUNT_ID, PROJECT_ROOT, Deployment, Runner

EMAIL = "ops@photos.test"
SOURCE = f"image-processor-source-dev-{ACCOUNT_ID}"
DESTINATION = f"image-processor-processed-dev-{ACCOUNT_ID}"
SOURCE_ARN = f"arn:aws:s3:::{SOURCE}"
DESTINATION_ARN = f"arn:aws:s3:::{DESTINATION}"
LOGS = f"image-processor-logs-dev-{ACCOUNT_ID}"
LOGS_ARN = f"arn:aws:s3:::{LOGS}"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:processor-notifications-generated"
FAILED_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:processor-failed-events-generated"
NO_TLS = {"Bool": {"aws:SecureTransport": "false"}}
DISTRIBUTION_ARN = "arn:aws:cloudfront::123456789012:distribution/images-processed-cdn-id"
COMPONENT_TYPES = {
    "image-processor:storage:ProcessedBucketPair",
    "image-processor:compute:NotifyingFunction",
    "image-processor:monitoring:AlarmSet",
}

RENDITIONS = [
    {"name": "hero", "width": 1600, "height": 900, "fit": "cover", "format": "webp"},
    {"name": "thumb", "width": 200, "height": 200, "fit": "cover", "watermark": {"image_key": "brand/logo.png"}},
]


@pytest.fixture
def deployment(run_pulumi: Runner) -> Deployment:
    return run_pulumi(notificationEmail=EMAIL)


def statements(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in document["Statement"]}


def test_buckets_are_named_by_the_spec_with_stack_and_account(deployment):
    """GIVEN the default stack WHEN deployed
    THEN the three buckets follow the spec's names and are not force-destroyed.
    """
    names = sorted(r.inputs["bucket"] for r in deployment.of_type("aws:s3/bucket:Bucket"))
    assert names == sorted([SOURCE, DESTINATION, LOGS])
    assert all(r.inputs.get("forceDestroy") is False for r in deployment.of_type("aws:s3/bucket:Bucket"))


def test_every_bucket_blocks_public_access_disables_acls_and_encrypts(deployment):
    """GIVEN the default stack WHEN deployed
    THEN every bucket blocks public access, disables ACLs and encrypts with SSE-S3.
    """
    blocks = deployment.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert len(blocks) == 3
    for block in blocks:
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        assert all(block.inputs[flag] is True for flag in flags)
    ownership = deployment.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert [r.inputs["rule"] for r in ownership] == [{"objectOwnership": "BucketOwnerEnforced"}] * 3
    encryption = deployment.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    assert len(encryption) == 3
    for config in encryption:
        (rule,) = config.inputs["rules"]
        assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}


def test_bucket_policies_deny_requests_without_tls(deployment):
    """GIVEN the default stack WHEN deployed THEN each image bucket's policy is exactly the TLS-only denial."""
    for name, arn in (("images-source-tls-only", SOURCE_ARN), ("images-processed-tls-only", DESTINATION_ARN)):
        assert deployment.policy("aws:s3/bucketPolicy:BucketPolicy", name) == {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [arn, f"{arn}/*"],
                    "Condition": NO_TLS,
                }
            ],
        }
    for role in ("source", "processed", "logs"):
        assert deployment.depends_on[f"images-{role}-tls-only"] == [f"images-{role}-public-access"]


def test_access_logs_of_both_buckets_go_to_the_log_bucket_and_expire(deployment):
    """GIVEN the default stack WHEN deployed THEN both buckets log to the log bucket, which keeps logs 90 days."""
    logging = {r.name: r.inputs for r in deployment.of_type("aws:s3/bucketLogging:BucketLogging")}
    assert logging == {
        "images-source-access-logs": {
            "bucket": "images-source-id",
            "targetBucket": "images-logs-id",
            "targetPrefix": "source/",
        },
        "images-processed-access-logs": {
            "bucket": "images-processed-id",
            "targetBucket": "images-logs-id",
            "targetPrefix": "processed/",
        },
    }
    assert deployment.depends_on["images-source-access-logs"] == ["images-logs-tls-only"]
    deny, delivery = deployment.policy("aws:s3/bucketPolicy:BucketPolicy", "images-logs-tls-only")["Statement"]
    assert (deny["Effect"], deny["Resource"], deny["Condition"]) == ("Deny", [LOGS_ARN, f"{LOGS_ARN}/*"], NO_TLS)
    assert delivery == {
        "Sid": "S3ServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{LOGS_ARN}/*",
        "Condition": {
            "ArnLike": {"aws:SourceArn": [SOURCE_ARN, DESTINATION_ARN]},
            "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
        },
    }
    lifecycle = deployment.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "images-logs-lifecycle"
    )
    assert lifecycle["rules"][1] == {
        "id": "expire-access-logs",
        "status": "Enabled",
        "filter": {},
        "expiration": {"days": 90},
    }
    encryption = deployment.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "images-logs-encryption",
    )
    assert encryption["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}


def test_both_image_buckets_have_request_metrics_for_the_dashboard(deployment):
    """GIVEN the default stack WHEN deployed THEN both image buckets publish request metrics (AllRequests)."""
    metrics = {r.name: r.inputs for r in deployment.of_type("aws:s3/bucketMetric:BucketMetric")}
    assert metrics == {
        "images-source-request-metrics": {"bucket": "images-source-id", "name": "EntireBucket"},
        "images-processed-request-metrics": {"bucket": "images-processed-id", "name": "EntireBucket"},
    }


ABORT_UPLOADS = {
    "id": "abort-incomplete-multipart-uploads",
    "status": "Enabled",
    "filter": {},
    "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
}


def test_source_is_versioned_and_old_versions_and_uploads_are_cleaned_up(deployment):
    """GIVEN the default stack WHEN deployed THEN noncurrent source versions expire after 30 days."""
    versioning = deployment.of_type("aws:s3/bucketVersioning:BucketVersioning")
    assert [r.name for r in versioning] == ["images-source-versioning"]
    assert versioning[0].inputs["versioningConfiguration"] == {"status": "Enabled"}
    lifecycle = {
        r.name: r.inputs["rules"]
        for r in deployment.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    }
    assert lifecycle["images-source-lifecycle"] == [
        ABORT_UPLOADS,
        {
            "id": "expire-noncurrent-versions",
            "status": "Enabled",
            "filter": {},
            "noncurrentVersionExpiration": {"noncurrentDays": 30},
            "expiration": {"expiredObjectDeleteMarker": True},
        },
    ]
    assert lifecycle["images-processed-lifecycle"] == [ABORT_UPLOADS]
    assert deployment.depends_on["images-source-lifecycle"] == ["images-source-versioning"]


def test_notification_topic_is_encrypted_and_mailed(deployment):
    """GIVEN a notification address WHEN deployed THEN the encrypted topic mails it."""
    topic = deployment.one("aws:sns/topic:Topic", "processor-notifications")
    assert topic["kmsMasterKeyId"] == "alias/aws/sns"
    subscription = deployment.one("aws:sns/topicSubscription:TopicSubscription", "processor-email-0")
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", EMAIL)


def test_log_group_keeps_seven_days_and_exists_before_the_function(deployment):
    """GIVEN the default stack WHEN deployed THEN logs are kept 7 days in a group created before the function."""
    log_group = deployment.one("aws:cloudwatch/logGroup:LogGroup")
    assert log_group == {"name": "/aws/lambda/image-processor-dev", "retentionInDays": 7}
    assert "processor-logs" in deployment.depends_on["processor-function"]


def test_role_is_assumable_only_by_lambda(deployment):
    """GIVEN the default stack WHEN deployed THEN only Lambda may assume the function's role."""
    trust = deployment.policy("aws:iam/role:Role", key="assumeRolePolicy")
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]


def test_function_policy_is_least_privilege(deployment):
    """GIVEN the default stack WHEN deployed THEN the role's policy is the base document (tests/infra/test_policies.py)
    built from exactly this stack's ARNs, with no optional statement."""
    log_group_arn = f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:/aws/lambda/image-processor-dev"
    assert deployment.policy("aws:iam/rolePolicy:RolePolicy") == json.loads(
        policies.function_policy(
            region="us-east-1",
            source_bucket_arn=SOURCE_ARN,
            destination_bucket_arn=DESTINATION_ARN,
            topic_arn=TOPIC_ARN,
            log_group_arn=log_group_arn,
            dead_letter_queue_arn=FAILED_QUEUE_ARN,
        )
    )


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"cdn": "true", "processingHistory": "true", "renditions": json.dumps(RENDITIONS), "trigger": "sqs"},
        {"kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/abcd", "trigger": "eventbridge"},
    ],
    ids=["default", "every-option", "kms-eventbridge"],
)
def test_no_wildcard_action_or_resource_in_the_function_policy(run_pulumi: Runner, options):
    """GIVEN any combination of options WHEN deployed
    THEN no action has a wildcard, and resources have one only for the source's objects, resized/ and own logs."""
    deployment = run_pulumi(notificationEmail=EMAIL, **options)
    for statement in deployment.policy("aws:iam/rolePolicy:RolePolicy")["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), statement
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        log_streams = f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:/aws/lambda/image-processor-dev:*"
        wildcards = {f"{SOURCE_ARN}/*", f"{DESTINATION_ARN}/resized/*", log_streams}
        assert all("*" not in resource or resource in wildcards for resource in resources), statement


def test_function_runs_the_handler_with_spec_settings(deployment):
    """GIVEN the default stack WHEN deployed THEN the function runs the spec's settings on the built archive."""
    function = deployment.one("aws:lambda/function:Function")
    assert function["name"] == "image-processor-dev"
    assert function["handler"] == "handler.app.lambda_handler"
    assert function["runtime"] == "python3.13"
    assert function["architectures"] == ["x86_64"]
    assert (function["memorySize"], function["timeout"]) == (512, 60)
    assert "reservedConcurrentExecutions" not in function  # a new account's quota can be 10
    assert function["loggingConfig"]["logGroup"] == "/aws/lambda/image-processor-dev"
    assert function["environment"]["variables"] == {
        "SOURCE_BUCKET": SOURCE,
        "DESTINATION_BUCKET": DESTINATION,
        "SNS_TOPIC_ARN": TOPIC_ARN,
        "RESIZE_WIDTH": "800",
        "RESIZE_HEIGHT": "600",
        "JPEG_QUALITY": "85",
        "HEIC_ENABLED": "true",
        "TRIGGER": "s3",
    }
    assert deployment.archives_built == [("python3.13", "x86_64")]
    code = function["code"]
    assert isinstance(code, pulumi.FileArchive)
    assert code.path == "build/lambda/stub-python3.13-x86_64.zip"


def test_s3_trigger_is_protected_against_confused_deputies(deployment):
    """GIVEN trigger s3 (default) WHEN deployed
    THEN only this bucket of this account may invoke, and the permission exists before the notification.
    """
    permission = deployment.one("aws:lambda/permission:Permission")
    assert permission["principal"] == "s3.amazonaws.com"
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["sourceArn"] == SOURCE_ARN
    assert permission["sourceAccount"] == ACCOUNT_ID
    assert permission["function"] == "image-processor-dev"
    notification = deployment.one("aws:s3/bucketNotification:BucketNotification")
    assert notification["bucket"] == SOURCE
    (target,) = notification["lambdaFunctions"]
    assert target["events"] == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    assert target["lambdaFunctionArn"].endswith(":function:image-processor-dev")
    assert deployment.depends_on["processor-trigger"] == ["processor-s3-invoke"]


def test_failed_events_go_to_an_encrypted_queue_after_retries(deployment):
    """GIVEN the default stack WHEN an event exhausts 2 retries or an hour
    THEN it lands in the encrypted failure queue.
    """
    invoke = deployment.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    assert invoke["maximumRetryAttempts"] == 2
    assert invoke["maximumEventAgeInSeconds"] == 3600
    queue_arn = invoke["destinationConfig"]["onFailure"]["destination"]
    assert queue_arn == "arn:aws:sqs:us-east-1:123456789012:processor-failed-events-generated"
    queue = deployment.one("aws:sqs/queue:Queue")
    assert queue["sqsManagedSseEnabled"] is True
    assert queue["messageRetentionSeconds"] == 14 * 24 * 3600


def test_alarm_topic_uses_a_key_cloudwatch_may_use(deployment):
    """GIVEN the default stack WHEN deployed THEN only this account's alarms may use the alarm key and topic."""
    topic = deployment.one("aws:sns/topic:Topic", "alarms-alarms")
    assert topic["kmsMasterKeyId"] == "arn:aws:kms:us-east-1:123456789012:alarms-key-generated"
    key = deployment.one("aws:kms/key:Key")
    assert key["enableKeyRotation"] is True
    assert json.loads(key["policy"]) == json.loads(policies.alarm_topic_key_policy(ACCOUNT_ID, "us-east-1"))
    alarm_topic = "arn:aws:sns:us-east-1:123456789012:alarms-alarms-generated"
    assert deployment.policy("aws:sns/topicPolicy:TopicPolicy", "alarms-alarms-policy") == json.loads(
        policies.alarm_topic_policy(alarm_topic, ACCOUNT_ID, "us-east-1")
    )
    subscription = deployment.one("aws:sns/topicSubscription:TopicSubscription", "alarms-email-0")
    assert subscription["endpoint"] == EMAIL  # defaults to the notification address


def test_exports(deployment):
    """GIVEN the default stack WHEN deployed THEN the outputs a user needs are exported, and nothing optional."""
    assert deployment.outputs == {
        "sourceBucketName": SOURCE,
        "destinationBucketName": DESTINATION,
        "accessLogBucketName": LOGS,
        "functionName": "image-processor-dev",
        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:image-processor-dev",
        "notificationTopicArn": TOPIC_ARN,
        "alarmTopicArn": "arn:aws:sns:us-east-1:123456789012:alarms-alarms-generated",
        "logGroupName": "/aws/lambda/image-processor-dev",
        "deadLetterQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/processor-failed-events-generated",
        "dashboardUrl": "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        "#dashboards:name=image-processor-dev",
    }


def test_every_resource_is_parented_to_one_of_the_three_components(deployment):
    """GIVEN the default stack WHEN deployed THEN every resource is a child of one of the three components."""
    assert len(deployment.urns) == len(deployment.registrations)
    for urn in deployment.urns:
        qualified_type = urn.split("::")[2]
        parent_type, _, own_type = qualified_type.rpartition("$")
        if own_type in COMPONENT_TYPES:
            assert parent_type == "pulumi:pulumi:Stack", urn
        else:
            assert parent_type in COMPONENT_TYPES, urn


def test_config_changes_the_deployment(run_pulumi: Runner):
    """GIVEN every optional key set WHEN deployed THEN each reaches its resource."""
    deployment = run_pulumi(
        notificationEmail="a@photos.test, b@photos.test",
        alarmEmail="oncall@photos.test",
        resizeWidth="320",
        resizeHeight="240",
        memorySize="1024",
        timeout="30",
        architecture="arm64",
        logRetentionDays="14",
        forceDestroy="true",
        sourceVersioning="false",
        maxPixels="50000000",
        kmsKeyArn="arn:aws:kms:us-east-1:123456789012:key/abcd",
        durationAlarmFraction="0.5",
        heic="false",
        accessLogDays="30",
    )
    function = deployment.one("aws:lambda/function:Function")
    assert (function["memorySize"], function["timeout"], function["architectures"]) == (1024, 30, ["arm64"])
    assert deployment.archives_built == [("python3.13", "arm64")]
    variables = function["environment"]["variables"]
    assert (variables["RESIZE_WIDTH"], variables["RESIZE_HEIGHT"], variables["MAX_PIXELS"]) == (
        "320",
        "240",
        "50000000",
    )
    assert variables["HEIC_ENABLED"] == "false"
    assert deployment.one("aws:cloudwatch/logGroup:LogGroup")["retentionInDays"] == 14
    emails = [r.inputs["endpoint"] for r in deployment.of_type("aws:sns/topicSubscription:TopicSubscription")]
    assert sorted(emails) == ["a@photos.test", "b@photos.test", "oncall@photos.test"]
    assert deployment.of_type("aws:s3/bucketVersioning:BucketVersioning") == []
    lifecycle = deployment.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "images-source-lifecycle"
    )
    assert lifecycle["rules"] == [ABORT_UPLOADS]  # nothing noncurrent to expire
    logs = deployment.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "images-logs-lifecycle")
    assert logs["rules"][1]["expiration"] == {"days": 30}
    assert all(r.inputs["forceDestroy"] is True for r in deployment.of_type("aws:s3/bucket:Bucket"))
    duration = deployment.one("aws:cloudwatch/metricAlarm:MetricAlarm", "alarms-duration")
    assert duration["threshold"] == 15000


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("memorySize", "64"),
        ("timeout", "901"),
        ("runtime", "python3.9"),
        ("architecture", "sparc"),
        ("logRetentionDays", "10"),
        ("resizeWidth", "0"),
        ("resizeHeight", "20000"),
        ("jpegQuality", "100"),
        ("maxRetryAttempts", "5"),
        ("maxEventAgeSeconds", "30"),
        ("maxPixels", "0"),
        ("maxInputBytes", "-1"),
        ("notificationEmail", "not-an-address"),
        ("alarmEmail", "oncall-at-example"),
        ("durationAlarmFraction", "1.5"),
        ("sourceBucketName", "Not_A_Bucket"),
        ("destinationBucketName", "x"),
        ("kmsKeyArn", "my-key"),
        ("logBucketName", "Logs!"),
        ("noncurrentVersionDays", "0"),
        ("accessLogDays", "0"),
        ("reservedConcurrency", "0"),
        ("trigger", "kinesis"),
        ("sqsBatchSize", "11"),
        ("sqsMaxConcurrency", "1"),
        ("heic", "maybe"),
    ],
)
def test_bad_config_is_an_error_naming_the_key(run_pulumi: Runner, key, value):
    """GIVEN one bad config value WHEN previewed THEN the error names its key."""
    config = {"notificationEmail": EMAIL, key: value}
    with pytest.raises(Exception, match=f"image-processor:{key}"):
        run_pulumi(**config)


def test_config_errors_are_one_line_naming_the_key_then_the_rule(run_pulumi: Runner):
    """GIVEN a width out of the handler's limits WHEN previewed THEN the message is the key, then the rule."""
    with pytest.raises(Exception) as error:
        run_pulumi(notificationEmail=EMAIL, resizeWidth="0")
    assert str(error.value) == "image-processor:resizeWidth must be between 1 and 10000, got 0"


@pytest.mark.parametrize(
    ("key", "address"),
    [
        ("notificationEmail", "you@example.com"),
        ("notificationEmail", "me@photos.test, you@example.org"),
        ("notificationEmail", "ops@mail.example.net"),
        ("alarmEmail", "oncall@corp.example"),
        ("alarmEmail", "oncall@EXAMPLE.COM"),
    ],
)
def test_placeholder_addresses_are_refused_with_the_command_to_fix_them(run_pulumi: Runner, key, address):
    """GIVEN an address at a documentation domain WHEN previewed THEN the error gives the exact command."""
    config = {"notificationEmail": EMAIL, key: address}
    with pytest.raises(Exception) as error:
        run_pulumi(**config)
    assert f"pulumi config set image-processor:{key} you@your-domain" in str(error.value)
    assert str(error.value).startswith(f"image-processor:{key} has a placeholder address")


@pytest.mark.parametrize("address", ["me@example.community", "me@myexample.com", "me@example.com.au"])
def test_real_domains_that_merely_contain_example_are_accepted(run_pulumi: Runner, address):
    """GIVEN a real domain containing 'example' WHEN previewed THEN the address is accepted."""
    deployment = run_pulumi(notificationEmail=address)
    assert deployment.one("aws:sns/topicSubscription:TopicSubscription", "processor-email-0")["endpoint"] == address


def test_the_dev_stacks_placeholder_is_refused_until_replaced(run_pulumi: Runner):
    """GIVEN Pulumi.dev.yaml as shipped WHEN previewed THEN its placeholder address is refused with the fix."""
    import yaml

    shipped = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())["config"]
    config = {
        key.removeprefix("image-processor:"): value
        for key, value in shipped.items()
        if key.startswith("image-processor:")
    }
    with pytest.raises(Exception, match="pulumi config set image-processor:notificationEmail you@your-domain"):
        run_pulumi(**config)
    assert (
        "pulumi config set image-processor:notificationEmail you@your-domain"
        in (PROJECT_ROOT / "Pulumi.dev.yaml").read_text()
    )


def test_missing_notification_email_is_an_error_naming_the_key(run_pulumi: Runner):
    """GIVEN no notificationEmail WHEN previewed THEN the error names the key."""
    with pytest.raises(Exception, match="notificationEmail"):
        run_pulumi()


def test_stack_name_too_long_for_bucket_names_is_an_error(run_pulumi: Runner):
    """GIVEN a stack name too long for bucket names WHEN previewed THEN the error says what to change."""
    with pytest.raises(Exception, match="change the stack name"):
        run_pulumi(stack="a-very-long-stack-name-for-a-bucket", notificationEmail=EMAIL)


def test_renditions_reach_the_function_and_only_their_watermark_becomes_readable(run_pulumi: Runner):
    """GIVEN renditions with a watermark WHEN deployed
    THEN the function gets them and may read that watermark key only.
    """
    from handler.renditions import parse_renditions

    deployment = run_pulumi(notificationEmail=EMAIL, renditions=json.dumps(RENDITIONS))
    variables = deployment.one("aws:lambda/function:Function")["environment"]["variables"]
    assert parse_renditions(variables["RENDITIONS"]) == parse_renditions(json.dumps(RENDITIONS))
    watermark = statements(deployment.policy("aws:iam/rolePolicy:RolePolicy"))["ReadWatermarks"]
    assert watermark == {
        "Sid": "ReadWatermarks",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": [f"{DESTINATION_ARN}/brand/logo.png"],
    }


def test_without_renditions_nothing_changes(deployment):
    """GIVEN no renditions WHEN deployed THEN neither the variable nor the watermark statement exists."""
    assert "RENDITIONS" not in deployment.one("aws:lambda/function:Function")["environment"]["variables"]
    assert "ReadWatermarks" not in statements(deployment.policy("aws:iam/rolePolicy:RolePolicy"))


@pytest.mark.parametrize(
    "renditions",
    [
        [{"name": "hero", "width": 0, "height": 900}],
        [{"name": "hero", "width": 10, "height": 10, "format": "gif"}],
        [{"name": "a", "width": 10, "height": 10}] * 2,
        [{"name": f"r{i}", "width": 10, "height": 10, "watermark": {"text": "x" * 90}} for i in range(40)],
    ],
    ids=["width", "format", "duplicate", "too-long"],
)
def test_bad_renditions_are_refused_at_preview_naming_the_key(run_pulumi: Runner, renditions):
    """GIVEN invalid renditions WHEN previewed THEN the error names the renditions key."""
    with pytest.raises(Exception, match="image-processor:renditions"):
        run_pulumi(notificationEmail=EMAIL, renditions=json.dumps(renditions))


def test_dashboard_shows_function_health_custom_metrics_and_the_failure_queue(deployment):
    """GIVEN the default stack WHEN deployed
    THEN the dashboard shows the function, the per-image metrics and the failure queue.
    """
    dashboard = deployment.one("aws:cloudwatch/dashboard:Dashboard")
    assert dashboard["dashboardName"] == "image-processor-dev"
    widgets = json.loads(dashboard["dashboardBody"])["widgets"]
    metrics = [metric for widget in widgets for metric in widget["properties"]["metrics"]]
    names = {(m[0], m[1]) for m in metrics if isinstance(m[0], str)}
    assert {("AWS/Lambda", n) for n in ("Invocations", "Errors", "Throttles", "Duration")} <= names
    custom = {"ImagesProcessed", "BytesIn", "BytesOut", "ProcessingMs", "Pixels"}
    assert {("ImageProcessor", n) for n in custom} <= names
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in names
    duration_stats = {m[-1]["stat"] for m in metrics if m[:2] == ["AWS/Lambda", "Duration"]}
    assert duration_stats == {"p50", "p95", "Maximum"}
    expressions = [m[0]["expression"] for m in metrics if isinstance(m[0], dict)]
    assert any("ImagesFailed" in e and "Reason" in e and "image-processor-dev" in e for e in expressions)
    queue = next(m for m in metrics if m[0] == "AWS/SQS")
    assert queue[2:] == ["QueueName", "processor-failed-events-generated"]


def test_dashboard_shows_the_specs_storage_request_concurrency_and_notification_metrics(deployment):
    """GIVEN the default stack WHEN deployed THEN every metric of the spec is on the dashboard, for these names."""
    widgets = json.loads(deployment.one("aws:cloudwatch/dashboard:Dashboard")["dashboardBody"])["widgets"]
    metrics = {
        tuple(metric): widget["properties"]["period"]
        for widget in widgets
        for metric in widget["properties"]["metrics"]
        if (isinstance(metric[0], str) and metric[0] in ("AWS/S3", "AWS/SNS"))
        or metric[:2] == ["AWS/Lambda", "ConcurrentExecutions"]
    }
    topic = "processor-notifications-generated"
    day = 86400
    assert metrics == {
        ("AWS/Lambda", "ConcurrentExecutions", "FunctionName", "image-processor-dev"): 300,
        ("AWS/S3", "NumberOfObjects", "BucketName", SOURCE, "StorageType", "AllStorageTypes"): day,
        ("AWS/S3", "NumberOfObjects", "BucketName", DESTINATION, "StorageType", "AllStorageTypes"): day,
        ("AWS/S3", "BucketSizeBytes", "BucketName", SOURCE, "StorageType", "StandardStorage"): day,
        ("AWS/S3", "BucketSizeBytes", "BucketName", DESTINATION, "StorageType", "StandardStorage"): day,
        ("AWS/S3", "AllRequests", "BucketName", SOURCE, "FilterId", "EntireBucket"): 300,
        ("AWS/S3", "AllRequests", "BucketName", DESTINATION, "FilterId", "EntireBucket"): 300,
        ("AWS/SNS", "NumberOfMessagesPublished", "TopicName", topic): 300,
        ("AWS/SNS", "NumberOfNotificationsFailed", "TopicName", topic): 300,
    }


def test_cdn_serves_renditions_while_the_bucket_stays_private(run_pulumi: Runner):
    """GIVEN cdn WHEN deployed
    THEN CloudFront reads resized/ through origin access control while the buckets stay private.
    """
    deployment = run_pulumi(notificationEmail=EMAIL, cdn="true")
    access = deployment.one("aws:cloudfront/originAccessControl:OriginAccessControl")
    assert (access["originAccessControlOriginType"], access["signingBehavior"]) == ("s3", "always")
    distribution = deployment.one("aws:cloudfront/distribution:Distribution")
    (origin,) = distribution["origins"]
    assert origin["domainName"] == f"{DESTINATION}.s3.us-east-1.amazonaws.com"
    assert origin["originAccessControlId"] == "images-processed-cdn-access-id"
    assert distribution["defaultCacheBehavior"]["viewerProtocolPolicy"] == "redirect-to-https"
    assert distribution["defaultCacheBehavior"]["allowedMethods"] == ["GET", "HEAD"]
    policy = statements(deployment.policy("aws:s3/bucketPolicy:BucketPolicy", "images-processed-tls-only"))
    cloudfront = policy["CloudFrontReadsRenditions"]
    assert cloudfront["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert (cloudfront["Action"], cloudfront["Resource"]) == ("s3:GetObject", f"{DESTINATION_ARN}/resized/*")
    assert cloudfront["Condition"] == {"StringEquals": {"AWS:SourceArn": DISTRIBUTION_ARN}}
    source_policy = statements(deployment.policy("aws:s3/bucketPolicy:BucketPolicy", "images-source-tls-only"))
    assert set(source_policy) == {"DenyInsecureTransport"}
    assert all(
        b.inputs["blockPublicPolicy"]
        for b in deployment.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    )
    variables = deployment.one("aws:lambda/function:Function")["environment"]["variables"]
    assert variables["CACHE_CONTROL"] == "public, max-age=31536000"
    assert deployment.outputs["cdnDomainName"] == "d111111abcdef8.cloudfront.net"
    assert deployment.outputs["cdnDistributionId"] == "images-processed-cdn-id"


def test_without_cdn_or_history_none_of_it_exists(deployment):
    """GIVEN neither cdn nor processingHistory WHEN deployed
    THEN none of their resources, variables or outputs exist.
    """
    assert not [r for r in deployment.registrations if r.typ.startswith(("aws:cloudfront", "aws:dynamodb"))]
    assert "cdnDomainName" not in deployment.outputs and "historyTableName" not in deployment.outputs
    assert "dynamodb:" not in json.dumps(deployment.policy("aws:iam/rolePolicy:RolePolicy"))
    assert "CACHE_CONTROL" not in deployment.one("aws:lambda/function:Function")["environment"]["variables"]


def test_processing_history_table_is_written_with_put_item_and_read_with_get_item_only(run_pulumi: Runner):
    """GIVEN processingHistory WHEN deployed
    THEN an encrypted, recoverable table exists and the role may only PutItem and GetItem on it.
    """
    deployment = run_pulumi(notificationEmail=EMAIL, processingHistory="true")
    table = deployment.one("aws:dynamodb/table:Table")
    assert table["hashKey"] == "source_key"
    assert table["attributes"] == [{"name": "source_key", "type": "S"}]
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["serverSideEncryption"] == {"enabled": True}
    assert table["pointInTimeRecovery"] == {"enabled": True}
    granted = statements(deployment.policy("aws:iam/rolePolicy:RolePolicy"))
    table_arn = "arn:aws:dynamodb:us-east-1:123456789012:table/processor-history-generated"
    assert granted["RecordHistory"] == {
        "Sid": "RecordHistory",
        "Effect": "Allow",
        "Action": "dynamodb:PutItem",
        "Resource": table_arn,
    }
    # a backfill reads one item to skip current renditions
    assert granted["TellCurrentRenditions"] == {
        "Sid": "TellCurrentRenditions",
        "Effect": "Allow",
        "Action": "dynamodb:GetItem",
        "Resource": table_arn,
    }
    assert [s["Sid"] for s in granted.values() if "dynamodb" in str(s["Action"])] == [
        "RecordHistory",
        "TellCurrentRenditions",
    ]
    variables = deployment.one("aws:lambda/function:Function")["environment"]["variables"]
    assert variables["HISTORY_TABLE"] == "processor-history-generated"
    assert deployment.outputs["historyTableName"] == "processor-history-generated"


def test_topics_and_queues_refuse_requests_without_tls(deployment):
    """GIVEN the default stack WHEN deployed THEN every topic and queue has a policy denying plain HTTP."""
    topics = {r.name: json.loads(r.inputs["policy"]) for r in deployment.of_type("aws:sns/topicPolicy:TopicPolicy")}
    assert set(topics) == {"processor-notifications-tls-only", "alarms-alarms-policy"}
    assert topics["processor-notifications-tls-only"]["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": TOPIC_ARN,
            "Condition": NO_TLS,
        }
    ]
    queues = {r.name: json.loads(r.inputs["policy"]) for r in deployment.of_type("aws:sqs/queuePolicy:QueuePolicy")}
    assert queues == {
        "processor-failed-events-tls-only": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": FAILED_QUEUE_ARN,
                    "Condition": NO_TLS,
                }
            ],
        }
    }
    assert len(deployment.of_type("aws:sns/topic:Topic")) == len(topics)
    assert len(deployment.of_type("aws:sqs/queue:Queue")) == len(queues)


def test_alarms_watch_errors_duration_throttles_failed_events_and_failed_notifications(deployment):
    """GIVEN the default stack WHEN deployed
    THEN five alarms watch the function, the failure queue and e-mail delivery.
    """
    alarms = {r.name: r.inputs for r in deployment.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert {
        name: (a["namespace"], a["metricName"], a["statistic"], a["comparisonOperator"], a["threshold"])
        for name, a in alarms.items()
    } == {
        "alarms-errors": ("AWS/Lambda", "Errors", "Sum", "GreaterThanOrEqualToThreshold", 1),
        "alarms-duration": ("AWS/Lambda", "Duration", "Maximum", "GreaterThanThreshold", 48000),
        "alarms-throttles": ("AWS/Lambda", "Throttles", "Sum", "GreaterThanOrEqualToThreshold", 1),
        "alarms-failed-events": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "Maximum",
            "GreaterThanThreshold",
            0,
        ),
        "alarms-notifications-failed": (
            "AWS/SNS",
            "NumberOfNotificationsFailed",
            "Sum",
            "GreaterThanOrEqualToThreshold",
            1,
        ),
    }
    alarm_topic = "arn:aws:sns:us-east-1:123456789012:alarms-alarms-generated"
    for name, alarm in alarms.items():
        assert alarm["alarmActions"] == [alarm_topic] == alarm["okActions"], name
        assert alarm["treatMissingData"] == "notBreaching"
        assert alarm["period"] == 300 and alarm["evaluationPeriods"] == 1
    assert alarms["alarms-errors"]["dimensions"] == {"FunctionName": "image-processor-dev"}
    assert alarms["alarms-failed-events"]["dimensions"] == {"QueueName": "processor-failed-events-generated"}
    assert alarms["alarms-notifications-failed"]["dimensions"] == {"TopicName": "processor-notifications-generated"}


def test_kms_key_encrypts_the_image_buckets_and_binds_the_role_to_s3_in_this_region(run_pulumi: Runner):
    """GIVEN kmsKeyArn WHEN deployed THEN both image buckets use it and the role may use it only through S3."""
    key = "arn:aws:kms:us-east-1:123456789012:key/abcd"
    deployment = run_pulumi(notificationEmail=EMAIL, kmsKeyArn=key)
    encryption = {
        r.name: r.inputs["rules"][0]
        for r in deployment.of_type(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )
    }
    for name in ("images-source-encryption", "images-processed-encryption"):
        assert encryption[name] == {
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key},
            "bucketKeyEnabled": True,
        }
    # S3 delivers access logs only to SSE-S3 buckets.
    assert encryption["images-logs-encryption"]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    kms = statements(deployment.policy("aws:iam/rolePolicy:RolePolicy"))["UseBucketKey"]
    assert kms == {
        "Sid": "UseBucketKey",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": key,
        "Condition": {
            "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
            "ArnLike": {
                "kms:EncryptionContext:aws:s3:arn": [
                    SOURCE_ARN,
                    f"{SOURCE_ARN}/*",
                    DESTINATION_ARN,
                    f"{DESTINATION_ARN}/*",
                ]
            },
        },
    }


def test_python311_runtime_warns_about_the_amazon_linux_2_pillow(run_pulumi: Runner):
    """GIVEN runtime python3.11 WHEN previewed THEN the archive is built for it and a warning names Pillow 12.2.0."""
    deployment = run_pulumi(notificationEmail=EMAIL, runtime="python3.11")
    assert any("Amazon Linux 2" in warning and "12.2.0" in warning for warning in deployment.warnings)
    assert deployment.archives_built == [("python3.11", "x86_64")]


def test_cdn_lets_the_function_invalidate_what_it_deletes_or_overwrites(run_pulumi: Runner):
    """GIVEN cdn WHEN deployed THEN the function knows the distribution and may invalidate it, and only it."""
    deployment = run_pulumi(notificationEmail=EMAIL, cdn="true")
    variables = deployment.one("aws:lambda/function:Function")["environment"]["variables"]
    assert (variables["CDN_DISTRIBUTION_ID"], variables["CDN_DOMAIN"]) == (
        "images-processed-cdn-id",
        "d111111abcdef8.cloudfront.net",
    )
    invalidate = statements(deployment.policy("aws:iam/rolePolicy:RolePolicy"))["InvalidateReplacedRenditions"]
    assert invalidate == {
        "Sid": "InvalidateReplacedRenditions",
        "Effect": "Allow",
        "Action": "cloudfront:CreateInvalidation",
        "Resource": DISTRIBUTION_ARN,
    }


def test_cdn_with_a_kms_key_is_refused_naming_both_keys(run_pulumi: Runner):
    """GIVEN cdn and kmsKeyArn WHEN previewed THEN the error names both keys and how to fix it."""
    with pytest.raises(
        Exception, match="image-processor:cdn cannot be combined with image-processor:kmsKeyArn"
    ) as error:
        run_pulumi(notificationEmail=EMAIL, cdn="true", kmsKeyArn="arn:aws:kms:us-east-1:123456789012:key/abcd")
    assert "pulumi config rm image-processor:kmsKeyArn" in str(error.value)
