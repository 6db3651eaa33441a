"""What the handler reports besides the renditions: log lines, metrics and outcome documents (moto)."""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from botocore.exceptions import ClientError

from handler import app, aws
from local.samples import encode, photo
from tests.conftest import DESTINATION, REGION, SOURCE, clear_caches, log_lines, s3_event
from tests.handler.test_app import destination_keys
from tests.handler.test_history import history_table  # noqa: F401 (a fixture: the table, HISTORY_TABLE set)
from tests.handler.test_log import restore_logging  # noqa: F401 (a fixture: the logger as tests expect it)

JPEG = encode(photo(400, 300), "JPEG")


@pytest.mark.usefixtures("restore_logging")
def test_in_lambda_the_log_line_and_the_metric_name_the_invocation_and_the_function(
    pipeline, lambda_context, monkeypatch, capsys
):
    # GIVEN the handler running inside Lambda, as the function "image-processor-dev"
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "image-processor-dev")
    clear_caches()
    # WHEN an upload is handled
    app.lambda_handler(pipeline.upload("a.jpg", JPEG), lambda_context)
    # THEN stdout holds its JSON log line, with the request id, and its metric, with the function's name
    lines = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    (logged,) = [line for line in lines if "_aws" not in line]
    (metric,) = [line for line in lines if "_aws" in line]
    assert (logged["message"], logged["source_key"], logged["request_id"]) == (
        "success",
        "a.jpg",
        lambda_context.aws_request_id,
    )
    assert (metric["FunctionName"], metric["ImagesProcessed"]) == ("image-processor-dev", 1)


def test_a_transient_error_is_logged_with_its_object_and_cause(pipeline, lambda_context, monkeypatch, caplog):
    # GIVEN S3 throttling the rendition's write
    event = pipeline.upload("photos/a.jpg", JPEG)

    def throttled(**kwargs: object) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate"}}, "PutObject")

    monkeypatch.setattr(aws.s3(), "put_object", throttled)
    # WHEN the upload is handled (and raises, for Lambda to retry it)
    with caplog.at_level(logging.INFO, logger="image-processor"), pytest.raises(ClientError):
        app.lambda_handler(event, lambda_context)
    # THEN one error line says which object will be retried and why
    (line,) = log_lines(caplog)
    assert (line["level"], line["message"], line["source_bucket"], line["source_key"]) == (
        "ERROR",
        "will be retried",
        SOURCE,
        "photos/a.jpg",
    )
    assert line["error"].startswith("ClientError: ") and "SlowDown" in line["error"]


def test_a_record_naming_no_object_reports_no_object(pipeline, lambda_context):
    # GIVEN a record without its S3 part WHEN handled
    event = s3_event("a.jpg")
    event["Records"][0]["s3"] = None
    (result,) = app.lambda_handler(event, lambda_context)["results"]
    # THEN it is ignored, names no source object, and says why
    assert (result["status"], result["source_bucket"], result["source_key"]) == ("ignored", "", "")
    assert (result["destination_bucket"], result["request_id"]) == (DESTINATION, lambda_context.aws_request_id)
    assert result["error_type"] == "malformed_record" and result["error_message"]


def test_a_deletion_reports_the_renditions_it_deleted(pipeline, lambda_context):
    # GIVEN a rendered upload
    app.lambda_handler(pipeline.upload("photos/a.jpg", JPEG), lambda_context)
    # WHEN its source is deleted
    (result,) = app.lambda_handler(pipeline.delete("photos/a.jpg"), lambda_context)["results"]
    # THEN the outcome lists the rendition key it deleted, and the destination is empty
    assert (result["status"], result["deleted_keys"]) == ("deleted", ["resized/photos/a.jpg"])
    assert destination_keys() == []


@pytest.mark.usefixtures("history_table")
def test_a_backfill_skip_reports_the_size_of_the_object_it_kept(pipeline, lambda_context):
    # GIVEN an upload rendered and recorded in history
    upload = pipeline.upload("a.jpg", JPEG)
    app.lambda_handler(upload, lambda_context)
    # WHEN a backfill names it again
    (result,) = app.lambda_handler({**upload, "notify": False}, lambda_context)["results"]
    # THEN the skip reports the object it judged current, with its size
    assert (result["status"], result["reason"], result["bytes_in"]) == ("skipped", "renditions current", len(JPEG))


WATERMARKED = [{"name": "marked", "width": 200, "height": 150, "watermark": {"image_key": "brand/logo.png"}}]


def test_a_missing_watermark_is_logged_and_picked_up_once_uploaded(pipeline, lambda_context, monkeypatch, caplog):
    # GIVEN a watermarked rendition whose watermark image is not uploaded yet
    monkeypatch.setenv("RENDITIONS", json.dumps(WATERMARKED))
    clear_caches()
    # WHEN an upload is handled
    with caplog.at_level(logging.INFO, logger="image-processor"):
        (first,) = app.lambda_handler(pipeline.upload("a.jpg", JPEG), lambda_context)["results"]
    # THEN the rendition fails, and an error line names the watermark and S3's answer
    assert first["error_type"] == "rendition_failed"
    (error,) = [line for line in log_lines(caplog) if line["message"] == "watermark not readable"]
    assert (error["level"], error["key"]) == ("ERROR", "brand/logo.png") and "NoSuchKey" in error["error"]
    # AND once the watermark is uploaded, the next upload in the same container is watermarked
    logo = encode(photo(40, 20).convert("RGBA"), "PNG")
    boto3.client("s3", region_name=REGION).put_object(Bucket=DESTINATION, Key="brand/logo.png", Body=logo)
    (second,) = app.lambda_handler(pipeline.upload("b.jpg", JPEG), lambda_context)["results"]
    assert second["status"] == "success" and "resized/marked/b.jpg" in destination_keys()
