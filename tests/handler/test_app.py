"""The handler end to end on moto: real S3 objects, events as S3 sends them, notifications via SQS."""

from __future__ import annotations

import io
import json
import logging
import re

import boto3
import pytest
from botocore.exceptions import ClientError
from PIL import Image

from handler import app, aws, storage
from local.samples import encode, photo
from tests.conftest import DESTINATION, EVENTS, REGION, SOURCE, clear_caches, document_of, log_lines, s3_event

JPEG = encode(photo(1600, 1200), "JPEG")


def destination_keys() -> list[str]:
    listing = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=DESTINATION)
    return [item["Key"] for item in listing.get("Contents", [])]


def fetch(key: str) -> tuple[Image.Image, dict]:
    response = boto3.client("s3", region_name=REGION).get_object(Bucket=DESTINATION, Key=key)
    return Image.open(io.BytesIO(response["Body"].read())), response


def test_upload_becomes_resized_image_and_success_notification(pipeline, lambda_context):
    # GIVEN a photo uploaded under a key with spaces and non-ASCII characters
    event = pipeline.upload("photos/My Café.JPG", JPEG)
    # WHEN the handler receives S3's event
    result = app.lambda_handler(event, lambda_context)
    # THEN the resized image is in the destination bucket under resized/ with the same key
    assert destination_keys() == ["resized/photos/My Café.JPG"]
    image, response = fetch("resized/photos/My Café.JPG")
    assert image.format == "JPEG" and image.size == (800, 600)
    assert response["ContentType"] == "image/jpeg"
    assert response["Metadata"] == {
        "source-key": "photos/My%20Caf%C3%A9.JPG",
        "source-bucket": SOURCE,
        "source-etag": event["Records"][0]["s3"]["object"]["eTag"],
        "rendition": "default",
        "source-version": "",
        "original-width": "1600",
        "original-height": "1200",
        "width": "800",
        "height": "600",
    }
    # AND one success notification, filterable by its status attribute, with a short ASCII subject
    (notification,) = pipeline.notifications()
    assert notification["MessageAttributes"]["status"]["Value"] == "success"
    assert re.fullmatch(r"Image processed: photos/My Cafe\.JPG \[[0-9a-f]{6}\]", notification["Subject"])
    summary = document_of(notification)
    assert summary["status"] == "success"
    assert summary["source_key"] == "photos/My Café.JPG"
    assert summary["destination_key"] == "resized/photos/My Café.JPG"
    assert summary["original_size"] == [1600, 1200] and summary["new_size"] == [800, 600]
    assert summary["bytes_in"] == len(JPEG) and summary["bytes_out"] == len(image.fp.getvalue())
    assert summary["request_id"] == lambda_context.aws_request_id
    # AND the e-mail part tells a person what happened to which file, and the new size
    (email,) = pipeline.emails()
    assert email.startswith("Your image photos/My Café.JPG was processed.")
    assert "800 x 600" in email
    assert result["results"][0]["status"] == "success"


def test_every_record_of_an_event_is_processed(pipeline, lambda_context):
    """GIVEN three uploads in one event WHEN handled THEN each has its rendition and notification."""
    png = encode(photo(1000, 1000), "PNG")
    gif = encode(photo(400, 300).convert("P"), "GIF")
    for key, data in (("a.png", png), ("folder/b.gif", gif), ("folder/b.webp", encode(photo(500, 500), "WEBP"))):
        pipeline.upload(key, data)
    app.lambda_handler(s3_event("a.png", "folder/b.gif", "folder/b.webp"), lambda_context)
    assert sorted(destination_keys()) == ["resized/a.png.jpg", "resized/folder/b.gif.jpg", "resized/folder/b.webp.jpg"]
    assert fetch("resized/a.png.jpg")[0].size == (600, 600)
    assert fetch("resized/folder/b.gif.jpg")[0].size == (400, 300)  # never upscaled
    assert [document_of(n)["status"] for n in pipeline.notifications()] == ["success"] * 3


def test_non_image_with_image_name_gets_failure_notification_and_no_output(pipeline, lambda_context):
    """GIVEN text under a .jpg name WHEN handled THEN a failure notification and no rendition, without raising."""
    event = pipeline.upload("uploads/not-really.jpg", b"just some text")
    result = app.lambda_handler(event, lambda_context)  # returns normally: a retry cannot fix it
    assert destination_keys() == []
    (notification,) = pipeline.notifications()
    assert notification["MessageAttributes"]["status"]["Value"] == "failure"
    assert re.fullmatch(r"Image FAILED: uploads/not-really\.jpg \[[0-9a-f]{6}\]", notification["Subject"])
    summary = document_of(notification)
    assert summary["error_type"] == "not_an_image"
    assert "not a supported image" in summary["error_message"]
    assert summary["destination_key"] is None
    assert result["results"][0]["status"] == "failure"


def test_corrupt_image_gets_failure_notification(pipeline, lambda_context):
    """GIVEN a truncated PNG WHEN handled THEN a `corrupt` failure notification and no rendition."""
    event = pipeline.upload("broken.png", encode(photo(800, 800), "PNG")[:3000])
    app.lambda_handler(event, lambda_context)
    (notification,) = pipeline.notifications()
    assert document_of(notification)["error_type"] == "corrupt"
    assert destination_keys() == []


def test_non_image_with_other_extension_is_skipped_quietly(pipeline, lambda_context, caplog):
    """GIVEN a text file WHEN handled THEN it is skipped: logged, no notification."""
    event = pipeline.upload("notes/readme.txt", b"hello")
    with caplog.at_level(logging.INFO, logger="image-processor"):
        result = app.lambda_handler(event, lambda_context)
    assert result["results"][0]["status"] == "skipped"
    assert result["results"][0]["reason"].startswith("not an image: content is not a supported image")
    assert pipeline.notifications() == []
    assert log_lines(caplog)[-1]["status"] == "skipped"


def test_image_with_other_extension_is_processed_by_content(pipeline, lambda_context):
    # GIVEN a PNG under a name without an image extension
    event = pipeline.upload("exports/picture.dat", encode(photo(900, 600), "PNG"))
    # WHEN it is processed
    app.lambda_handler(event, lambda_context)
    # THEN its rendition keeps the name (no image extension to disambiguate) and says JPEG in its type
    assert destination_keys() == ["resized/exports/picture.dat"]
    assert fetch("resized/exports/picture.dat")[1]["ContentType"] == "image/jpeg"


def test_object_above_max_input_bytes_is_refused_without_download(pipeline, lambda_context, monkeypatch):
    """GIVEN MAX_INPUT_BYTES below the upload's size WHEN handled THEN `too_large`, and it is never downloaded."""
    monkeypatch.setenv("MAX_INPUT_BYTES", "1000")
    clear_caches()
    event = pipeline.upload("big.jpg", JPEG)

    def no_download(source):
        raise AssertionError("the object must not be downloaded")

    monkeypatch.setattr(storage, "get", no_download)
    app.lambda_handler(event, lambda_context)
    summary = document_of(pipeline.notifications()[0])
    assert summary["error_type"] == "too_large"
    assert "MAX_INPUT_BYTES" in summary["error_message"]


def test_size_missing_from_event_is_read_with_head(pipeline, lambda_context, monkeypatch):
    """GIVEN an event without the object size WHEN handled THEN HEAD gives bytes_in."""
    monkeypatch.setenv("MAX_INPUT_BYTES", "1000")
    clear_caches()
    pipeline.upload("big.jpg", JPEG)
    app.lambda_handler(s3_event("big.jpg"), lambda_context)  # no size in the record
    assert document_of(pipeline.notifications()[0])["bytes_in"] == len(JPEG)


def test_upload_failure_raises_so_lambda_retries(pipeline, lambda_context):
    """GIVEN a destination that cannot be written WHEN handled THEN the S3 error raises and no success is claimed."""
    event = pipeline.upload("a.jpg", JPEG)
    boto3.client("s3", region_name=REGION).delete_bucket(Bucket=DESTINATION)
    with pytest.raises(ClientError, match="NoSuchBucket"):
        app.lambda_handler(event, lambda_context)
    assert pipeline.notifications() == []  # no success claimed


def test_download_failure_raises_so_lambda_retries(pipeline, lambda_context, monkeypatch):
    """GIVEN S3 failing the GET with a 5xx WHEN handled THEN the error raises for a retry."""
    event = pipeline.upload("a.jpg", JPEG)

    def failing_get_object(**kwargs):
        raise ClientError({"Error": {"Code": "InternalError", "Message": "internal error"}}, "GetObject")

    monkeypatch.setattr(aws.s3(), "get_object", failing_get_object)
    with pytest.raises(ClientError, match="InternalError"):
        app.lambda_handler(event, lambda_context)


def test_a_transient_failure_does_not_stop_the_other_records(pipeline, lambda_context, monkeypatch):
    """GIVEN throttling on one record's write WHEN the event is handled THEN the other is done, then it raises."""
    pipeline.upload("a.jpg", JPEG)
    pipeline.upload("b.jpg", JPEG)
    real_put = aws.s3().put_object

    def put_failing_for_a(**kwargs):
        if kwargs["Key"] == "resized/a.jpg":
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate"}}, "PutObject")
        return real_put(**kwargs)

    monkeypatch.setattr(aws.s3(), "put_object", put_failing_for_a)
    with pytest.raises(ClientError, match="SlowDown"):
        app.lambda_handler(s3_event("a.jpg", "b.jpg"), lambda_context)
    assert destination_keys() == ["resized/b.jpg"]


def test_notification_failure_does_not_fail_the_invocation(pipeline, lambda_context, monkeypatch, caplog):
    """GIVEN a topic that no longer exists WHEN handled THEN the rendition stands, the error is logged."""
    monkeypatch.setenv("SNS_TOPIC_ARN", f"arn:aws:sns:{REGION}:123456789012:deleted-topic")
    clear_caches()
    event = pipeline.upload("a.jpg", JPEG)
    with caplog.at_level(logging.ERROR):
        result = app.lambda_handler(event, lambda_context)
    assert result["results"][0]["status"] == "success"
    assert destination_keys() == ["resized/a.jpg"]
    assert any("notification not sent" in record.getMessage() for record in caplog.records)


def test_same_event_twice_gives_the_same_object(pipeline, lambda_context):
    """GIVEN an event delivered twice WHEN both are handled THEN one identical rendition."""
    event = pipeline.upload("a.jpg", JPEG)
    app.lambda_handler(event, lambda_context)
    first = fetch("resized/a.jpg")[1]["Body"].read()
    app.lambda_handler(event, lambda_context)
    assert destination_keys() == ["resized/a.jpg"]
    assert fetch("resized/a.jpg")[1]["Body"].read() == first


def test_deleted_object_is_skipped(pipeline, lambda_context):
    """GIVEN a creation event whose object is already deleted WHEN handled THEN skipped, no notification."""
    event = pipeline.upload("gone.jpg", JPEG)
    boto3.client("s3", region_name=REGION).delete_object(Bucket=SOURCE, Key="gone.jpg")
    assert app.lambda_handler(event, lambda_context)["results"][0]["status"] == "skipped"
    assert pipeline.notifications() == []


def test_test_event_is_ignored(pipeline, lambda_context):
    """GIVEN S3's test event WHEN handled THEN nothing happens."""
    event = json.loads((EVENTS / "s3_test_event.json").read_text())
    assert app.lambda_handler(event, lambda_context) == {"results": []}


def test_one_json_log_line_per_record_with_request_id(pipeline, lambda_context, caplog):
    """GIVEN two records WHEN handled THEN one JSON line each, with the request id."""
    pipeline.upload("a.jpg", JPEG)
    pipeline.upload("b.txt", b"x")
    with caplog.at_level(logging.INFO, logger="image-processor"):
        app.lambda_handler(s3_event("a.jpg", "b.txt"), lambda_context)
    lines = log_lines(caplog)
    assert [(line["source_key"], line["message"], line["level"]) for line in lines] == [
        ("a.jpg", "success", "INFO"),
        ("b.txt", "skipped", "INFO"),
    ]
    assert {line["request_id"] for line in lines} == {lambda_context.aws_request_id}
    assert lines[0]["duration_ms"] >= 0 and lines[0]["version"] == 1


def test_event_from_the_destination_bucket_is_refused(pipeline, lambda_context):
    """GIVEN a record from the destination bucket WHEN handled THEN `misconfigured`, nothing written."""
    event = s3_event("resized/a.jpg")
    event["Records"][0]["s3"]["bucket"]["name"] = DESTINATION
    assert app.lambda_handler(event, lambda_context)["results"][0]["error_type"] == "misconfigured"
    assert destination_keys() == []


def test_cold_start_refuses_destination_equal_to_source(pipeline, lambda_context, monkeypatch):
    """GIVEN DESTINATION_BUCKET equal to SOURCE_BUCKET WHEN the container starts THEN a ConfigError."""
    monkeypatch.setenv("DESTINATION_BUCKET", SOURCE)
    clear_caches()
    with pytest.raises(ValueError, match="DESTINATION_BUCKET"):
        app.lambda_handler(s3_event("a.jpg"), lambda_context)


RENDITIONS = [
    {"name": "large", "width": 1200, "height": 900, "format": "webp"},
    {"name": "thumb", "width": 150, "height": 150, "fit": "cover"},
    {"name": "marked", "width": 400, "height": 300, "watermark": {"image_key": "brand/logo.png"}},
]


def test_named_renditions_are_all_written_and_listed(pipeline, lambda_context, monkeypatch):
    """GIVEN three named renditions WHEN an upload is handled THEN all are written and listed in the notification."""
    monkeypatch.setenv("RENDITIONS", json.dumps(RENDITIONS))
    clear_caches()
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=DESTINATION, Key="brand/logo.png", Body=encode(photo(100, 40).convert("RGBA"), "PNG"))
    event = pipeline.upload("photos/cat.png", encode(photo(2400, 1800), "PNG"))
    app.lambda_handler(event, lambda_context)
    expected = [
        "resized/large/photos/cat.png.webp",
        "resized/marked/photos/cat.png.jpg",
        "resized/thumb/photos/cat.png.jpg",
    ]
    assert sorted(key for key in destination_keys() if key.startswith("resized/")) == expected
    assert fetch("resized/large/photos/cat.png.webp")[1]["ContentType"] == "image/webp"
    assert fetch("resized/thumb/photos/cat.png.jpg")[0].size == (150, 150)
    summary = document_of(pipeline.notifications()[0])
    assert summary["status"] == "success"
    assert [(r["name"], r["key"], r["size"]) for r in summary["renditions"]] == [
        ("large", expected[0], [1200, 900]),
        ("thumb", expected[2], [150, 150]),
        ("marked", expected[1], [400, 300]),
    ]
    assert all(r["bytes"] > 0 for r in summary["renditions"])


def test_a_failed_rendition_is_named_and_the_others_are_kept(pipeline, lambda_context, monkeypatch):
    """GIVEN a rendition whose watermark is missing WHEN handled THEN the others are kept and the failure names it."""
    monkeypatch.setenv("RENDITIONS", json.dumps(RENDITIONS))  # no watermark image uploaded
    clear_caches()
    event = pipeline.upload("photos/cat.png", encode(photo(1200, 900), "PNG"))
    app.lambda_handler(event, lambda_context)
    assert sorted(destination_keys()) == ["resized/large/photos/cat.png.webp", "resized/thumb/photos/cat.png.jpg"]
    (notification,) = pipeline.notifications()
    summary = document_of(notification)
    assert summary["status"] == "failure" and summary["error_type"] == "rendition_failed"
    assert "'marked'" in summary["error_message"] and "brand/logo.png" in summary["error_message"]
    assert [r["name"] for r in summary["renditions"]] == ["large", "thumb"]


def test_bad_renditions_variable_fails_at_cold_start(pipeline, lambda_context, monkeypatch):
    """GIVEN a bad RENDITIONS variable WHEN the container starts THEN a ConfigError naming the entry."""
    monkeypatch.setenv("RENDITIONS", '[{"name": "x", "width": 10, "height": 10, "fit": "zoom"}]')
    clear_caches()
    with pytest.raises(ValueError, match=r"RENDITIONS entry 0 \(x\): fit"):
        app.lambda_handler(s3_event("a.jpg"), lambda_context)


def libjpeg_luminance_dc(quality: int) -> int:
    """The first entry of libjpeg's luminance table at `quality` (IJG scaling of the standard 16)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return max(1, (16 * scale + 50) // 100)


@pytest.mark.parametrize(
    "case",
    [({"RESIZE_WIDTH": "320", "RESIZE_HEIGHT": "200", "JPEG_QUALITY": "20"}, (267, 200), 20), ({}, (800, 600), 85)],
)
def test_resize_width_height_and_jpeg_quality_are_what_the_handler_uses(pipeline, lambda_context, monkeypatch, case):
    variables, size, quality = case
    # GIVEN the size and quality variables (none set means the defaults, 800x600 at 85)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    clear_caches()
    # WHEN a 1600x1200 photo is processed
    app.lambda_handler(pipeline.upload("a.jpg", JPEG), lambda_context)
    # THEN the rendition fits the box and was encoded at that quality (read back from its quantisation table)
    image, _ = fetch("resized/a.jpg")
    assert image.size == size
    assert image.quantization[0][0] == libjpeg_luminance_dc(quality)
