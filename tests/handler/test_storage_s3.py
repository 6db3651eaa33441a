"""The S3 calls one by one, on moto: versions, earlier objects, batched deletes, metadata limits, writes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from handler import aws, storage
from tests.conftest import REGION, clear_caches

BUCKET = "image-processor-source-test-123456789012"


@pytest.fixture
def s3(aws_credentials: None) -> Iterator[Any]:
    """An empty mocked bucket, and a client of it the test writes with."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        clear_caches()
        yield client
    clear_caches()


def versioned(s3: Any, status: str = "Enabled") -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": status})


def refuse(monkeypatch: pytest.MonkeyPatch, operation: str, code: str) -> None:
    """Make the handler's S3 client answer `operation` with the error `code`."""

    def refused(**kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, operation)

    monkeypatch.setattr(aws.s3(), operation, refused)


def test_head_sees_size_and_etag_and_no_head_of_a_missing_key(s3):
    s3.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"first")
    assert storage.head(BUCKET, "a.jpg") == storage.Head(5, hashlib.md5(b"first").hexdigest(), None)
    assert storage.head(BUCKET, "b.jpg") is None


def test_an_object_written_while_versioning_was_suspended_has_no_version(s3, monkeypatch):
    # GIVEN a bucket whose versioning is suspended: S3 calls the new object's version "null" (moto leaves it out)
    versioned(s3, "Suspended")
    s3.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"first")
    real = aws.s3().head_object
    monkeypatch.setattr(aws.s3(), "head_object", lambda **kwargs: {**real(**kwargs), "VersionId": "null"})
    # THEN HEAD reports no version, so reads use the ETag
    seen = storage.head(BUCKET, "a.jpg")
    assert seen is not None and seen.version_id is None
    assert storage.get(BUCKET, "a.jpg", seen) == b"first"


def test_a_transient_head_error_is_raised_for_a_retry(s3, monkeypatch):
    refuse(monkeypatch, "head_object", "503")
    with pytest.raises(ClientError, match="503"):
        storage.head(BUCKET, "a.jpg")


def test_get_of_a_version_deleted_since_head_is_none(s3):
    versioned(s3)
    s3.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"first")
    seen = storage.head(BUCKET, "a.jpg")
    assert seen is not None
    s3.delete_object(Bucket=BUCKET, Key="a.jpg", VersionId=seen.version_id)
    assert storage.get(BUCKET, "a.jpg", seen) is None


def test_read_returns_the_object(s3):
    s3.put_object(Bucket=BUCKET, Key="watermarks/logo.png", Body=b"logo")
    assert storage.read(BUCKET, "watermarks/logo.png") == b"logo"


def seen_now(key: str) -> storage.Head:
    seen = storage.head(BUCKET, key)
    assert seen is not None
    return seen


def test_a_first_version_held_nothing_earlier_and_a_second_did(s3):
    # GIVEN a versioned bucket with a neighbour key that shares the prefix, and a key listed before it
    versioned(s3)
    s3.put_object(Bucket=BUCKET, Key="a.jpg.png", Body=b"neighbour")
    for body in (b"one", b"two"):
        s3.put_object(Bucket=BUCKET, Key="0.jpg", Body=body)
    s3.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"first")
    # THEN the first upload of a.jpg had nothing before it (the neighbour does not count)
    assert storage.held_earlier_object(BUCKET, "a.jpg", seen_now("a.jpg")) is False
    # AND the next one did
    s3.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"second")
    assert storage.held_earlier_object(BUCKET, "a.jpg", seen_now("a.jpg")) is True


def test_an_upload_after_a_deletion_held_an_earlier_object(s3):
    versioned(s3)
    s3.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"first")
    s3.delete_object(Bucket=BUCKET, Key="a.jpg")
    # GIVEN the only version is gone for good, but its delete marker stays
    for version in s3.list_object_versions(Bucket=BUCKET)["Versions"]:
        s3.delete_object(Bucket=BUCKET, Key="a.jpg", VersionId=version["VersionId"])
    s3.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"again")
    assert storage.held_earlier_object(BUCKET, "a.jpg", seen_now("a.jpg")) is True


def test_an_object_deleted_for_good_since_head_held_nothing_earlier(s3):
    versioned(s3)
    s3.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"first")
    seen = seen_now("a.jpg")
    s3.delete_object(Bucket=BUCKET, Key="a.jpg", VersionId=seen.version_id)
    assert storage.held_earlier_object(BUCKET, "a.jpg", seen) is False


def test_without_versions_or_permission_to_list_them_any_object_may_have_come_before(s3, monkeypatch):
    s3.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"first")
    assert storage.held_earlier_object(BUCKET, "a.jpg", seen_now("a.jpg")) is True  # unversioned: no trace
    versioned(s3)
    s3.put_object(Bucket=BUCKET, Key="b.jpg", Body=b"first")
    seen = seen_now("b.jpg")
    for code in ("403", "AccessDenied"):
        refuse(monkeypatch, "list_object_versions", code)
        assert storage.held_earlier_object(BUCKET, "b.jpg", seen) is True


def test_a_transient_listing_error_is_raised_for_a_retry(s3, monkeypatch):
    versioned(s3)
    s3.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"first")
    seen = seen_now("a.jpg")
    refuse(monkeypatch, "list_object_versions", "SlowDown")
    with pytest.raises(ClientError, match="SlowDown"):
        storage.held_earlier_object(BUCKET, "a.jpg", seen)


def test_deleting_1001_keys_takes_two_requests_and_deletes_every_key(s3, monkeypatch):
    # GIVEN objects under the first and the last of 1001 keys (the others absent, which S3 allows)
    keys = [f"resized/{number:04}.jpg" for number in range(1001)]
    for key in (keys[0], keys[999], keys[1000]):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    real = aws.s3().delete_objects
    sizes: list[int] = []

    def counted(**kwargs: Any) -> Any:
        sizes.append(len(kwargs["Delete"]["Objects"]))
        assert len(sizes) <= 2, "one request per 1000 keys"
        return real(**kwargs)

    monkeypatch.setattr(aws.s3(), "delete_objects", counted)
    # WHEN they are deleted THEN S3 got at most 1000 keys a request, and nothing is left
    storage.delete(BUCKET, keys)
    assert sizes == [1000, 1]
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_a_per_key_delete_error_names_the_key_the_code_and_s3s_message(s3, monkeypatch):
    errors = [
        {"Key": "resized/a.jpg", "Code": "AccessDenied", "Message": "Access Denied"},
        {"Key": "resized/b.jpg", "Code": "InternalError", "Message": "We encountered an internal error"},
    ]
    monkeypatch.setattr(aws.s3(), "delete_objects", lambda **kwargs: {"Errors": errors})
    with pytest.raises(storage.PartialDelete) as raised:
        storage.delete(BUCKET, ["resized/a.jpg", "resized/b.jpg", "resized/c.jpg"])
    assert str(raised.value) == "2 of 3 deletions failed, first resized/a.jpg: AccessDenied Access Denied"


def test_metadata_of_an_unversioned_source_has_an_empty_version():
    metadata = storage.source_metadata(BUCKET, "photos/a b.jpg", storage.Head(1, "abc", None))
    assert metadata == {
        "source-bucket": BUCKET,
        "source-key": "photos/a%20b.jpg",
        "source-etag": "abc",
        "source-version": "",
    }


def test_a_key_of_exactly_1024_encoded_characters_travels_whole():
    key = "k" * storage.MAX_SOURCE_KEY_METADATA
    metadata = storage.source_metadata(BUCKET, key, storage.Head(1, "abc", "v1"))
    assert metadata["source-key"] == key and "source-key-sha256" not in metadata


def test_a_longer_key_is_cut_and_identified_by_its_hash():
    key = "é" * 200  # 1200 characters once percent-encoded
    metadata = storage.source_metadata(BUCKET, key, storage.Head(1, "abc", "v1"))
    assert metadata["source-key"] == "%C3%A9" * 170 + "%C3%"
    assert metadata["source-key-sha256"] == hashlib.sha256(key.encode()).hexdigest()


@pytest.mark.parametrize(("cache_control", "expected"), [("max-age=60", "max-age=60"), ("", None)])
def test_put_writes_type_metadata_and_cache_control_only_when_configured(s3, cache_control, expected):
    storage.put(
        BUCKET,
        "resized/a.jpg",
        data=b"jpeg",
        content_type="image/jpeg",
        metadata={"width": "8"},
        cache_control=cache_control,
    )
    written = s3.head_object(Bucket=BUCKET, Key="resized/a.jpg")
    assert (written["ContentType"], written["Metadata"], written.get("CacheControl")) == (
        "image/jpeg",
        {"width": "8"},
        expected,
    )


@pytest.mark.parametrize("response", [{}, {"Error": {"Message": "no code"}}])
def test_an_error_without_a_code_has_an_empty_code_and_is_retried(response):
    error = ClientError(response, "GetObject")
    assert storage.error_code(error) == ""
    assert storage.is_permanent(error) is False
