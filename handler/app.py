"""Lambda entry point: every event shape -> the objects it names -> each key reconciled -> one report each.

An event only says which key to look at. What the destination should hold is decided by the source
object now under that key, re-read after every write (see docs/events.md for why this converges).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handler import cdn, events, history, imaging, log, metrics, notify, storage
from handler.outcome import DELETED, FAILURE, IGNORED, SKIPPED, SUCCESS, Outcome, RenditionMade
from handler.renditions import IMAGE_EXTENSIONS, watermark_keys
from handler.settings import ConfigError, Settings, settings

# Time kept back from Lambda's timeout to write, notify and log after rendering stops.
DEADLINE_MARGIN_SECONDS = 5.0
# Re-reads of a key that keeps changing before the record is handed back to be retried.
MAX_ROUNDS = 4
LEVELS = {FAILURE: logging.ERROR, IGNORED: logging.WARNING}

_clock = time.perf_counter


class StillChanging(Exception):
    """The source kept changing while it was being rendered: a retry will find it settled."""


# Errors a retry can fix: the record is retried (Lambda async retries, or the SQS message returns).
TRANSIENT = (BotoCoreError, ClientError, storage.PartialDelete, StillChanging)


@dataclass(frozen=True)
class Invocation:
    """What every record of one invocation shares."""

    config: Settings
    request_id: str
    deadline: float | None = None
    notify: bool = True


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Handle every record; for SQS report failed messages, otherwise raise a transient error after all ran."""
    config = _configured()
    request_id: str = context.aws_request_id
    log.bind(request_id)
    batch = events.parse(event)
    invocation = Invocation(config, request_id, deadline_from(context), batch.notify)
    results: list[dict[str, Any]] = []
    failed_messages: list[str] = []
    transient: list[Exception] = []
    for message in batch.messages:
        errors = [error for item in message.items if (error := _handle(item, invocation, results))]
        if errors and message.message_id and batch.from_sqs:
            failed_messages.append(message.message_id)
        else:
            transient.extend(errors)
    if transient:
        raise transient[0]  # the retry is idempotent: every key is reconciled again
    if batch.from_sqs:
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed_messages]}
    return {"results": results}


def _configured() -> Settings:
    """The container's settings; a bad one is logged with its field before the invocation fails."""
    try:
        config = settings()
    except ConfigError as error:
        log.error("configuration refused", field=error.field, error=str(error))
        raise
    _prepare_container(config.memory_mb)
    return config


@cache
def _prepare_container(memory_mb: int) -> None:
    """Cold start: the log level, and the engine's memory guard (a model miss ends as too_large, not a kill)."""
    log.configure(os.environ)
    if "AWS_LAMBDA_RUNTIME_API" in os.environ:  # only inside Lambda: never cap a test runner or the local pump
        imaging.guard_memory(memory_mb)


def deadline_from(context: Any) -> float | None:
    """The `time.monotonic()` instant rendering must stop by: Lambda's remaining time minus a margin."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + float(remaining()) / 1000 - DEADLINE_MARGIN_SECONDS


def limits(config: Settings, deadline: float | None) -> imaging.Limits:
    """The engine's limits for this invocation."""
    return imaging.Limits(max_pixels=config.max_pixels, memory_mb=config.memory_mb, deadline=deadline, heic=config.heic)


def _handle(item: events.Item, invocation: Invocation, results: list[dict[str, Any]]) -> Exception | None:
    """Reconcile one item and report it; a transient error is logged and returned, never raised."""
    started = _clock()
    if isinstance(item, events.Unusable):
        outcome = ignored(item, invocation)
    else:
        try:
            outcome = handle(item, invocation)
        except TRANSIENT as error:
            log.error(
                "will be retried",
                source_bucket=item.bucket,
                source_key=item.key,
                error=f"{type(error).__name__}: {error}",
            )
            return error
    outcome = dataclasses.replace(outcome, duration_ms=elapsed_ms(started))
    report(outcome, invocation.config, notify_uploader=invocation.notify)
    results.append(outcome.document())
    return None


def ignored(item: events.Unusable, invocation: Invocation) -> Outcome:
    """The outcome of a record that names no object: reported to operators, never retried."""
    return Outcome(
        IGNORED,
        "",
        "",
        invocation.config.destination_bucket,
        invocation.request_id,
        error_type=item.reason,
        error_message=item.detail,
    )


def handle(item: events.SourceObject, invocation: Invocation) -> Outcome:
    """The outcome of one object's record; raises only errors a retry can fix (TRANSIENT)."""
    config, request_id = invocation.config, invocation.request_id
    base = Outcome(SKIPPED, item.bucket, item.key, config.destination_bucket, request_id)
    if item.bucket == config.destination_bucket:
        return base.failed("misconfigured", "the source bucket is the destination bucket")
    if item.bucket != config.source_bucket:
        return base.failed(
            "foreign_bucket", f"records from {item.bucket!r} are refused: SOURCE_BUCKET is {config.source_bucket!r}"
        )
    try:
        if not invocation.notify and (skipped := renditions_current(item, config, base)):
            return skipped
        return reconcile(item, config, base, invocation.deadline)
    except ClientError as error:
        if storage.is_permanent(error):
            return base.failed(
                "storage_refused", f"S3 refused {error.operation_name}: {storage.error_code(error)}: {error}"
            )
        raise


def renditions_current(source: events.SourceObject, config: Settings, base: Outcome) -> Outcome | None:
    """A backfill's shortcut: a skip when history says the object now under the key was rendered as configured.

    Only for backfills (`"notify": false`), so S3 events cost no extra read. One GetItem, then a HEAD
    only when the item is a success with the current renditions hash; never a read of the destination.
    Without a history table every object is rendered again (idempotent).
    """
    if not config.history_table or source.removed:
        return None
    version = history.rendered_version(config.history_table, source.key, history.renditions_hash(config))
    if version is None:
        return None
    current = storage.head(source.bucket, source.key)
    if current is None or version != (current.version_id or current.etag):
        return None
    return dataclasses.replace(base, reason=history.CURRENT, source_version=version, bytes_in=current.size)


def report(outcome: Outcome, config: Settings, *, notify_uploader: bool) -> None:
    """Tell every channel, from the one document: metric, history, notification and log line."""
    document = outcome.document()
    metrics.emit(document, config.function_name)
    history.record(config.history_table, document, renditions_hash=history.renditions_hash(config))
    if notify_uploader and outcome.notifies:
        notify.publish(config.topic_arn, document, region=config.region, cdn_domain=config.cdn_domain)
    log.log(LEVELS.get(outcome.status, logging.INFO), outcome.status, **document)


def elapsed_ms(started: float) -> int:
    """Milliseconds since `started` (a `_clock()` reading)."""
    return round((_clock() - started) * 1000)


def reconcile(source: events.SourceObject, config: Settings, base: Outcome, deadline: float | None) -> Outcome:
    """Make the destination hold the renditions of the object now under the key, or none if there is none.

    The event decides only whether there is anything to do. After writing, the key is read again: if
    its object changed meanwhile, the round is repeated for the new one, so a stale write is never the
    last word (docs/events.md). A key that keeps changing is handed back to be retried. With a CDN, the
    key's rendition paths are invalidated once at the end, a failure midway included.
    """
    wrote = False
    acted = False
    acted_on: storage.Head | None = None  # the object the first writing round saw
    try:
        for _ in range(MAX_ROUNDS):
            current = storage.head(source.bucket, source.key)
            reason = None if wrote else nothing_to_do(source, current)
            if reason:
                return dataclasses.replace(base, reason=reason)
            if not acted:
                acted, acted_on = True, current
            outcome = (
                _delete_all(source, config, base)
                if current is None
                else _render(source, current, config, base, deadline)
            )
            if outcome is None:
                continue  # replaced or deleted between HEAD and GET: nothing written, look again
            wrote = True
            after = storage.head(source.bucket, source.key)
            if _identity(after) == _identity(current):
                return outcome
        raise StillChanging(f"{source.key} changed {MAX_ROUNDS} times while it was being rendered")
    finally:
        if acted:
            _invalidate_cached(source, acted_on, config, base.request_id)


def _invalidate_cached(
    source: events.SourceObject, acted_on: storage.Head | None, config: Settings, request_id: str
) -> None:
    """With a CDN, invalidate every rendition path of the key in one request, if a cached copy may be stale.

    Nothing is asked of the destination (the role may not read it). A removal, or a key with nothing
    under it, deleted renditions; a write replaced some only if the key held an earlier object.
    """
    if not config.cdn_distribution_id:
        return
    if source.removed or acted_on is None or storage.held_earlier_object(source.bucket, source.key, acted_on):
        cdn.invalidate(config.cdn_distribution_id, _possible_keys(source.key, config), request_id)


def nothing_to_do(source: events.SourceObject, current: storage.Head | None) -> str | None:
    """Why this event needs no write, judged before anything is written (None: reconcile the key)."""
    if not source.removed:
        if current is None:
            return "object no longer exists"  # its removal event deletes the renditions
        if source.version_id and current.version_id:
            same = source.version_id == current.version_id
        else:
            same = source.etag is None or source.etag == current.etag
        return None if same else "a newer version replaced it; its own event renders it"
    if current is not None and not source.version_removed:
        return "the key holds an object again"  # only a new upload can refill it, and it has its event
    return None


def _identity(head: storage.Head | None) -> tuple[str, str | None] | None:
    return None if head is None else head.identity


def _delete_all(source: events.SourceObject, config: Settings, base: Outcome) -> Outcome:
    keys = _possible_keys(source.key, config)
    _apply(config, puts=[], deletes=keys)
    return dataclasses.replace(base, status=DELETED, deleted_keys=tuple(keys))


def _possible_keys(source_key: str, config: Settings) -> list[str]:
    return [key for spec in config.renditions for key in spec.possible_keys(source_key)]


def _render(
    source: events.SourceObject, current: storage.Head, config: Settings, base: Outcome, deadline: float | None
) -> Outcome | None:
    """Render the current object and write its renditions; a refusal deletes stale renditions instead.

    None when the object was replaced or deleted between HEAD and GET (nothing was written).
    """
    base = dataclasses.replace(base, bytes_in=current.size, source_version=current.version_id or current.etag)
    if current.size > config.max_input_bytes:
        message = f"object is {current.size} bytes, above MAX_INPUT_BYTES ({config.max_input_bytes})"
        return _refused(source, config, base.failed(imaging.TooLarge.reason, message))
    data = storage.get(source.bucket, source.key, current)
    if data is None:
        return None
    try:
        rendered = imaging.render_all(data, config.renditions, limits(config, deadline), _watermarks(config))
    except imaging.ImageRejected as error:
        if not source.key.lower().endswith(IMAGE_EXTENSIONS):
            return _refused(source, config, dataclasses.replace(base, reason=f"not an image: {error}"))
        return _refused(source, config, base.failed(error.reason, str(error)))
    except Exception as error:  # a decoder bug must end in a failure notification, not a retry loop
        return _refused(source, config, base.failed("processing_error", f"{type(error).__name__}: {error}"))
    return _store(source, current, config, base, rendered)


def _refused(source: events.SourceObject, config: Settings, outcome: Outcome) -> Outcome:
    """The object makes no renditions: any of an earlier version go too."""
    _apply(config, puts=[], deletes=_possible_keys(source.key, config))
    return outcome


def _store(
    source: events.SourceObject,
    current: storage.Head,
    config: Settings,
    base: Outcome,
    rendered: list[imaging.Rendition | imaging.RenditionError],
) -> Outcome:
    metadata = storage.source_metadata(source.bucket, source.key, current)
    puts: list[tuple[str, imaging.Rendition, dict[str, str]]] = []
    deletes: list[str] = []
    for result in rendered:
        possible = result.spec.possible_keys(source.key)
        if isinstance(result, imaging.Rendition):
            key = result.spec.key(source.key, result.format)
            puts.append((key, result, {**metadata, **_rendition_metadata(result)}))
            possible.remove(key)
        deletes.extend(possible)  # the other formats `auto` could have chosen, or a failed rendition
    _apply(config, puts=puts, deletes=deletes)
    made = tuple(
        RenditionMade(metadata["rendition"], key, rendition.size, len(rendition.data), rendition.format)
        for key, rendition, metadata in puts
    )
    outcome = dataclasses.replace(base, status=SUCCESS, renditions=made)
    if puts:
        first = puts[0][1]
        outcome = dataclasses.replace(
            outcome,
            destination_key=made[0].key,
            source_format=first.source_format,
            original_size=first.original_size,
            new_size=first.size,
            bytes_out=len(first.data),
        )
    failed = [result.message for result in rendered if isinstance(result, imaging.RenditionError)]
    return outcome.failed("rendition_failed", "; ".join(failed)) if failed else outcome


def _rendition_metadata(rendition: imaging.Rendition) -> dict[str, str]:
    return {
        "rendition": rendition.spec.name or notify.UNNAMED_RENDITION,
        "original-width": str(rendition.original_size[0]),
        "original-height": str(rendition.original_size[1]),
        "width": str(rendition.size[0]),
        "height": str(rendition.size[1]),
    }


def _apply(config: Settings, *, puts: list[tuple[str, imaging.Rendition, dict[str, str]]], deletes: list[str]) -> None:
    """Write and delete renditions (a CDN's copies are invalidated once per record, by `reconcile`)."""
    for key, rendition, metadata in puts:
        storage.put(
            config.destination_bucket,
            key,
            data=rendition.data,
            content_type=rendition.content_type,
            metadata=metadata,
            cache_control=config.cache_control,
        )
    if deletes:
        storage.delete(config.destination_bucket, deletes)


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
            log.error("watermark not readable", key=key, error=str(error))
            return None
    return _watermark_cache[bucket, key]
