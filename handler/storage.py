"""S3 reads and writes of the pipeline."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from handler import aws
from handler.events import SourceObject
from handler.imaging import Rendition


def _version(source: SourceObject) -> dict[str, Any]:
    return {"VersionId": source.version_id} if source.version_id else {}


def object_size(source: SourceObject) -> int:
    """The object's size: from the event when S3 sent it, else from a HEAD request (never a download)."""
    if source.size is not None:
        return source.size
    return aws.s3().head_object(Bucket=source.bucket, Key=source.key, **_version(source))["ContentLength"]


def get(source: SourceObject) -> bytes:
    """Download the exact version named by the event when there is one."""
    response = aws.s3().get_object(Bucket=source.bucket, Key=source.key, **_version(source))
    return response["Body"].read()


def read(bucket: str, key: str) -> bytes:
    """Download an object the function uses itself (a watermark image)."""
    return aws.s3().get_object(Bucket=bucket, Key=key)["Body"].read()


def put(bucket: str, key: str, source: SourceObject, rendition: Rendition) -> None:
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
    )
