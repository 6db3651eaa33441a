"""GET and DELETE /images/{key}: status and rendition URLs from the processing history; deletion."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from api import aws
from api.auth import Caller
from api.http import ApiError
from api.settings import ApiSettings

# Exactly what POST /uploads hands out: anything else cannot be an upload of this API.
_IMAGE_KEY = re.compile(r"[0-9a-f]{32}\.[a-z]{3,4}")


def source_key(caller: Caller, image_key: str) -> str:
    """The caller's own object for `image_key`: the key is always resolved inside their prefix."""
    if not _IMAGE_KEY.fullmatch(image_key):
        raise ApiError(400, "invalid_key", "the key must be one returned by POST /uploads")
    return caller.prefix + image_key


def status(caller: Caller, image_key: str, settings: ApiSettings) -> dict[str, Any]:
    """The image's latest processing outcome and URLs of its renditions, or a 404."""
    item = _history(caller, image_key, settings)
    summary = json.loads(item.get("summary", {}).get("S", "{}"))
    result: dict[str, Any] = {"key": image_key, "status": item["status"]["S"], "updatedAt": item["updated_at"]["S"]}
    if summary.get("error_type"):
        result["error"] = {"type": summary["error_type"], "message": summary.get("error_message", "")}
    if result["status"] == "success":
        result["renditions"] = [
            {"name": name, "size": size, "format": output_format, "url": _url(key, settings)}
            for name, key, size, output_format in _renditions(summary)
        ]
    return result


def delete(caller: Caller, image_key: str, settings: ApiSettings) -> dict[str, Any]:
    """Delete the caller's upload; the image function then deletes its renditions (ObjectRemoved)."""
    _history(caller, image_key, settings)
    aws.s3().delete_object(Bucket=settings.source_bucket, Key=source_key(caller, image_key))
    return {"key": image_key, "status": "deleting"}


def _history(caller: Caller, image_key: str, settings: ApiSettings) -> dict[str, Any]:
    key = source_key(caller, image_key)
    response = aws.dynamodb().get_item(
        TableName=settings.history_table, Key={"source_key": {"S": key}}, ConsistentRead=True
    )
    if "Item" not in response:
        # Also the answer for another caller's key: their upload is not in this caller's prefix.
        raise ApiError(404, "not_found", "no processed upload with this key (processing takes a few seconds)")
    return dict(response["Item"])


def _renditions(summary: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """(name, key, size, format) of an outcome's renditions; the single default one names only its key."""
    if summary.get("renditions"):
        return [(r["name"], r["key"], r.get("size"), r.get("format")) for r in summary["renditions"]]
    if summary.get("destination_key"):
        return [("default", summary["destination_key"], summary.get("new_size"), None)]
    return []


def _url(rendition_key: str, settings: ApiSettings) -> str:
    """The CDN URL when there is a CDN, else a short-lived presigned GET (the bucket stays private)."""
    if settings.cdn_domain:
        return f"https://{settings.cdn_domain}/{quote(rendition_key)}"
    return aws.s3().generate_presigned_url(
        "get_object",
        Params={"Bucket": settings.destination_bucket, "Key": rendition_key},
        ExpiresIn=settings.url_expiry_seconds,
    )
