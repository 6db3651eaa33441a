"""S3 reads and writes of the pipeline, and which S3 errors a retry could fix."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from handler import aws

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

# What S3 answers for a key or version that is not there (HEAD has no body, so just "404").
MISSING_OBJECT_CODES = ("NoSuchKey", "404", "NoSuchVersion")
# The object changed since we looked (If-Match on GET).
CHANGED_CODES = ("PreconditionFailed", "412")
# Errors no retry can fix: the request itself is refused.
PERMANENT_CODES = (
    "KeyTooLongError",
    "MetadataTooLarge",
    "InvalidArgument",
    "AccessDenied",
    "InvalidObjectName",
    "EntityTooLarge",
    "InvalidRequest",
    "403",
)
# S3 allows 2 KB of user metadata (names and values); the source key is the only unbounded value.
MAX_SOURCE_KEY_METADATA = 1024


class PartialDelete(Exception):
    """DeleteObjects reported per-key errors inside its 200 response."""


def error_code(error: ClientError) -> str:
    """The S3 error code of a ClientError."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_permanent(error: ClientError) -> bool:
    """True for an S3 error a retry cannot fix (it ends in a failure notification instead)."""
    return error_code(error) in PERMANENT_CODES


@dataclass(frozen=True)
class Head:
    """The object now under a key: enough to tell one version from another."""

    size: int
    etag: str
    version_id: str | None

    @property
    def identity(self) -> tuple[str, str | None]:
        """What makes this version this version (the ETag, and the version id when versioned)."""
        return self.etag, self.version_id


def head(bucket: str, key: str) -> Head | None:
    """The current object under the key (never a download), or None when there is none."""
    try:
        response = aws.s3().head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in MISSING_OBJECT_CODES:
            return None
        raise
    version = response.get("VersionId")
    return Head(response["ContentLength"], response["ETag"].strip('"'), None if version in (None, "null") else version)


def get(bucket: str, key: str, seen: Head) -> bytes | None:
    """Download exactly the version HEAD saw; None when it is gone or was replaced since."""
    condition: dict[str, Any] = {"VersionId": seen.version_id} if seen.version_id else {"IfMatch": f'"{seen.etag}"'}
    try:
        response = aws.s3().get_object(Bucket=bucket, Key=key, **condition)
    except ClientError as error:
        if error_code(error) in MISSING_OBJECT_CODES + CHANGED_CODES:
            return None
        raise
    data: bytes = response["Body"].read()
    return data


def read(bucket: str, key: str) -> bytes:
    """Download an object the function uses itself (a watermark image)."""
    data: bytes = aws.s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def held_earlier_object(bucket: str, key: str, seen: Head) -> bool:
    """Whether the key may have held an object before `seen` (so a CDN may cache renditions of it).

    A versioned bucket answers with one small listing of the SOURCE (never the destination, which the
    role may not read): another version or a delete marker of the key. An unversioned bucket keeps no
    trace, and a role without s3:ListBucketVersions gets 403: both count as yes, since an extra
    invalidation costs little and a missed one serves a stale picture.
    """
    if seen.version_id is None:
        return True
    try:
        # Versions and delete markers come ordered by key, newest first: the key's own come first.
        listing = aws.s3().list_object_versions(Bucket=bucket, Prefix=key, MaxKeys=2)
    except ClientError as error:
        if error_code(error) in ("403", "AccessDenied"):
            return True
        raise
    entries = [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
    return sum(entry.get("Key") == key for entry in entries) > 1


def delete(bucket: str, keys: Sequence[str]) -> None:
    """Delete objects (absent keys are fine); a per-key error raises PartialDelete."""
    for start in range(0, len(keys), 1000):
        batch: list[ObjectIdentifierTypeDef] = [{"Key": key} for key in keys[start : start + 1000]]
        errors = aws.s3().delete_objects(Bucket=bucket, Delete={"Objects": batch}).get("Errors")
        if errors:
            first = errors[0]
            raise PartialDelete(
                f"{len(errors)} of {len(batch)} deletions failed, first {first.get('Key')}: "
                f"{first.get('Code')} {first.get('Message')}"
            )


def source_metadata(bucket: str, key: str, seen: Head) -> dict[str, str]:
    """Metadata naming the source version a rendition was made from, always within S3's 2 KB.

    The key travels percent-encoded (headers are ASCII); beyond 1024 characters it is cut and
    `source-key-sha256` identifies it instead.
    """
    encoded = quote(key)
    metadata = {
        "source-bucket": bucket,
        "source-key": encoded[:MAX_SOURCE_KEY_METADATA],
        "source-etag": seen.etag,
        "source-version": seen.version_id or "",
    }
    if len(encoded) > MAX_SOURCE_KEY_METADATA:
        metadata["source-key-sha256"] = hashlib.sha256(key.encode()).hexdigest()
    return metadata


def put(
    bucket: str, key: str, *, data: bytes, content_type: str, metadata: Mapping[str, str], cache_control: str
) -> None:
    """Write one rendition (Cache-Control only when configured)."""
    extra: dict[str, Any] = {"CacheControl": cache_control} if cache_control else {}
    aws.s3().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type, Metadata=dict(metadata), **extra)
