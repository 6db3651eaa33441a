"""`"keyEncoding": "none"`: records whose keys come as they are (a Step Functions listing), not URL-encoded."""

from __future__ import annotations

import pytest

from handler import app, events
from local.samples import encode, photo
from tests.conftest import load_event
from tests.handler.test_app import destination_keys

FIXTURE = "stepfunctions_backfill_batch.json"
KEYS = ["photos/a+b.jpg", "photos/100% Café.jpg"]  # what the fixture's records name, as listed


def keys_of(event: dict) -> list[str]:
    return [item.key for item in events.s3_objects(event)]


def test_keys_of_a_backfill_batch_are_taken_as_they_are():
    # GIVEN the batch Step Functions sends, keys as ListObjectsV2 returned them
    event = load_event(FIXTURE)
    # WHEN it is parsed THEN "+" stays a plus and "%" a percent sign
    assert keys_of(event) == KEYS


def test_without_the_field_the_same_keys_are_url_decoded():
    # GIVEN the same records without keyEncoding (as S3 itself would send them, URL-encoded)
    event = load_event(FIXTURE)
    del event["keyEncoding"]
    # WHEN parsed THEN "+" reads as a space, which is why the workflow must send the field
    assert keys_of(event)[0] == "photos/a b.jpg"


def test_key_encoding_url_is_the_default_spelled_out():
    event = {**load_event(FIXTURE), "keyEncoding": "url"}
    assert keys_of(event)[0] == "photos/a b.jpg"


@pytest.mark.parametrize("value", ["None", "raw", None, 0])
def test_an_unknown_key_encoding_refuses_the_event_rather_than_guess(value):
    # GIVEN a misspelt or mistyped keyEncoding
    event = {**load_event(FIXTURE), "keyEncoding": value}
    # WHEN parsed THEN the event names no object, and one unusable item says why
    (message,) = events.parse(event).messages
    (item,) = message.items
    assert isinstance(item, events.Unusable) and item.reason == "malformed_event"
    assert "keyEncoding" in item.detail


def test_a_backfill_batch_renders_plus_and_percent_keys_without_e_mail(pipeline, lambda_context):
    # GIVEN objects whose names hold "+" and "%" in the source bucket
    for key in KEYS:
        pipeline.upload(key, encode(photo(320, 240), "JPEG"))
    # WHEN the workflow's batch (notify false, keyEncoding none) is handled
    result = app.lambda_handler(load_event(FIXTURE), lambda_context)
    # THEN both are rendered under their own names, and nobody is e-mailed
    assert [r["status"] for r in result["results"]] == ["success", "success"]
    assert sorted(destination_keys()) == sorted(f"resized/{key}" for key in KEYS)
    assert pipeline.notifications() == []
