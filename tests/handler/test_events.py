"""S3 event parsing, on events as S3 sends them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from handler.events import SourceObject, s3_objects

EVENTS = Path(__file__).parent.parent / "events"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_key_is_url_decoded_with_plus_as_space_and_utf8():
    (source,) = s3_objects(load("s3_object_created.json"))
    assert source == SourceObject(
        bucket="image-processor-source-test-123456789012",
        key="photos/My Café.JPG",
        etag="d41d8cd98f00b204e9800998ecf8427e",
        version_id=None,
    )


def test_every_record_is_handled():
    event = load("s3_object_created.json")
    second = copy.deepcopy(event["Records"][0])
    second["s3"]["object"].update(key="b.png", versionId="v2")
    event["Records"].append(second)
    keys = [(source.key, source.version_id) for source in s3_objects(event)]
    assert keys == [("photos/My Café.JPG", None), ("b.png", "v2")]


def test_test_event_is_ignored_and_removals_are_marked():
    assert list(s3_objects(load("s3_test_event.json"))) == []
    (removed,) = s3_objects(load("s3_object_removed.json"))
    assert (removed.key, removed.removed) == ("photos/a.jpg", True)
    (created,) = s3_objects(load("s3_object_created.json"))
    assert created.removed is False
