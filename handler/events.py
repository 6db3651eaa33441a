"""Every shape an S3 change reaches the function in -> the objects it names. Never raises.

Direct S3 notifications, SQS messages (S3 -> SQS, or S3 -> SNS -> SQS, raw or not), SNS records and
EventBridge "Object Created"/"Object Deleted" events. Anything else, or anything malformed, becomes an
`Unusable` item naming why, so one bad record never hides the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import unquote_plus

# How many JSON envelopes (an SQS body, an SNS message) may wrap an event: SQS -> SNS -> S3 uses two.
MAX_ENVELOPES = 4
EVENTBRIDGE_TYPES = ("Object Created", "Object Deleted")
# How the keys of an event's own S3 records are written: URL-encoded as S3 sends them, or as they are.
KEY_ENCODINGS = ("url", "none")


@dataclass(frozen=True)
class SourceObject:
    """One object named by a creation or removal record."""

    bucket: str
    key: str
    etag: str | None
    version_id: str | None
    removed: bool = False
    # A removal of one specific version: an older version may have become the current one.
    version_removed: bool = False


@dataclass(frozen=True)
class Unusable:
    """A record that names no object the function can act on; `reason` is a short code."""

    reason: str
    detail: str


Item = SourceObject | Unusable


@dataclass(frozen=True)
class Message:
    """What the trigger delivers and retries as one: the whole event, or one SQS message."""

    message_id: str | None
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Batch:
    """A parsed invocation: its messages, whether they came from SQS, whether to notify uploaders."""

    messages: tuple[Message, ...]
    from_sqs: bool = False
    notify: bool = True


def parse(event: Any) -> Batch:
    """Every message of an invocation; never raises, whatever the event holds.

    Top-level fields next to `Records`: `"notify": false` (no SNS notification), and `"keyEncoding"`:
    `"url"` (the default, as S3 sends keys) or `"none"` (keys as they are, e.g. from a Step Functions
    listing). They apply to the event's own records, never to notifications nested in SQS/SNS messages.
    """
    top = event if isinstance(event, Mapping) else {}
    records = top.get("Records")
    sqs_records = records if isinstance(records, list) and records and all(map(_is_sqs, records)) else []
    if sqs_records:
        messages = tuple(Message(_optional_text(record.get("messageId")), _sqs_items(record)) for record in sqs_records)
    else:
        messages = (Message(None, _event_items(event, top.get("keyEncoding", "url"))),)
    return Batch(messages, from_sqs=bool(sqs_records), notify=top.get("notify") is not False)


def s3_objects(event: Any) -> Iterator[SourceObject]:
    """The objects an event names, whatever its shape (unusable records are left out)."""
    for message in parse(event).messages:
        yield from (item for item in message.items if isinstance(item, SourceObject))


def _source(record: Mapping[str, Any]) -> str:
    return str(record.get("eventSource") or record.get("EventSource") or "")


def _is_sqs(record: Any) -> bool:
    return isinstance(record, Mapping) and _source(record) == "aws:sqs"


def _sqs_items(record: Mapping[str, Any]) -> tuple[Item, ...]:
    return tuple(_json(record.get("body"), 0))


def _event_items(event: Any, encoding: Any) -> tuple[Item, ...]:
    """The items of an event that is not an SQS batch, its own S3 records' keys read as `encoding` says."""
    if encoding not in KEY_ENCODINGS:
        return (Unusable("malformed_event", f"keyEncoding is {encoding!r}, not one of {', '.join(KEY_ENCODINGS)}"),)
    return tuple(_payload(event, 0, raw_keys=encoding == "none"))


def _payload(payload: Any, envelopes: int, *, raw_keys: bool = False) -> list[Item]:
    """The items of one event or envelope body (`raw_keys`: its S3 records' keys are not URL-encoded)."""
    if envelopes > MAX_ENVELOPES:
        return [Unusable("malformed_event", f"more than {MAX_ENVELOPES} envelopes nested")]
    if not isinstance(payload, Mapping):
        return [Unusable("malformed_event", f"event is {type(payload).__name__}, not an object")]
    if payload.get("Event") == "s3:TestEvent":
        return []  # S3 checks a new notification configuration with it
    if "detail-type" in payload:
        return [_guarded(_eventbridge, payload)]
    if payload.get("Type") == "Notification" and "Message" in payload:
        return _json(payload["Message"], envelopes)  # an SNS notification delivered to SQS
    if "Records" in payload:
        records = payload["Records"]
        if not isinstance(records, list):
            return [Unusable("malformed_event", f"Records is {type(records).__name__}, not a list")]
        return [item for record in records for item in _record(record, envelopes, raw_keys=raw_keys)]
    return [Unusable("unknown_event", f"an event with keys {sorted(map(str, payload))[:10]}")]


def _record(record: Any, envelopes: int, *, raw_keys: bool) -> list[Item]:
    if not isinstance(record, Mapping):
        return [Unusable("malformed_record", f"record is {type(record).__name__}, not an object")]
    source = _source(record)
    if source == "aws:sqs":
        return _json(record.get("body"), envelopes)
    if source == "aws:sns":
        sns = record.get("Sns")
        return _json(sns.get("Message") if isinstance(sns, Mapping) else None, envelopes)
    if source == "aws:s3" or "s3" in record:
        return [_guarded(partial(_s3_record, decode_key=str) if raw_keys else _s3_record, record)]
    return [Unusable("unknown_event", f"a record from {source or 'an unknown source'}")]


def _json(text: Any, envelopes: int) -> list[Item]:
    """The items of an envelope's JSON text, one more envelope deep than what holds it."""
    if not isinstance(text, str):
        return [Unusable("malformed_record", "the envelope holds no message text")]
    try:
        return _payload(json.loads(text), envelopes + 1)
    except ValueError:
        return [Unusable("malformed_record", f"the message is not JSON: {text[:200]!r}")]


def _guarded(parse_one: Any, record: Mapping[str, Any]) -> Item:
    """`parse_one(record)`, or an Unusable naming what was missing or of the wrong type."""
    try:
        item: Item = parse_one(record)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        return Unusable("malformed_record", f"{type(error).__name__}: {error}")
    return item


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is missing or not text")
    return value


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _s3_record(record: Mapping[str, Any], decode_key: Callable[[str], str] = unquote_plus) -> Item:
    """`decode_key`: S3 notifications URL-encode keys (`unquote_plus`); `str` keeps a key as it is."""
    name = str(record.get("eventName", ""))
    if not name.startswith(("ObjectCreated:", "ObjectRemoved:")):
        return Unusable("unknown_event", f"S3 event {name or 'without a name'}")
    s3 = record["s3"]
    obj = s3["object"]
    version_id = _optional_text(obj.get("versionId"))
    removed = name.startswith("ObjectRemoved:")
    return SourceObject(
        bucket=_text(s3["bucket"]["name"], "bucket name"),
        key=decode_key(_text(obj["key"], "object key")),
        etag=_optional_text(obj.get("eTag")),
        version_id=version_id,
        removed=removed,
        version_removed=name == "ObjectRemoved:Delete" and version_id is not None,
    )


def _eventbridge(event: Mapping[str, Any]) -> Item:
    kind = event.get("detail-type")
    if event.get("source") != "aws.s3" or kind not in EVENTBRIDGE_TYPES:
        return Unusable("unknown_event", f"EventBridge {kind} from {event.get('source')}")
    detail = event["detail"]
    obj = detail["object"]
    version_id = _optional_text(obj.get("version-id"))
    removed = kind == "Object Deleted"
    return SourceObject(
        bucket=_text(detail["bucket"]["name"], "bucket name"),
        key=_text(obj["key"], "object key"),  # EventBridge sends keys as they are, not URL-encoded
        etag=_optional_text(obj.get("etag")),
        version_id=version_id,
        removed=removed,
        version_removed=removed and detail.get("deletion-type") == "Permanently Deleted" and version_id is not None,
    )
