"""CloudFront invalidation of replaced and deleted renditions, without a request to the destination (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from handler import app, aws, cdn
from local.samples import encode, photo
from tests.conftest import DESTINATION, REGION, SOURCE, clear_caches

JPEG = encode(photo(400, 300), "JPEG")
# Two renditions, one of format `auto` (it may be written as JPEG or PNG: both paths are the key's).
RENDITIONS = [
    {"name": "thumb", "width": 64, "height": 64},
    {"name": "web", "width": 200, "height": 150, "format": "auto"},
]
PATHS = ["/resized/thumb/a%20b.jpg", "/resized/web/a%20b.jpg", "/resized/web/a%20b.jpg.png"]


@pytest.fixture
def distribution(pipeline, monkeypatch) -> str:
    """A CloudFront distribution in front of the destination bucket, named to the handler."""
    config = {
        "CallerReference": "image-processor-test",
        "Origins": {"Quantity": 1, "Items": [{"Id": "renditions", "DomainName": "d.s3.amazonaws.com"}]},
        "DefaultCacheBehavior": {"TargetOriginId": "renditions", "ViewerProtocolPolicy": "redirect-to-https"},
        "Comment": "",
        "Enabled": True,
    }
    distribution_id = boto3.client("cloudfront", region_name=REGION).create_distribution(DistributionConfig=config)[
        "Distribution"
    ]["Id"]
    monkeypatch.setenv("CDN_DISTRIBUTION_ID", distribution_id)
    monkeypatch.setenv("RENDITIONS", json.dumps(RENDITIONS))
    clear_caches()
    return distribution_id


@pytest.fixture
def versioned(pipeline) -> None:
    """The source bucket versioned, as the program deploys it."""
    boto3.client("s3", region_name=REGION).put_bucket_versioning(
        Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"}
    )


@pytest.fixture
def destination_requests(distribution) -> Iterator[list[str]]:
    """The S3 operations the handler sends to the destination bucket (recorded on its own client)."""
    seen: list[str] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if params.get("Bucket") == DESTINATION:
            seen.append(model.name)

    aws.s3().meta.events.register("provide-client-params.s3.*", record)
    yield seen


def invalidated(distribution_id: str) -> list[list[str]]:
    """The paths of every invalidation of the distribution, oldest first."""
    client = boto3.client("cloudfront", region_name=REGION)
    summaries = client.list_invalidations(DistributionId=distribution_id)["InvalidationList"].get("Items", [])
    batches = [
        client.get_invalidation(DistributionId=distribution_id, Id=summary["Id"])["Invalidation"]
        for summary in summaries
    ]
    return [sorted(b["InvalidationBatch"]["Paths"]["Items"]) for b in sorted(batches, key=lambda b: b["CreateTime"])]


def test_versioned_source_first_upload_needs_no_invalidation_and_the_destination_is_only_written(
    versioned, distribution, destination_requests, pipeline, lambda_context
):
    # GIVEN a versioned source and a CDN WHEN a key is uploaded for the first time
    result = app.lambda_handler(pipeline.upload("a b.jpg", JPEG), lambda_context)
    assert [r["status"] for r in result["results"]] == ["success"]
    # THEN nothing is invalidated (the key held nothing before)
    assert invalidated(distribution) == []
    # AND the destination was only written: no HEAD, GET or listing (the role may not read it)
    assert set(destination_requests) == {"PutObject", "DeleteObjects"}


def test_versioned_source_overwrite_and_delete_invalidate_every_rendition_path_once(
    versioned, distribution, destination_requests, pipeline, lambda_context
):
    # GIVEN a rendered image in a versioned source
    app.lambda_handler(pipeline.upload("a b.jpg", JPEG), lambda_context)
    # WHEN it is overwritten, and later deleted
    app.lambda_handler(pipeline.upload("a b.jpg", encode(photo(300, 400), "JPEG")), lambda_context)
    app.lambda_handler(pipeline.delete("a b.jpg"), lambda_context)
    # THEN each record made one invalidation of every rendition path the key has, percent-encoded
    assert invalidated(distribution) == [PATHS, PATHS]
    assert set(destination_requests) == {"PutObject", "DeleteObjects"}


def test_an_upload_after_a_delete_is_invalidated(versioned, distribution, pipeline, lambda_context):
    # GIVEN a key uploaded, deleted (a delete marker), and uploaded again
    app.lambda_handler(pipeline.upload("a b.jpg", JPEG), lambda_context)
    app.lambda_handler(pipeline.delete("a b.jpg"), lambda_context)
    # WHEN the new upload is handled
    app.lambda_handler(pipeline.upload("a b.jpg", JPEG), lambda_context)
    # THEN it is invalidated too (a cached "not found" or picture of the old object must go)
    assert invalidated(distribution) == [PATHS, PATHS]


def test_another_key_sharing_the_prefix_is_no_earlier_object(versioned, distribution, pipeline, lambda_context):
    # GIVEN keys that start with the uploaded key, each with several versions
    for _ in range(2):
        pipeline.upload("a b.jpg.bak", b"not an image")
        pipeline.upload("a b.jpg0", b"not an image")
    # WHEN "a b.jpg" is uploaded for the first time
    app.lambda_handler(pipeline.upload("a b.jpg", JPEG), lambda_context)
    # THEN their versions do not count as earlier objects of "a b.jpg"
    assert invalidated(distribution) == []


def test_unversioned_source_invalidates_every_write(distribution, pipeline, lambda_context):
    # GIVEN an unversioned source: nothing tells a first upload from an overwrite
    # WHEN a key is uploaded for the first time
    app.lambda_handler(pipeline.upload("a b.jpg", JPEG), lambda_context)
    # THEN its paths are invalidated anyway (docs/events.md: the cost of not reading the destination)
    assert invalidated(distribution) == [PATHS]


def test_without_permission_to_list_versions_every_write_is_invalidated(
    versioned, distribution, pipeline, lambda_context, monkeypatch
):
    # GIVEN a role without s3:ListBucketVersions on the source
    def forbidden(**kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectVersions")

    monkeypatch.setattr(aws.s3(), "list_object_versions", forbidden)
    # WHEN a first upload is handled
    result = app.lambda_handler(pipeline.upload("a b.jpg", JPEG), lambda_context)
    # THEN it still succeeds, and its paths are invalidated rather than assumed new
    assert [r["status"] for r in result["results"]] == ["success"]
    assert invalidated(distribution) == [PATHS]


def test_a_write_failing_midway_still_invalidates_what_it_replaced(
    versioned, distribution, pipeline, lambda_context, monkeypatch
):
    # GIVEN a rendered image, overwritten, and S3 throttling the second rendition's write
    app.lambda_handler(pipeline.upload("a b.jpg", JPEG), lambda_context)
    event = pipeline.upload("a b.jpg", encode(photo(300, 400), "JPEG"))
    put, calls = aws.s3().put_object, []

    def throttled(**kwargs: Any) -> Any:
        calls.append(kwargs["Key"])
        if len(calls) == 2:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate"}}, "PutObject")
        return put(**kwargs)

    monkeypatch.setattr(aws.s3(), "put_object", throttled)
    # WHEN the overwrite is handled (and raises, to be retried)
    with pytest.raises(ClientError):
        app.lambda_handler(event, lambda_context)
    # THEN the rendition already replaced is invalidated all the same
    assert invalidated(distribution) == [PATHS]


def test_paths_are_percent_encoded_and_unique():
    assert cdn.paths(["resized/é.jpg", "resized/é.jpg", "resized/a+b.jpg"]) == [
        "/resized/%C3%A9.jpg",
        "/resized/a%2Bb.jpg",
    ]


def test_no_distribution_no_call():
    assert cdn.invalidate("", ["resized/a.jpg"], "request") is None


def test_a_retried_invocation_asks_for_the_same_invalidation(distribution, pipeline, lambda_context):
    # GIVEN an upload handled twice by one invocation (Lambda retries an event with its request id)
    event = pipeline.upload("a b.jpg", JPEG)
    for _ in range(2):
        app.lambda_handler(event, lambda_context)
    # THEN both asked with the same caller reference, made of the request id: CloudFront does the work once
    client = boto3.client("cloudfront", region_name=REGION)
    summaries = client.list_invalidations(DistributionId=distribution)["InvalidationList"]["Items"]
    references = {
        client.get_invalidation(DistributionId=distribution, Id=summary["Id"])["Invalidation"]["InvalidationBatch"][
            "CallerReference"
        ]
        for summary in summaries
    }
    (reference,) = references
    assert reference.startswith(f"{lambda_context.aws_request_id}-")
