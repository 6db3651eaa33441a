"""Lambda entry point: events -> storage.get -> imaging.render_all -> storage.put -> notify; removals -> delete."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handler import events, history, imaging, metrics, notify, storage
from handler.renditions import watermark_keys
from handler.settings import Settings, settings

# Names the spec promises; content decides the format, these only decide whether a non-image is news.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp")

logger = logging.getLogger("image-processor")
logger.setLevel(logging.INFO)


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Process every ObjectCreated/ObjectRemoved record; raise only for transient AWS errors, after all ran."""
    config = settings()
    request_id = str(getattr(context, "aws_request_id", ""))
    results = []
    transient: list[Exception] = []
    for source in events.s3_objects(event):
        try:
            results.append((remove if source.removed else process)(source, config, request_id))
        except (BotoCoreError, ClientError) as error:
            transient.append(error)
            _log(logging.ERROR, source, request_id, outcome="error", error=f"{type(error).__name__}: {error}")
    if transient:
        # Lambda's async retries and the on-failure destination take over; the retry is idempotent.
        raise transient[0]
    return {"results": results}


def process(source: events.SourceObject, config: Settings, request_id: str) -> dict[str, Any]:
    """Turn one source object into its renditions plus a notification, or a failure notification."""
    started = time.perf_counter()
    summary: dict[str, Any] = {
        "status": "success",
        "source_bucket": source.bucket,
        "source_key": source.key,
        "destination_bucket": config.destination_bucket,
        "destination_key": None,
        "request_id": request_id,
    }
    if source.bucket == config.destination_bucket:
        return _fail(
            config,
            source,
            summary,
            started,
            reason="misconfigured",
            message="the source bucket is the destination bucket",
        )
    try:
        rendered = _fetch_and_render(source, config, summary)
    except _Skipped as skipped:
        _log(logging.WARNING, source, request_id, outcome="skipped", reason=str(skipped))
        return {**summary, "status": "skipped", "reason": str(skipped)}
    except imaging.ImageRejected as error:
        if not source.key.lower().endswith(IMAGE_EXTENSIONS):
            _log(logging.WARNING, source, request_id, outcome="skipped", reason=str(error))
            return {**summary, "status": "skipped", "reason": f"not an image: {error}"}
        return _fail(config, source, summary, started, reason=error.reason, message=str(error))
    except (BotoCoreError, ClientError):
        raise
    except Exception as error:  # a decoder bug must end in a failure notification, not a retry loop
        message = f"{type(error).__name__}: {error}"
        return _fail(config, source, summary, started, reason="processing_error", message=message)
    return _store_and_notify(source, config, summary, started, rendered)


class _Skipped(Exception):
    """Nothing to do for this record, and nothing a retry could change."""


def _fetch_and_render(
    source: events.SourceObject, config: Settings, summary: dict[str, Any]
) -> list[imaging.Rendition | imaging.RenditionError]:
    # Events can arrive out of order: only the object now under the key is rendered (see remove()).
    current = storage.head(source)
    if current is None:
        raise _Skipped("object no longer exists")
    if not current.is_version_of(source):
        raise _Skipped("a newer version replaced it; its own event renders it")
    summary["bytes_in"] = current.size
    if current.size > config.max_input_bytes:
        raise imaging.TooLarge(f"object is {current.size} bytes, above MAX_INPUT_BYTES ({config.max_input_bytes})")
    try:
        data = storage.get(source)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in storage.MISSING_OBJECT_CODES:
            raise _Skipped("object no longer exists") from error
        raise
    limits = imaging.Limits(max_pixels=config.max_pixels, memory_mb=config.memory_mb)
    return imaging.render_all(data, config.renditions, limits, _watermarks(config))


def _store_and_notify(
    source: events.SourceObject,
    config: Settings,
    summary: dict[str, Any],
    started: float,
    rendered: list[imaging.Rendition | imaging.RenditionError],
) -> dict[str, Any]:
    made = [result for result in rendered if isinstance(result, imaging.Rendition)]
    renditions = []
    for rendition in made:
        key = rendition.spec.key(source.key, rendition.format)
        storage.put(config.destination_bucket, key, source, rendition, config.cache_control)
        renditions.append(
            {
                "name": rendition.spec.name or "default",
                "key": key,
                "size": list(rendition.size),
                "bytes": len(rendition.data),
                "format": rendition.format,
            }
        )
    if made:
        first = made[0]
        summary.update(
            destination_key=renditions[0]["key"],
            source_format=first.source_format,
            original_size=list(first.original_size),
            new_size=list(first.size),
            bytes_out=len(first.data),
        )
    if len(config.renditions) > 1 or config.renditions[0].name:
        summary["renditions"] = renditions
    failed = [result.message for result in rendered if isinstance(result, imaging.RenditionError)]
    if failed:
        return _fail(config, source, summary, started, reason="rendition_failed", message="; ".join(failed))
    summary["duration_ms"] = _elapsed_ms(started)
    return _report(config, source, summary, logging.INFO)


def remove(source: events.SourceObject, config: Settings, request_id: str) -> dict[str, Any]:
    """Delete the renditions of a deleted source object, unless the key holds an object again.

    Ordering is decided by the object itself, not by comparing event sequencers: a creation event
    renders only the object currently under its key, and a removal deletes only when no object is
    there. So a late creation event cannot resurrect a deleted image (its object is gone) and a late
    removal cannot delete renditions of a newer upload (the key exists again).
    """
    summary: dict[str, Any] = {"status": "skipped", "source_bucket": source.bucket, "source_key": source.key}
    if storage.head(source) is not None:
        reason = "the key holds an object again"
        _log(logging.INFO, source, request_id, outcome="skipped", reason=reason)
        return {**summary, "reason": reason}
    keys = [key for spec in config.renditions for key in spec.possible_keys(source.key)]
    storage.delete(config.destination_bucket, keys)
    _log(logging.INFO, source, request_id, outcome="deleted", deleted_keys=keys)
    summary = {**summary, "status": "deleted", "deleted_keys": keys}
    history.record(config.history_table, summary)
    return summary


def _watermarks(config: Settings) -> dict[str, bytes]:
    """Watermark images the renditions use, read once per container; a missing one fails only its renditions."""
    images = {}
    for key in watermark_keys(config.renditions):
        image = _watermark(config.destination_bucket, key)
        if image is not None:
            images[key] = image
    return images


_watermark_cache: dict[tuple[str, str], bytes] = {}


def _watermark(bucket: str, key: str) -> bytes | None:
    if (bucket, key) not in _watermark_cache:
        try:
            _watermark_cache[bucket, key] = storage.read(bucket, key)
        except ClientError as error:  # not cached: a watermark uploaded later is picked up
            logger.error(json.dumps({"message": "watermark not readable", "key": key, "error": str(error)}))
            return None
    return _watermark_cache[bucket, key]


def _fail(
    config: Settings,
    source: events.SourceObject,
    summary: dict[str, Any],
    started: float,
    *,
    reason: str,
    message: str,
) -> dict[str, Any]:
    summary.update(
        status="failure",
        error_type=reason,
        error_message=message,
        duration_ms=_elapsed_ms(started),
    )
    return _report(config, source, summary, logging.ERROR)


def _report(config: Settings, source: events.SourceObject, summary: dict[str, Any], level: int) -> dict[str, Any]:
    """Tell every channel the outcome: metric, history, notification and log line."""
    metrics.emit(summary, config.function_name)
    history.record(config.history_table, summary)
    notify.publish(config.topic_arn, summary)
    _log(level, source, summary["request_id"], outcome=summary["status"], **_log_fields(summary))
    return summary


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _log_fields(summary: dict[str, Any]) -> dict[str, Any]:
    skip = ("status", "source_bucket", "source_key", "request_id")
    return {name: value for name, value in summary.items() if name not in skip}


def _log(level: int, source: events.SourceObject, request_id: str, **fields: Any) -> None:
    """One JSON line per record, so CloudWatch Logs Insights can filter on any field."""
    line = {"request_id": request_id, "bucket": source.bucket, "key": source.key, **fields}
    logger.log(level, json.dumps(line, default=str))
