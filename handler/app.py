"""Lambda entry point: sequences events -> storage.get -> imaging.render -> storage.put -> notify."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handler import events, imaging, notify, storage
from handler.settings import Settings, settings

# Names the spec promises; content decides the format, these only decide whether a non-image is news.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp")
MISSING_OBJECT_CODES = ("NoSuchKey", "404", "NoSuchVersion")

logger = logging.getLogger("image-processor")
logger.setLevel(logging.INFO)


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Process every ObjectCreated record; raise only for transient AWS errors, after all records ran."""
    config = settings()
    request_id = str(getattr(context, "aws_request_id", ""))
    results = []
    transient: list[Exception] = []
    for source in events.created_objects(event):
        try:
            results.append(process(source, config, request_id))
        except (BotoCoreError, ClientError) as error:
            transient.append(error)
            _log(logging.ERROR, source, request_id, outcome="error", error=f"{type(error).__name__}: {error}")
    if transient:
        # Lambda's async retries and the on-failure destination take over; the retry is idempotent.
        raise transient[0]
    return {"results": results}


def process(source: events.SourceObject, config: Settings, request_id: str) -> dict[str, Any]:
    """Turn one source object into a rendition plus a notification, or a failure notification."""
    started = time.perf_counter()
    destination_key = imaging.output_key(source.key)
    summary: dict[str, Any] = {
        "status": "success",
        "source_bucket": source.bucket,
        "source_key": source.key,
        "destination_bucket": config.destination_bucket,
        "destination_key": destination_key,
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
        size = storage.object_size(source)
        summary["bytes_in"] = size
        if size > config.max_input_bytes:
            raise imaging.TooLarge(f"object is {size} bytes, above MAX_INPUT_BYTES ({config.max_input_bytes})")
        rendition = imaging.render(storage.get(source), _options(config))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in MISSING_OBJECT_CODES:
            # Deleted after the upload: nothing to process and nothing a retry could fix.
            _log(logging.WARNING, source, request_id, outcome="skipped", reason="object no longer exists")
            return {**summary, "status": "skipped"}
        raise
    except imaging.ImageRejected as error:
        if not source.key.lower().endswith(IMAGE_EXTENSIONS):
            _log(logging.WARNING, source, request_id, outcome="skipped", reason=str(error))
            return {**summary, "status": "skipped"}
        return _fail(config, source, summary, started, reason=error.reason, message=str(error))
    except BotoCoreError:
        raise
    except Exception as error:  # a decoder bug must end in a failure notification, not a retry loop
        message = f"{type(error).__name__}: {error}"
        return _fail(config, source, summary, started, reason="processing_error", message=message)

    storage.put(config.destination_bucket, destination_key, source, rendition)
    summary.update(
        source_format=rendition.source_format,
        original_size=list(rendition.original_size),
        new_size=list(rendition.size),
        bytes_out=len(rendition.data),
        duration_ms=_elapsed_ms(started),
    )
    notify.publish(config.topic_arn, summary)
    _log(logging.INFO, source, request_id, outcome="success", **_log_fields(summary))
    return summary


def _options(config: Settings) -> imaging.RenderOptions:
    return imaging.RenderOptions(
        width=config.width,
        height=config.height,
        quality=config.jpeg_quality,
        max_pixels=config.max_pixels,
        memory_mb=config.memory_mb,
    )


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
        destination_key=None,
        error_type=reason,
        error_message=message,
        duration_ms=_elapsed_ms(started),
    )
    notify.publish(config.topic_arn, summary)
    _log(logging.ERROR, source, summary["request_id"], outcome="failure", **_log_fields(summary))
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
