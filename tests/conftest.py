"""Shared fixtures: fake AWS credentials, moto-mocked AWS with the pipeline's resources, a Lambda context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns import sns_backends

from handler import app, aws, settings

REGION = "us-east-1"
SOURCE = "image-processor-source-test-123456789012"
DESTINATION = "image-processor-processed-test-123456789012"
EVENTS = Path(__file__).parent / "events"


def clear_caches() -> None:
    """Forget the per-container clients and settings, as a new Lambda container would."""
    aws.s3.cache_clear()
    aws.sns.cache_clear()
    aws.dynamodb.cache_clear()
    aws.cloudfront.cache_clear()
    settings.settings.cache_clear()
    app._prepare_container.cache_clear()
    app._watermark_cache.clear()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, so nothing can ever reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)


@dataclass
class Pipeline:
    """The mocked pipeline's resources and helpers to drive and observe it."""

    topic_arn: str
    queue_url: str

    def upload(self, key: str, data: bytes) -> dict[str, Any]:
        """Put an object in the source bucket and return the S3 event S3 would send for it."""
        s3 = boto3.client("s3", region_name=REGION)
        put = s3.put_object(Bucket=SOURCE, Key=key, Body=data)
        return s3_event(key, size=len(data), etag=put["ETag"].strip('"'), version_id=put.get("VersionId"))

    def delete(self, key: str) -> dict[str, Any]:
        """Delete a source object and return the S3 event S3 would send for it."""
        boto3.client("s3", region_name=REGION).delete_object(Bucket=SOURCE, Key=key)
        return s3_event(key, name="ObjectRemoved:Delete")

    def notifications(self) -> list[dict[str, Any]]:
        """Every SNS notification published so far, as an SQS subscriber sees it (its JSON part in Message)."""
        sqs = boto3.client("sqs", region_name=REGION)
        received = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return received
            for message in batch:
                received.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def emails(self) -> list[str]:
        """The e-mail part of every message published to the topic (moto's documented record of publishes)."""
        topic = sns_backends[DEFAULT_ACCOUNT_ID][REGION].topics[self.topic_arn]
        return [json.loads(message)["email"] for _, message, *_ in topic.sent_notifications]


def document_of(notification: dict[str, Any]) -> dict[str, Any]:
    """The outcome document a machine subscriber receives: the message's JSON part."""
    document: dict[str, Any] = json.loads(notification["Message"])
    return document


def s3_event(
    *keys: str,
    size: int | None = None,
    etag: str | None = None,
    name: str = "ObjectCreated:Put",
    version_id: str | None = None,
) -> dict[str, Any]:
    """An S3 event as S3 sends it (keys URL-encoded), built from the JSON fixture."""
    from urllib.parse import quote_plus

    template = json.loads((EVENTS / "s3_object_created.json").read_text())["Records"][0]
    records = []
    for key in keys:
        record = json.loads(json.dumps(template))
        record["s3"]["object"]["key"] = quote_plus(key, safe="/")
        if size is None:
            del record["s3"]["object"]["size"]
        else:
            record["s3"]["object"]["size"] = size
        record["s3"]["object"]["eTag"] = etag
        record["eventName"] = name
        if version_id is not None:
            record["s3"]["object"]["versionId"] = version_id
        records.append(record)
    return {"Records": records}


def load_event(name: str) -> dict[str, Any]:
    """A JSON fixture of tests/events."""
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def sqs_event(*bodies: dict[str, Any]) -> dict[str, Any]:
    """An SQS batch as Lambda's event source mapping delivers it, one message per body (from the fixture)."""
    template = load_event("sqs_s3.json")["Records"][0]
    records = []
    for number, body in enumerate(bodies):
        record = json.loads(json.dumps(template))
        record.update(messageId=f"message-{number}", body=json.dumps(body))
        records.append(record)
    return {"Records": records}


def eventbridge_event(
    key: str, *, etag: str | None = None, version_id: str | None = None, deleted: str = ""
) -> dict[str, Any]:
    """EventBridge's "Object Created", or "Object Deleted" with `deleted` as its deletion-type (from the fixtures)."""
    event = load_event("eventbridge_object_deleted.json" if deleted else "eventbridge_object_created.json")
    obj: dict[str, Any] = {"key": key, "sequencer": "617f08299329d189"}
    if etag is not None:
        obj["etag"] = etag
    if version_id is not None:
        obj["version-id"] = version_id
    event["detail"]["object"] = obj
    if deleted:
        event["detail"]["deletion-type"] = deleted
    return event


@pytest.fixture
def pipeline(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """Source and destination buckets, the notification topic and an SQS queue subscribed to it."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=SOURCE)
        s3.create_bucket(Bucket=DESTINATION)
        sns = boto3.client("sns", region_name=REGION)
        topic_arn = sns.create_topic(Name="image-processor-notifications")["TopicArn"]
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("DESTINATION_BUCKET", DESTINATION)
        monkeypatch.setenv("SOURCE_BUCKET", SOURCE)
        monkeypatch.setenv("SNS_TOPIC_ARN", topic_arn)
        clear_caches()
        yield Pipeline(topic_arn=topic_arn, queue_url=queue_url)
    clear_caches()


@dataclass
class LambdaContext:
    """The parts of the Lambda context object the handler reads."""

    aws_request_id: str = "11111111-2222-3333-4444-555555555555"
    function_name: str = "image-processor"
    memory_limit_in_mb: int = 512


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


def log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The handler's JSON log lines captured so far (metric lines left out)."""
    return [json.loads(record.getMessage()) for record in caplog.records if record.name == "image-processor"]
