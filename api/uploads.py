"""POST /uploads: check what the caller wants to upload and hand out a presigned POST for a key we choose."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from api import aws
from api.auth import Caller
from api.http import ApiError
from api.settings import ApiSettings

MAX_FILENAME = 255


@dataclass(frozen=True)
class UploadRequest:
    """What the caller declares: the file's name (informative only), its content type and exact size."""

    filename: str
    content_type: str
    size: int


def parse(body: Mapping[str, Any], settings: ApiSettings) -> UploadRequest:
    """The declared upload, or a 400 (malformed), 413 (too large) or 415 (type not allowed)."""
    filename, content_type, size = body.get("filename"), body.get("contentType"), body.get("size")
    if not isinstance(filename, str) or not 0 < len(filename) <= MAX_FILENAME:
        raise ApiError(400, "invalid_request", f"filename must be a string of 1 to {MAX_FILENAME} characters")
    if any(unicodedata.category(character).startswith("C") for character in filename):
        raise ApiError(400, "invalid_request", "filename must not contain control characters")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ApiError(400, "invalid_request", "size must be the file's size in bytes, a positive integer")
    if size > settings.max_input_bytes:
        raise ApiError(413, "too_large", f"size {size} is above the limit of {settings.max_input_bytes} bytes")
    if not isinstance(content_type, str) or content_type.lower() not in settings.content_types:
        allowed = ", ".join(settings.content_types)
        raise ApiError(415, "unsupported_media_type", f"contentType must be one of {allowed}, got {content_type!r}")
    return UploadRequest(filename, content_type.lower(), size)


def presign(
    caller: Caller, request: UploadRequest, settings: ApiSettings, now: datetime | None = None
) -> dict[str, Any]:
    """A presigned POST whose policy admits exactly this caller's new key, content type and size."""
    image_key = uuid.uuid4().hex + settings.content_types[request.content_type]
    expires_at = (now or datetime.now(UTC)) + timedelta(seconds=settings.upload_expiry_seconds)
    form = aws.s3(settings.transfer_acceleration).generate_presigned_post(
        Bucket=settings.source_bucket,
        Key=caller.prefix + image_key,
        Fields={"Content-Type": request.content_type},
        Conditions=[{"Content-Type": request.content_type}, ["content-length-range", request.size, request.size]],
        ExpiresIn=settings.upload_expiry_seconds,
    )
    return {
        "key": image_key,
        "filename": request.filename,
        "upload": {"url": form["url"], "method": "POST", "fields": form["fields"]},
        "expiresAt": expires_at.isoformat(timespec="seconds"),
    }
