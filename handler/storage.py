"""S3 reads and writes of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from handler import aws
from handler.events import SourceObject
from handler.imaging import Rendition

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

# What S3 answers for a key or version that is not there (HEAD has no body, so just "404").
MISSING_OBJECT_CODES = ("NoSuchKey", "404", "NoSuchVersion")


def _cache_control(value: str) -> dict[str, Any]:
    return {"CacheControl": value} if value else {}


def _version(source: SourceObject) -> dict[str, Any]:
    return {"VersionId": source.version_id} if source.version_id else {}


@dataclass(frozen=True)
class Head:
    """What a HEAD request says of the object now under the event's key."""

    size: int
    etag: str
    version_id: str | None

    def is_version_of(self, source: SourceObject) -> bool:
        """True when the event names this very object, not an older one since overwritten."""
        if source.version_id and self.version_id:
            return source.version_id == self.version_id
        return source.etag is None or source.etag == self.etag


def head(source: SourceObject) -> Head | None:
    """The current object under the key (never a download), or None when there is none."""
    try:
        response = aws.s3().head_object(Bucket=source.bucket, Key=source.key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in MISSING_OBJECT_CODES:
            return None
        raise
    return Head(response["ContentLength"], response["ETag"].strip('"'), response.get("VersionId"))


def get(source: SourceObject) -> bytes:
    """Download the exact version named by the event when there is one."""
    response = aws.s3().get_object(Bucket=source.bucket, Key=source.key, **_version(source))
    return response["Body"].read()


def read(bucket: str, key: str) -> bytes:
    """Download an object the function uses itself (a watermark image)."""
    return aws.s3().get_object(Bucket=bucket, Key=key)["Body"].read()


def delete(bucket: str, keys: list[str]) -> None:
    """Delete renditions (keys that do not exist are fine)."""
    for start in range(0, len(keys), 1000):
        batch: list[ObjectIdentifierTypeDef] = [{"Key": key} for key in keys[start : start + 1000]]
        aws.s3().delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def put(bucket: str, key: str, source: SourceObject, rendition: Rendition, cache_control: str = "") -> None:
    """Write a rendition with its content type and metadata naming where it came from."""
    metadata = {
        # S3 metadata travels as HTTP headers, so the key is percent-encoded to stay ASCII.
        "source-key": quote(source.key, safe="/"),
        "source-bucket": source.bucket,
        "source-etag": source.etag or "",
        "rendition": rendition.spec.name or "default",
        "source-version": source.version_id or "",
        "original-width": str(rendition.original_size[0]),
        "original-height": str(rendition.original_size[1]),
        "width": str(rendition.size[0]),
        "height": str(rendition.size[1]),
    }
    aws.s3().put_object(
        Bucket=bucket,
        Key=key,
        Body=rendition.data,
        ContentType=rendition.content_type,
        Metadata=metadata,
        **_cache_control(cache_control),
    )
