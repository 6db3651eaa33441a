"""The three trigger shapes (config `trigger`): S3 direct, S3 -> SQS -> function, S3 -> EventBridge -> function."""

from __future__ import annotations

import json

import pytest

from components import policies
from tests.infra.conftest import ACCOUNT_ID, Deployment, Runner

EMAIL = "ops@photos.test"
SOURCE = f"image-processor-source-dev-{ACCOUNT_ID}"
SOURCE_ARN = f"arn:aws:s3:::{SOURCE}"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:image-processor-dev"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:processor-upload-events-generated"
FAILED_QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:processor-failed-events-generated"
RULE_ARN = f"arn:aws:events:us-east-1:{ACCOUNT_ID}:rule/processor-object-events-generated"


@pytest.fixture
def sqs(run_pulumi: Runner) -> Deployment:
    return run_pulumi(notificationEmail=EMAIL, trigger="sqs", sqsBatchSize="8", sqsMaxConcurrency="3")


@pytest.fixture
def eventbridge(run_pulumi: Runner) -> Deployment:
    return run_pulumi(notificationEmail=EMAIL, trigger="eventbridge")


def role_statements(deployment: Deployment) -> dict[str, dict[str, object]]:
    return {s["Sid"]: s for s in deployment.policy("aws:iam/rolePolicy:RolePolicy")["Statement"]}


def test_sqs_trigger_sends_the_source_buckets_events_to_an_encrypted_queue(sqs):
    """GIVEN trigger sqs WHEN deployed THEN S3 notifies the queue (not the function) once its policy exists."""
    notification = sqs.one("aws:s3/bucketNotification:BucketNotification")
    assert notification == {
        "bucket": SOURCE,
        "queues": [{"queueArn": QUEUE_ARN, "events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}],
    }
    assert sqs.depends_on["processor-trigger"] == ["processor-upload-events-policy"]
    queue = sqs.one("aws:sqs/queue:Queue", "processor-upload-events")
    assert queue["sqsManagedSseEnabled"] is True
    assert queue["visibilityTimeoutSeconds"] == 6 * 60  # six function timeouts
    assert json.loads(queue["redrivePolicy"]) == {"deadLetterTargetArn": FAILED_QUEUE_ARN, "maxReceiveCount": 5}
    assert not sqs.of_type("aws:lambda/permission:Permission")  # nothing but the event source invokes it


def test_sqs_trigger_queue_admits_only_this_bucket_of_this_account_and_only_over_tls(sqs):
    """GIVEN trigger sqs WHEN deployed THEN the queue policy is exactly the trigger queue document for these ARNs."""
    assert sqs.policy("aws:sqs/queuePolicy:QueuePolicy", "processor-upload-events-policy") == json.loads(
        policies.trigger_queue_policy(QUEUE_ARN, SOURCE_ARN, ACCOUNT_ID)
    )


def test_sqs_event_source_batches_caps_concurrency_and_reports_partial_failures(sqs):
    """GIVEN sqsBatchSize 8 and sqsMaxConcurrency 3 WHEN deployed THEN the event source mapping carries them."""
    mapping = sqs.one("aws:lambda/eventSourceMapping:EventSourceMapping")
    assert mapping == {
        "eventSourceArn": QUEUE_ARN,
        "functionName": FUNCTION_ARN,
        "batchSize": 8,
        "scalingConfig": {"maximumConcurrency": 3},
        "functionResponseTypes": ["ReportBatchItemFailures"],
    }
    assert sqs.one("aws:lambda/function:Function")["environment"]["variables"]["TRIGGER"] == "sqs"
    assert sqs.outputs["triggerQueueUrl"].endswith("/processor-upload-events-generated")


def test_sqs_trigger_role_may_consume_that_queue_only(sqs):
    """GIVEN trigger sqs WHEN deployed THEN the role may receive, delete and read attributes on that queue only."""
    assert role_statements(sqs)["ConsumeUploadEvents"] == {
        "Sid": "ConsumeUploadEvents",
        "Effect": "Allow",
        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
        "Resource": QUEUE_ARN,
    }


def test_eventbridge_trigger_routes_created_and_deleted_objects_of_this_bucket_to_the_function(eventbridge):
    """GIVEN trigger eventbridge WHEN deployed THEN S3 sends to EventBridge and one rule invokes the function."""
    assert eventbridge.one("aws:s3/bucketNotification:BucketNotification") == {"bucket": SOURCE, "eventbridge": True}
    rule = eventbridge.one("aws:cloudwatch/eventRule:EventRule")
    assert json.loads(rule["eventPattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created", "Object Deleted"],
        "detail": {"bucket": {"name": [SOURCE]}},
    }
    target = eventbridge.one("aws:cloudwatch/eventTarget:EventTarget")
    assert target == {
        "rule": "processor-object-events-generated",
        "arn": FUNCTION_ARN,
        "deadLetterConfig": {"arn": FAILED_QUEUE_ARN},
    }
    assert eventbridge.policy("aws:sqs/queuePolicy:QueuePolicy", "processor-failed-events-tls-only") == json.loads(
        policies.queue_policy(FAILED_QUEUE_ARN, RULE_ARN)
    )
    assert eventbridge.depends_on["processor-object-events-target"] == ["processor-eventbridge-invoke"]
    variables = eventbridge.one("aws:lambda/function:Function")["environment"]["variables"]
    assert variables["TRIGGER"] == "eventbridge"


def test_eventbridge_may_invoke_the_function_for_that_rule_only(eventbridge):
    """GIVEN trigger eventbridge WHEN deployed THEN only that rule may invoke the function, and no queue is consumed."""
    permission = eventbridge.one("aws:lambda/permission:Permission")
    assert permission == {
        "action": "lambda:InvokeFunction",
        "function": "image-processor-dev",
        "principal": "events.amazonaws.com",
        "sourceArn": RULE_ARN,
    }
    assert "ConsumeUploadEvents" not in role_statements(eventbridge)
    assert not eventbridge.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")


@pytest.mark.parametrize("trigger", ["s3", "eventbridge"])
def test_asynchronous_triggers_have_no_queue_between_bucket_and_function(run_pulumi: Runner, trigger):
    """GIVEN trigger s3 or eventbridge WHEN deployed THEN the failure queue is the only queue."""
    deployment = run_pulumi(notificationEmail=EMAIL, trigger=trigger)
    assert [r.name for r in deployment.of_type("aws:sqs/queue:Queue")] == ["processor-failed-events"]
    assert "triggerQueueUrl" not in deployment.outputs


def test_reserved_concurrency_is_unset_by_default_and_set_when_asked(run_pulumi: Runner):
    """GIVEN reservedConcurrency 20 WHEN deployed THEN the function reserves exactly that."""
    deployment = run_pulumi(notificationEmail=EMAIL, reservedConcurrency="20")
    assert deployment.one("aws:lambda/function:Function")["reservedConcurrentExecutions"] == 20


def test_sqs_concurrency_above_reserved_concurrency_is_refused_naming_the_key(run_pulumi: Runner):
    """GIVEN trigger sqs WHEN sqsMaxConcurrency exceeds reservedConcurrency THEN preview refuses, naming the key."""
    with pytest.raises(Exception, match=r"^image-processor:sqsMaxConcurrency \(10\) must not exceed"):
        run_pulumi(notificationEmail=EMAIL, trigger="sqs", reservedConcurrency="5", sqsMaxConcurrency="10")
