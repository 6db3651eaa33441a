"""The handler on every trigger shape, on bad input and on refused buckets (moto)."""

from __future__ import annotations

import json
import logging

import pytest
from botocore.exceptions import ClientError

from handler import app, aws
from local.samples import encode, photo
from tests.conftest import (
    SOURCE,
    clear_caches,
    document_of,
    eventbridge_event,
    load_event,
    log_lines,
    s3_event,
    sqs_event,
)
from tests.handler.test_app import destination_keys

JPEG = encode(photo(400, 300), "JPEG")


def sns_wrapped(s3: dict) -> dict:
    """An S3 event as an SNS notification delivered to Lambda (from the fixture)."""
    event = load_event("sns_s3.json")
    event["Records"][0]["Sns"]["Message"] = json.dumps(s3)
    return event


def sns_notification(s3: dict) -> dict:
    """The SNS notification an SQS queue subscribed to the topic receives (not raw delivery)."""
    envelope = json.loads(load_event("sqs_sns_s3.json")["Records"][0]["body"])
    return {**envelope, "Message": json.dumps(s3)}


def emf_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [line for line in map(json.loads, capsys.readouterr().out.splitlines()) if "_aws" in line]


def test_sqs_wrapped_upload_is_processed_and_no_message_fails(pipeline, lambda_context):
    # GIVEN an upload whose S3 notification arrives through an SQS queue
    event = sqs_event(pipeline.upload("a.jpg", JPEG))
    # WHEN the handler receives the batch
    response = app.lambda_handler(event, lambda_context)
    # THEN the rendition is written and the partial batch response names no failed message
    assert response == {"batchItemFailures": []}
    assert destination_keys() == ["resized/a.jpg"]


def test_a_transient_error_fails_only_its_sqs_message(pipeline, lambda_context, monkeypatch):
    # GIVEN two messages, and S3 throttling the write of the first one's rendition
    event = sqs_event(pipeline.upload("a.jpg", JPEG), pipeline.upload("b.jpg", JPEG))
    real_put = aws.s3().put_object

    def throttled(**kwargs):
        if kwargs["Key"] == "resized/a.jpg":
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate"}}, "PutObject")
        return real_put(**kwargs)

    monkeypatch.setattr(aws.s3(), "put_object", throttled)
    # WHEN the batch is handled
    response = app.lambda_handler(event, lambda_context)
    # THEN only the first message returns to the queue; the second is done
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert destination_keys() == ["resized/b.jpg"]


def test_a_broken_sqs_message_is_logged_and_not_retried(pipeline, lambda_context, caplog):
    # GIVEN a message whose body is not JSON, beside a good one
    event = sqs_event({}, pipeline.upload("a.jpg", JPEG))
    event["Records"][0]["body"] = "{not json"
    with caplog.at_level(logging.INFO, logger="image-processor"):
        response = app.lambda_handler(event, lambda_context)
    # THEN nothing is retried (a retry cannot fix it), the good one is done, the bad one is a warning
    assert response == {"batchItemFailures": []}
    assert destination_keys() == ["resized/a.jpg"]
    (warning,) = [line for line in log_lines(caplog) if line["level"] == "WARN"]
    assert (warning["status"], warning["error_type"]) == ("ignored", "malformed_record")


@pytest.mark.parametrize("wrap", [sns_wrapped, lambda s3: sqs_event(sns_notification(s3))], ids=["sns", "sqs-sns"])
def test_sns_wrapped_uploads_are_processed(pipeline, lambda_context, wrap):
    app.lambda_handler(wrap(pipeline.upload("photos/a b.jpg", JPEG)), lambda_context)
    assert destination_keys() == ["resized/photos/a b.jpg"]
    assert document_of(pipeline.notifications()[0])["status"] == "success"


def test_eventbridge_created_then_deleted(pipeline, lambda_context):
    # GIVEN an upload and EventBridge's "Object Created" for it
    etag = pipeline.upload("photos/a b.jpg", JPEG)["Records"][0]["s3"]["object"]["eTag"]
    app.lambda_handler(eventbridge_event("photos/a b.jpg", etag=etag), lambda_context)
    assert destination_keys() == ["resized/photos/a b.jpg"]
    # WHEN the object is deleted and "Object Deleted" arrives
    pipeline.delete("photos/a b.jpg")
    result = app.lambda_handler(eventbridge_event("photos/a b.jpg", deleted="Permanently Deleted"), lambda_context)
    # THEN its rendition is gone
    assert result["results"][0]["status"] == "deleted"
    assert destination_keys() == []


@pytest.mark.parametrize("event", [[], None, {"Records": "oops"}, {"Records": [{"s3": None}]}, {"hello": 1}])
def test_malformed_events_are_a_warning_and_a_metric_never_an_exception(
    pipeline, lambda_context, caplog, capsys, event
):
    # GIVEN an event that names no object WHEN it arrives
    with caplog.at_level(logging.INFO, logger="image-processor"):
        result = app.lambda_handler(event, lambda_context)
    # THEN the handler returns, logs a warning and counts it by reason; the uploader is not told
    (outcome,) = result["results"]
    assert outcome["status"] == "ignored" and outcome["error_type"] in (
        "malformed_event",
        "malformed_record",
        "unknown_event",
    )
    assert [line["level"] for line in log_lines(caplog)] == ["WARN"]
    (metric,) = emf_lines(capsys)
    assert (metric["RecordsIgnored"], metric["Reason"]) == (1, outcome["error_type"])
    assert pipeline.notifications() == []


def test_a_bad_middle_record_does_not_block_the_others(pipeline, lambda_context):
    pipeline.upload("a.jpg", JPEG)
    pipeline.upload("c.jpg", JPEG)
    event = s3_event("a.jpg", "b.jpg", "c.jpg")
    event["Records"][1]["s3"] = None
    statuses = [result["status"] for result in app.lambda_handler(event, lambda_context)["results"]]
    assert statuses == ["success", "ignored", "success"]
    assert destination_keys() == ["resized/a.jpg", "resized/c.jpg"]


def test_a_foreign_bucket_is_refused_with_a_failure_notification_and_no_retry(
    pipeline, lambda_context, capsys, monkeypatch
):
    # GIVEN a record from a bucket that is not SOURCE_BUCKET
    event = s3_event("a.jpg")
    event["Records"][0]["s3"]["bucket"]["name"] = "someone-elses-bucket"

    def no_read(**kwargs):
        raise AssertionError("a foreign bucket must not be read")

    monkeypatch.setattr(aws.s3(), "head_object", no_read)
    # WHEN it arrives
    result = app.lambda_handler(event, lambda_context)["results"][0]
    # THEN it is refused without reading it, the uploader hears why, and it is counted as a failure
    assert (result["status"], result["error_type"]) == ("failure", "foreign_bucket")
    assert SOURCE in result["error_message"] and "someone-elses-bucket" in result["error_message"]
    assert document_of(pipeline.notifications()[0])["error_type"] == "foreign_bucket"
    assert emf_lines(capsys)[0]["Reason"] == "foreign_bucket"


def test_without_source_bucket_every_record_is_refused(pipeline, lambda_context, monkeypatch):
    monkeypatch.delenv("SOURCE_BUCKET")
    clear_caches()
    result = app.lambda_handler(pipeline.upload("a.jpg", JPEG), lambda_context)["results"][0]
    assert result["error_type"] == "foreign_bucket"
    assert destination_keys() == []


def test_notify_false_skips_only_the_notification(pipeline, lambda_context, capsys, caplog):
    # GIVEN a backfill event: an upload with a top-level "notify": false
    event = {**pipeline.upload("a.jpg", JPEG), "notify": False}
    with caplog.at_level(logging.INFO, logger="image-processor"):
        result = app.lambda_handler(event, lambda_context)
    # THEN the rendition, metric and log line are there, but no notification
    assert result["results"][0]["status"] == "success"
    assert destination_keys() == ["resized/a.jpg"]
    assert emf_lines(capsys)[0]["ImagesProcessed"] == 1
    assert log_lines(caplog)[-1]["status"] == "success"
    assert pipeline.notifications() == []
