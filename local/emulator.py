"""The embedded AWS emulator (moto in server mode) with the pipeline's resources provisioned in it."""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from moto.server import ThreadedMotoServer

from components.naming import bucket_name

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
STACK = "local"
FUNCTION_NAME = "image-processor-local"
MAX_RECEIVES = 3  # like Lambda's async invocation: the first attempt and 2 retries
HISTORY_TABLE = "image-processor-local-history"


@dataclass(frozen=True)
class LocalPipeline:
    """Names and endpoints of the provisioned local pipeline."""

    endpoint: str
    source_bucket: str
    destination_bucket: str
    topic_arn: str
    events_queue_url: str
    dead_letter_queue_url: str
    notifications_queue_url: str
    history_table: str = HISTORY_TABLE

    def s3(self) -> S3Client:
        """An S3 client talking to the emulator."""
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION)

    def sqs(self) -> SQSClient:
        """An SQS client talking to the emulator."""
        return boto3.client("sqs", endpoint_url=self.endpoint, region_name=REGION)

    def handler_environment(self) -> dict[str, str]:
        """The function's environment, as the NotifyingFunction component sets it in AWS."""
        return {
            "DESTINATION_BUCKET": self.destination_bucket,
            "SOURCE_BUCKET": self.source_bucket,
            "SNS_TOPIC_ARN": self.topic_arn,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "HISTORY_TABLE": self.history_table,
        }

    def api_environment(self) -> dict[str, str]:
        """The upload API function's environment, as the UploadApi component sets it with `apiAuth: iam`."""
        handler = self.handler_environment()
        shared = ("SOURCE_BUCKET", "DESTINATION_BUCKET", "HISTORY_TABLE", "AWS_ENDPOINT_URL", "AWS_REGION")
        return {"API_AUTH": "iam", **{name: handler[name] for name in shared}}

    def stack_outputs(self) -> dict[str, str]:
        """The outputs `pulumi stack output --json` would give for this pipeline (tools read them)."""
        return {
            "sourceBucketName": self.source_bucket,
            "destinationBucketName": self.destination_bucket,
            "functionName": FUNCTION_NAME,
            "notificationTopicArn": self.topic_arn,
            "deadLetterQueueUrl": self.dead_letter_queue_url,
        }

    def sent_emails(self) -> list[Email]:
        """Every notification published so far, as an e-mail subscriber would read it.

        moto delivers nothing to e-mail subscriptions, so this reads what was published from the
        emulator's backend (it runs in this process) and picks the message SNS sends to protocol "email".
        """
        from moto.sns.models import sns_backends

        topic = sns_backends[ACCOUNT_ID][REGION].topics[self.topic_arn]
        emails = []
        for _, message, subject, _, _ in list(topic.sent_notifications):
            per_protocol = json.loads(message)
            document = json.loads(per_protocol["default"])
            emails.append(Email(subject or "", per_protocol.get("email", per_protocol["default"]), document))
        return emails


@dataclass(frozen=True)
class Email:
    """One notification as its e-mail recipient reads it, with the document machines received."""

    subject: str
    body: str
    document: dict[str, Any]

    def as_read(self) -> str:
        """The e-mail as a mail client shows it."""
        return f"Subject: {self.subject}\n\n{self.body}"


def start_emulator() -> tuple[ThreadedMotoServer, str]:
    """Start moto on a free localhost port and point this process's AWS SDK at it with fake credentials."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION=REGION,
    )
    os.environ.pop("AWS_PROFILE", None)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per emulated request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's backends live in this process: start from an empty account, not an earlier run's leftovers.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    return server, endpoint


def provision(endpoint: str) -> LocalPipeline:
    """Buckets, topic, history table and S3 -> queue event wiring with a dead-letter queue, named as in AWS."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION)
    sns = boto3.client("sns", endpoint_url=endpoint, region_name=REGION)
    source = bucket_name("source", STACK, ACCOUNT_ID)
    destination = bucket_name("processed", STACK, ACCOUNT_ID)
    for bucket in (source, destination):
        s3.create_bucket(Bucket=bucket)

    def queue(name: str, redrive_policy: str = "") -> tuple[str, str]:
        if redrive_policy:
            url = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive_policy})["QueueUrl"]
        else:
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    dead_letter_url, dead_letter_arn = queue("image-processor-dead-letter")
    redrive = json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": MAX_RECEIVES})
    events_url, events_arn = queue("image-processor-events", redrive)
    s3.put_bucket_notification_configuration(
        Bucket=source,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": events_arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]
        },
    )
    topic_arn = sns.create_topic(Name="image-processor-notifications")["TopicArn"]
    # Processing history, as `processingHistory: true` makes it: the upload API reads an upload's status here.
    boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION).create_table(
        TableName=HISTORY_TABLE,
        AttributeDefinitions=[{"AttributeName": "source_key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "source_key", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # Stands in for the e-mail subscription: the demo reads what a subscriber would receive.
    notifications_url, notifications_arn = queue("image-processor-notifications")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=notifications_arn)
    return LocalPipeline(
        endpoint=endpoint,
        source_bucket=source,
        destination_bucket=destination,
        topic_arn=topic_arn,
        events_queue_url=events_url,
        dead_letter_queue_url=dead_letter_url,
        notifications_queue_url=notifications_url,
    )
