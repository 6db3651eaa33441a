"""Event parsing, on every shape AWS delivers S3 changes in, and on malformed input."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from handler.events import Message, SourceObject, Unusable, parse, s3_objects

EVENTS = Path(__file__).parent.parent / "events"
BUCKET = "image-processor-source-test-123456789012"
WRAPPED = SourceObject(BUCKET, "photos/b c.png", "9b2cf535f27731c974343645a3985328", "Rb_l2T8UHDkFEwCgJjhlgPOZC0qJ.vpD")


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_key_is_url_decoded_with_plus_as_space_and_utf8():
    # GIVEN S3's direct notification WHEN parsed THEN the key is decoded as S3 encodes it
    (source,) = s3_objects(load("s3_object_created.json"))
    assert source == SourceObject(BUCKET, "photos/My Café.JPG", "d41d8cd98f00b204e9800998ecf8427e", None)


def test_every_record_is_handled():
    event = load("s3_object_created.json")
    second = copy.deepcopy(event["Records"][0])
    second["s3"]["object"].update(key="b.png", versionId="v2")
    event["Records"].append(second)
    keys = [(source.key, source.version_id) for source in s3_objects(event)]
    assert keys == [("photos/My Café.JPG", None), ("b.png", "v2")]


@pytest.mark.parametrize(
    ("fixture", "removed", "version_removed"),
    [
        ("s3_object_removed.json", True, False),  # unversioned bucket
        ("s3_delete_marker_created.json", True, False),  # versioned, the key now shows nothing
        ("s3_version_deleted.json", True, True),  # one version gone for good: an older one may be current
        ("eventbridge_object_deleted.json", True, True),
        ("eventbridge_delete_marker_created.json", True, False),
        ("eventbridge_object_created.json", False, False),
    ],
)
def test_removals_say_whether_a_specific_version_went(fixture, removed, version_removed):
    (source,) = s3_objects(load(fixture))
    assert (source.removed, source.version_removed) == (removed, version_removed)


def test_eventbridge_keys_are_taken_as_they_are():
    # GIVEN EventBridge's "Object Created" (keys are not URL-encoded there)
    (source,) = s3_objects(load("eventbridge_object_created.json"))
    # THEN bucket, key, ETag and version come from its detail
    assert source == SourceObject(
        BUCKET, "photos/My Café.JPG", "d41d8cd98f00b204e9800998ecf8427e", "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"
    )


def test_sqs_messages_are_reported_one_by_one():
    # GIVEN an SQS batch: an S3 notification and S3's test event
    batch = parse(load("sqs_s3.json"))
    # THEN each message keeps its id, the first names the object and the test event names nothing
    assert batch.from_sqs
    assert batch.messages == (
        Message("059f36b4-87a3-44ab-83d2-661975830a7d", (WRAPPED,)),
        Message("2e1424d4-f796-459a-8184-9c92662be6da", ()),
    )


@pytest.mark.parametrize("fixture", ["sqs_sns_s3.json", "sns_s3.json"])
def test_sns_wrapped_notifications_are_unwrapped(fixture):
    assert list(s3_objects(load(fixture))) == [WRAPPED]


def test_test_event_is_ignored_without_a_problem():
    assert parse(load("s3_test_event.json")).messages == (Message(None, ()),)


def test_notify_false_is_read_from_the_top_level_only():
    event = {**load("s3_object_created.json"), "notify": False}
    assert parse(event).notify is False
    assert parse(load("s3_object_created.json")).notify is True
    assert parse({**load("s3_object_created.json"), "notify": "false"}).notify is True  # only the JSON false


def items(event: object) -> tuple:
    (message,) = parse(event).messages
    return message.items


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ([], "malformed_event"),
        (None, "malformed_event"),
        ("Records", "malformed_event"),
        ({"Records": "oops"}, "malformed_event"),
        ({"something": "else"}, "unknown_event"),
        ({"Records": [None]}, "malformed_record"),
        ({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": None}]}, "malformed_record"),
        ({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {}}]}, "malformed_record"),
        (
            {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {}}}]},
            "malformed_record",
        ),
        (
            {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": ""}, "object": {"key": "k"}}}]},
            "malformed_record",
        ),
        ({"Records": [{"eventSource": "aws:dynamodb"}]}, "unknown_event"),
        ({"Records": [{"eventSource": "aws:sns", "Sns": {"Message": "not json"}}]}, "malformed_record"),
        ({"Records": [{"eventSource": "aws:sns", "Sns": None}]}, "malformed_record"),
        ({"detail-type": "Object Created", "source": "aws.s3", "detail": {"object": {"key": "k"}}}, "malformed_record"),
        ({"detail-type": "Object Tags Added", "source": "aws.s3", "detail": {}}, "unknown_event"),
        (
            {
                "Type": "Notification",
                "Message": json.dumps(
                    {
                        "Type": "Notification",
                        "Message": json.dumps(
                            {
                                "Type": "Notification",
                                "Message": json.dumps(
                                    {
                                        "Type": "Notification",
                                        "Message": json.dumps({"Type": "Notification", "Message": "{}"}),
                                    }
                                ),
                            }
                        ),
                    }
                ),
            },
            "malformed_event",
        ),
    ],
)
def test_malformed_or_unknown_input_becomes_one_unusable_item(event, reason):
    # GIVEN an event or record no S3 change looks like
    # WHEN it is parsed
    (item,) = items(event)
    # THEN it is one Unusable item with its reason, and nothing raised
    assert isinstance(item, Unusable) and item.reason == reason and item.detail


def test_an_s3_event_other_than_created_or_removed_is_unknown():
    (item,) = items(load("s3_object_restored.json"))
    assert item == Unusable("unknown_event", "S3 event ObjectRestore:Completed")


def test_a_bad_middle_record_does_not_hide_the_others():
    # GIVEN three records, the middle one without its s3 part
    event = load("s3_object_created.json")
    good = event["Records"][0]
    event["Records"] = [good, {**good, "s3": None}, {**good, "eventName": "ObjectRemoved:Delete"}]
    # WHEN parsed THEN the first and last objects are there, around one unusable item
    first, middle, last = items(event)
    assert isinstance(first, SourceObject) and isinstance(last, SourceObject) and last.removed
    assert isinstance(middle, Unusable) and "NoneType" in middle.detail


def test_sqs_message_with_a_broken_body_is_unusable_but_keeps_its_id():
    event = load("sqs_s3.json")
    event["Records"][0]["body"] = "{not json"
    first = parse(event).messages[0]
    assert first.message_id == "059f36b4-87a3-44ab-83d2-661975830a7d"
    (item,) = first.items
    assert isinstance(item, Unusable) and item.reason == "malformed_record"
