"""CloudFront invalidation of replaced and deleted renditions (moto)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from handler import app, aws, cdn, storage
from local.samples import encode, photo
from tests.conftest import REGION, clear_caches

JPEG = encode(photo(400, 300), "JPEG")


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
    clear_caches()
    return distribution_id


def invalidated(distribution_id: str) -> list[list[str]]:
    """The paths of every invalidation of the distribution, oldest first."""
    client = boto3.client("cloudfront", region_name=REGION)
    summaries = client.list_invalidations(DistributionId=distribution_id)["InvalidationList"].get("Items", [])
    batches = [
        client.get_invalidation(DistributionId=distribution_id, Id=summary["Id"])["Invalidation"]["InvalidationBatch"]
        for summary in summaries
    ]
    return sorted(batch["Paths"]["Items"] for batch in batches)


def test_a_new_rendition_needs_no_invalidation(distribution, pipeline, lambda_context):
    app.lambda_handler(pipeline.upload("a b.jpg", JPEG), lambda_context)
    assert invalidated(distribution) == []


def test_overwritten_and_deleted_renditions_are_invalidated(distribution, pipeline, lambda_context):
    # GIVEN a rendered image
    app.lambda_handler(pipeline.upload("a b.jpg", JPEG), lambda_context)
    # WHEN it is overwritten, and later deleted
    app.lambda_handler(pipeline.upload("a b.jpg", encode(photo(300, 400), "JPEG")), lambda_context)
    app.lambda_handler(pipeline.delete("a b.jpg"), lambda_context)
    # THEN each time the cached copy of its rendition path is invalidated
    assert invalidated(distribution) == [["/resized/a%20b.jpg"], ["/resized/a%20b.jpg"]]


def test_paths_are_percent_encoded_and_unique():
    assert cdn.paths(["resized/é.jpg", "resized/é.jpg", "resized/a+b.jpg"]) == [
        "/resized/%C3%A9.jpg",
        "/resized/a%2Bb.jpg",
    ]


def test_no_distribution_no_call():
    assert cdn.invalidate("", ["resized/a.jpg"], "request") is None


def test_without_list_permission_a_rendition_counts_as_existing(pipeline, monkeypatch):
    # GIVEN S3 answering 403 for a missing key (no s3:ListBucket on the destination)
    def forbidden(**kwargs):
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")

    monkeypatch.setattr(aws.s3(), "head_object", forbidden)
    # THEN the key is invalidated rather than assumed absent
    assert storage.existing("bucket", ["resized/a.jpg"]) == ["resized/a.jpg"]
