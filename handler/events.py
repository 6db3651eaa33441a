"""S3 event records -> the objects to process, with keys URL-decoded as S3 encodes them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus


@dataclass(frozen=True)
class SourceObject:
    """One object named by an S3 ObjectCreated or ObjectRemoved record."""

    bucket: str
    key: str
    etag: str | None
    version_id: str | None
    removed: bool = False


def s3_objects(event: Mapping[str, Any]) -> Iterator[SourceObject]:
    """Yield the object of every ObjectCreated and ObjectRemoved record; test events and others are skipped."""
    for record in event.get("Records", []):
        name = str(record.get("eventName", ""))
        if not name.startswith(("ObjectCreated:", "ObjectRemoved:")):
            continue
        s3 = record.get("s3", {})
        obj = s3.get("object", {})
        yield SourceObject(
            bucket=s3["bucket"]["name"],
            key=unquote_plus(obj["key"]),
            etag=obj.get("eTag"),
            version_id=obj.get("versionId"),
            removed=name.startswith("ObjectRemoved:"),
        )
