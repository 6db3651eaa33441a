"""Deletion sync and event ordering on moto: no resurrected images, no stale renditions."""

from __future__ import annotations

import json

import boto3
import pytest

from handler import app
from local.samples import encode, photo
from tests.conftest import REGION, SOURCE, clear_caches
from tests.handler.test_app import destination_keys, fetch

FIRST = encode(photo(1200, 900), "JPEG")
SECOND = encode(photo(900, 1200), "JPEG")  # portrait: its renditions are told apart by size


@pytest.fixture(params=["unversioned", "versioned"])
def source_versioning(request, pipeline):
    if request.param == "versioned":
        boto3.client("s3", region_name=REGION).put_bucket_versioning(
            Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"}
        )
    return pipeline


def test_deleting_the_source_deletes_every_rendition(pipeline, lambda_context, monkeypatch):
    """GIVEN an upload with two renditions WHEN its source is deleted THEN both renditions go."""
    monkeypatch.setenv(
        "RENDITIONS",
        json.dumps(
            [
                {"name": "large", "width": 1000, "height": 1000, "format": "webp"},
                {"name": "thumb", "width": 100, "height": 100, "format": "auto"},
            ]
        ),
    )
    clear_caches()
    app.lambda_handler(pipeline.upload("a/cat.png", FIRST), lambda_context)
    assert sorted(destination_keys()) == ["resized/large/a/cat.png.webp", "resized/thumb/a/cat.png.jpg"]
    result = app.lambda_handler(pipeline.delete("a/cat.png"), lambda_context)["results"][0]
    assert result["status"] == "deleted"
    assert destination_keys() == []


def test_a_late_creation_event_does_not_resurrect_a_deleted_image(source_versioning, lambda_context):
    """GIVEN upload then delete, removal handled first WHEN the creation event arrives last THEN nothing is written."""
    created = source_versioning.upload("cat.jpg", FIRST)
    removed = source_versioning.delete("cat.jpg")
    app.lambda_handler(removed, lambda_context)
    result = app.lambda_handler(created, lambda_context)["results"][0]  # arrives last
    assert result["status"] == "skipped"
    assert destination_keys() == []


def test_a_late_removal_does_not_delete_a_newer_upload(source_versioning, lambda_context):
    """GIVEN upload, delete, upload again WHEN the removal arrives last THEN the new upload's rendition stays."""
    source_versioning.upload("cat.jpg", FIRST)
    removed = source_versioning.delete("cat.jpg")
    created_again = source_versioning.upload("cat.jpg", SECOND)
    app.lambda_handler(created_again, lambda_context)
    result = app.lambda_handler(removed, lambda_context)["results"][0]  # arrives last
    assert (result["status"], result["reason"]) == ("skipped", "the key holds an object again")
    assert fetch("resized/cat.jpg")[0].size == (450, 600)


def test_a_late_event_of_an_overwritten_object_keeps_the_newer_rendition(source_versioning, lambda_context):
    """GIVEN two uploads under one key WHEN the older event arrives last THEN the newer rendition stays."""
    first = source_versioning.upload("cat.jpg", FIRST)
    second = source_versioning.upload("cat.jpg", SECOND)
    app.lambda_handler(second, lambda_context)
    result = app.lambda_handler(first, lambda_context)["results"][0]  # arrives last
    assert result["status"] == "skipped"
    image, response = fetch("resized/cat.jpg")
    assert image.size == (450, 600)
    assert response["Metadata"]["source-etag"] == second["Records"][0]["s3"]["object"]["eTag"]


def test_in_order_overwrite_replaces_the_rendition(source_versioning, lambda_context):
    """GIVEN an overwrite handled in order WHEN both events are handled THEN the rendition is the newer picture."""
    app.lambda_handler(source_versioning.upload("cat.jpg", FIRST), lambda_context)
    assert fetch("resized/cat.jpg")[0].size == (800, 600)
    app.lambda_handler(source_versioning.upload("cat.jpg", SECOND), lambda_context)
    assert fetch("resized/cat.jpg")[0].size == (450, 600)
    assert destination_keys() == ["resized/cat.jpg"]
