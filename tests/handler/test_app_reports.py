"""What the handler reports besides the renditions: log lines, metrics and outcome documents (moto)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

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


def test_the_e_mail_links_renditions_through_the_cdn_and_an_upload_in_its_region(pipeline, lambda_context, monkeypatch):
    # GIVEN a CDN in front of the renditions, with a Cache-Control for it, in a function running in us-east-1
    monkeypatch.setenv("CDN_DOMAIN", "images.example.com")
    monkeypatch.setenv("CACHE_CONTROL", "public, max-age=86400")
    monkeypatch.setenv("AWS_REGION", REGION)
    clear_caches()
    # WHEN a photo and a broken upload are handled
    app.lambda_handler(pipeline.upload("photos/a b.jpg", JPEG), lambda_context)
    app.lambda_handler(pipeline.upload("broken.jpg", b"not an image"), lambda_context)
    # THEN the success e-mail names the source format and links the rendition on the CDN, without a name
    success, failure = pipeline.emails()
    assert "Original: JPEG 400 x 300" in success
    assert "Result: JPEG 400 x 300" in success and "https://images.example.com/resized/photos/a%20b.jpg" in success
    # AND the rendition carries the Cache-Control the CDN honours
    written = boto3.client("s3", region_name=REGION).head_object(Bucket=DESTINATION, Key="resized/photos/a b.jpg")
    assert written["CacheControl"] == "public, max-age=86400"
    # AND the failure e-mail links the upload in the S3 console of the function's region
    assert f"s3/object/{SOURCE}?region={REGION}&prefix=broken.jpg" in failure


class ShortOfTime:
    """A Lambda context with 4 s left: less than the margin kept for writing, notifying and logging."""

    aws_request_id = "22222222-2222-3333-4444-555555555555"

    def get_remaining_time_in_millis(self) -> int:
        return 4_000


def test_an_invocation_short_of_time_ends_in_a_timeout_failure_not_a_lambda_timeout(pipeline):
    # GIVEN an upload handled with less time left than the margin
    (result,) = app.lambda_handler(pipeline.upload("a.jpg", JPEG), ShortOfTime())["results"]
    # THEN rendering stops at once: a timeout failure, nothing written
    assert (result["status"], result["error_type"]) == ("failure", "timeout")
    assert destination_keys() == []


def test_heic_turned_off_refuses_a_heic_upload(pipeline, lambda_context, monkeypatch):
    # GIVEN HEIC switched off
    monkeypatch.setenv("HEIC_ENABLED", "false")
    clear_caches()
    # WHEN a HEIC photo is uploaded
    heic = (Path(__file__).parent / "images" / "halves.heic").read_bytes()
    (result,) = app.lambda_handler(pipeline.upload("a.heic", heic), lambda_context)["results"]
    # THEN it is refused as an image this deployment does not take
    assert (result["status"], result["error_type"]) == ("failure", "not_an_image")
    assert "heic" in result["error_message"].lower() and destination_keys() == []


def test_an_upload_of_exactly_max_input_bytes_is_rendered(pipeline, lambda_context, monkeypatch):
    # GIVEN MAX_INPUT_BYTES equal to the upload's size
    monkeypatch.setenv("MAX_INPUT_BYTES", str(len(JPEG)))
    clear_caches()
    # WHEN it is handled THEN it is within the limit: rendered
    (result,) = app.lambda_handler(pipeline.upload("a.jpg", JPEG), lambda_context)["results"]
    assert result["status"] == "success" and destination_keys() == ["resized/a.jpg"]


def test_duration_ms_is_the_time_the_record_took(pipeline, lambda_context, monkeypatch, caplog):
    # GIVEN a clock that advances 1.5 s between the start and the end of the record
    readings = iter([100.0, 101.5])
    monkeypatch.setattr(app, "_clock", lambda: next(readings))
    # WHEN an upload is handled
    with caplog.at_level(logging.INFO, logger="image-processor"):
        (result,) = app.lambda_handler(pipeline.upload("a.jpg", JPEG), lambda_context)["results"]
    # THEN its outcome and log line say 1500 ms
    assert result["duration_ms"] == 1500 and log_lines(caplog)[-1]["duration_ms"] == 1500


def test_a_bad_setting_is_logged_with_its_field_before_the_invocation_fails(
    pipeline, lambda_context, monkeypatch, caplog
):
    # GIVEN a resize width of 0
    monkeypatch.setenv("RESIZE_WIDTH", "0")
    clear_caches()
    # WHEN the container starts THEN the invocation fails, and one error line names the field and the variable
    with caplog.at_level(logging.INFO, logger="image-processor"), pytest.raises(ValueError, match="RESIZE_WIDTH"):
        app.lambda_handler(s3_event("a.jpg"), lambda_context)
    (line,) = log_lines(caplog)
    assert (line["level"], line["message"], line["field"]) == ("ERROR", "configuration refused", "width")
    assert line["error"].startswith("RESIZE_WIDTH ")


def test_an_event_from_the_destination_bucket_says_why_it_is_refused(pipeline, lambda_context):
    event = s3_event("resized/a.jpg")
    event["Records"][0]["s3"]["bucket"]["name"] = DESTINATION
    (result,) = app.lambda_handler(event, lambda_context)["results"]
    assert (result["error_type"], result["error_message"]) == (
        "misconfigured",
        "the source bucket is the destination bucket",
    )


def test_a_late_event_of_a_replaced_object_says_the_newer_one_has_its_own_event(pipeline, lambda_context):
    # GIVEN two uploads under one key WHEN the first one's event arrives after the second upload
    first = pipeline.upload("a.jpg", JPEG)
    pipeline.upload("a.jpg", encode(photo(300, 400), "JPEG"))
    (result,) = app.lambda_handler(first, lambda_context)["results"]
    # THEN it is skipped, saying why
    assert (result["status"], result["reason"]) == ("skipped", "a newer version replaced it; its own event renders it")
    assert destination_keys() == []


def test_an_event_naming_only_the_etag_of_a_versioned_object_is_rendered(pipeline, lambda_context):
    # GIVEN a versioned source, and an event for its object that carries the ETag but no version id
    boto3.client("s3", region_name=REGION).put_bucket_versioning(
        Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"}
    )
    event = pipeline.upload("a.jpg", JPEG)
    del event["Records"][0]["s3"]["object"]["versionId"]
    # WHEN handled THEN the ETag identifies the object now under the key: it is rendered
    (result,) = app.lambda_handler(event, lambda_context)["results"]
    assert result["status"] == "success" and destination_keys() == ["resized/a.jpg"]


def test_every_failed_rendition_is_named_in_the_failure(pipeline, lambda_context, monkeypatch):
    # GIVEN two watermarked renditions whose watermark images are missing
    renditions = [
        {"name": name, "width": 100, "height": 100, "watermark": {"image_key": f"brand/{name}.png"}}
        for name in ("first", "second")
    ]
    monkeypatch.setenv("RENDITIONS", json.dumps(renditions))
    clear_caches()
    # WHEN an upload is handled
    (result,) = app.lambda_handler(pipeline.upload("a.jpg", JPEG), lambda_context)["results"]
    # THEN the failure message holds one part per failed rendition, each naming it
    first, second = result["error_message"].split("; ")
    assert first.startswith("rendition 'first' failed") and second.startswith("rendition 'second' failed")
