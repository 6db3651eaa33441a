"""Event parsing at its edges: what an operator reads about each unusable record, how deep envelopes may
nest, and fields that are present but empty."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from handler.events import MAX_ENVELOPES, SourceObject, Unusable, parse
from tests.conftest import eventbridge_event, load_event, s3_event, sqs_event

BUCKET = "image-processor-source-test-123456789012"
UPLOAD = SourceObject(BUCKET, "a b.jpg", "abc", None)
NOT_TEXT = "missing or not text"


def s3_record(**changes: Any) -> dict[str, Any]:
    """The fixture's S3 record of an upload of `a b.jpg`, with parts of it replaced (None: removed)."""
    record: dict[str, Any] = s3_event("a b.jpg", etag="abc")["Records"][0]
    for path, value in changes.items():
        *parents, name = path.split("__")
        node = record
        for parent in parents:
            node = node[parent]
        if value is None:
            del node[name]
        else:
            node[name] = value
    return record


def eventbridge(**detail: Any) -> dict[str, Any]:
    event = eventbridge_event("a b.jpg", etag="abc")
    event["detail"].update(detail)
    return event


def only_item(event: Any) -> Any:
    (message,) = parse(event).messages
    (item,) = message.items
    return item


def wrapped(event: dict[str, Any], times: int) -> dict[str, Any]:
    """`event` inside `times` SNS notifications, as SNS delivers to SQS without raw delivery."""
    for _ in range(times):
        event = {"Type": "Notification", "Message": json.dumps(event)}
    return event


@pytest.mark.parametrize(
    ("event", "reason", "detail"),
    [
        ([], "malformed_event", "event is list, not an object"),
        ({"Records": "oops"}, "malformed_event", "Records is str, not a list"),
        (
            {f"k{number:02}": 0 for number in range(11)},
            "unknown_event",
            f"an event with keys {[f'k{number:02}' for number in range(10)]}",  # at most ten named
        ),
        ({"Message": "{}"}, "unknown_event", "an event with keys ['Message']"),  # not an SNS notification
        ({"Records": [5]}, "malformed_record", "record is int, not an object"),
        ({"Records": [{}]}, "unknown_event", "a record from an unknown source"),
        ({"Records": [{"eventSource": "aws:dynamodb"}]}, "unknown_event", "a record from aws:dynamodb"),
        (
            {"Records": [{"EventSource": "aws:sns", "Sns": {}}]},
            "malformed_record",
            "the envelope holds no message text",
        ),
        (
            {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]},
            "malformed_record",
            "KeyError: 's3'",
        ),
        ({"Records": [s3_record(eventName=None)]}, "unknown_event", "S3 event without a name"),
        ({"Records": [s3_record(s3__bucket__name="")]}, "malformed_record", f"ValueError: bucket name is {NOT_TEXT}"),
        ({"Records": [s3_record(s3__object__key=5)]}, "malformed_record", f"ValueError: object key is {NOT_TEXT}"),
        ({**eventbridge(), "source": "aws.ec2"}, "unknown_event", "EventBridge Object Created from aws.ec2"),
        (eventbridge(bucket={"name": None}), "malformed_record", f"ValueError: bucket name is {NOT_TEXT}"),
        (eventbridge(object={"key": ""}), "malformed_record", f"ValueError: object key is {NOT_TEXT}"),
        (
            {**s3_event("a.jpg"), "keyEncoding": "base64"},
            "malformed_event",
            "keyEncoding is 'base64', not one of url, none",
        ),
        (wrapped(s3_event("a.jpg"), MAX_ENVELOPES + 1), "malformed_event", "more than 4 envelopes nested"),
    ],
)
def test_an_unusable_event_says_what_is_wrong_with_it(event, reason, detail):
    # GIVEN an event no S3 change looks like WHEN it is parsed THEN the operator's log line will say exactly why
    assert only_item(event) == Unusable(reason, detail)


def test_a_message_that_is_not_json_is_quoted_in_its_first_200_characters():
    event = sqs_event({})
    event["Records"][0]["body"] = "<" + "x" * 300
    assert only_item(event) == Unusable("malformed_record", f"the message is not JSON: {'<' + 'x' * 199!r}")


def wrapped_in_sns_records(event: dict[str, Any], times: int) -> dict[str, Any]:
    """`event` inside `times` SNS events as SNS invokes Lambda (a record with the message)."""
    template = load_event("sns_s3.json")["Records"][0]
    for _ in range(times):
        record = copy.deepcopy(template)
        record["Sns"]["Message"] = json.dumps(event)
        event = {"Records": [record]}
    return event


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(wrapped, id="sns-notifications"),
        pytest.param(lambda event, times: sqs_event(wrapped(event, times - 1)), id="sqs-then-sns-notifications"),
        pytest.param(wrapped_in_sns_records, id="sns-records"),
    ],
)
def test_envelopes_nest_up_to_the_limit_and_no_deeper(wrap):
    upload = s3_event("a b.jpg", etag="abc")
    # GIVEN an upload inside as many envelopes as allowed THEN it is found
    assert only_item(wrap(upload, MAX_ENVELOPES)) == UPLOAD
    # AND one envelope more is refused
    assert only_item(wrap(upload, MAX_ENVELOPES + 1)).reason == "malformed_event"


def test_an_sqs_record_among_other_records_is_unwrapped_too():
    # GIVEN a list mixing an SQS message with a direct S3 record (not an SQS batch)
    event = {"Records": [sqs_event(s3_event("a b.jpg", etag="abc"))["Records"][0], s3_record()]}
    # THEN both name the upload, in one message
    batch = parse(event)
    assert not batch.from_sqs
    assert [message.items for message in batch.messages] == [(UPLOAD, UPLOAD)]


def test_an_sqs_batch_notifies_unless_told_not_to():
    assert parse(sqs_event(s3_event("a.jpg"))).notify is True
    assert parse({**sqs_event(s3_event("a.jpg")), "notify": False}).notify is False


def test_a_refused_key_encoding_still_honours_notify_false():
    batch = parse({**s3_event("a.jpg"), "keyEncoding": "base64", "notify": False})
    assert (batch.notify, batch.from_sqs) == (False, False)


def test_an_sqs_message_id_that_is_not_text_is_no_id():
    # GIVEN an SQS record whose messageId is a number (Lambda could not report it as a failed item)
    event = sqs_event(s3_event("a.jpg"))
    event["Records"][0]["messageId"] = 7
    # THEN the message has no id rather than a wrong one
    assert parse(event).messages[0].message_id is None


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"Records": [s3_record(eventName="ObjectRemoved:Delete", s3__object__versionId="")]}, id="s3"),
        pytest.param(eventbridge_event("a b.jpg", version_id="", deleted="Permanently Deleted"), id="eventbridge"),
    ],
)
def test_an_empty_version_id_is_no_version(event):
    # GIVEN a permanent deletion whose version id is empty WHEN parsed
    item = only_item(event)
    # THEN it names no version, so it is not taken for the removal of one specific version
    assert (item.version_id, item.version_removed, item.removed) == (None, False, True)


def test_an_empty_etag_is_no_etag():
    assert only_item({"Records": [s3_record(s3__object__eTag="")]}).etag is None
