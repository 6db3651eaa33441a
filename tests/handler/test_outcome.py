"""The outcome value: its one JSON document, `failed` and who hears of it."""

from __future__ import annotations

import pytest

from handler.outcome import DELETED, FAILURE, IGNORED, SKIPPED, SUCCESS, Outcome, RenditionMade


def test_the_document_holds_every_field_under_its_own_name():
    # GIVEN an outcome with every field set to a value of its own
    made = RenditionMade("thumb", "resized/thumb/a.jpg", (10, 8), 123, "webp")
    outcome = Outcome(
        status="success",
        source_bucket="src",
        source_key="a.jpg",
        destination_bucket="dst",
        request_id="r-1",
        destination_key="resized/a.jpg",
        bytes_in=1000,
        bytes_out=100,
        source_format="PNG",
        original_size=(40, 30),
        new_size=(20, 15),
        renditions=(made,),
        error_type="corrupt",
        error_message="truncated",
        reason="why",
        deleted_keys=("resized/old.jpg",),
        source_version="v-7",
        duration_ms=42,
    )
    # WHEN it is serialised
    document = outcome.document()
    # THEN the document is exactly the schema's, sizes and tuples as lists
    assert document == {
        "version": 1,
        "status": "success",
        "source_bucket": "src",
        "source_key": "a.jpg",
        "source_version": "v-7",
        "destination_bucket": "dst",
        "destination_key": "resized/a.jpg",
        "request_id": "r-1",
        "bytes_in": 1000,
        "bytes_out": 100,
        "source_format": "PNG",
        "original_size": [40, 30],
        "new_size": [20, 15],
        "renditions": [
            {"name": "thumb", "key": "resized/thumb/a.jpg", "size": [10, 8], "bytes": 123, "format": "webp"}
        ],
        "error_type": "corrupt",
        "error_message": "truncated",
        "reason": "why",
        "deleted_keys": ["resized/old.jpg"],
        "duration_ms": 42,
    }


def test_an_outcome_without_optional_fields_has_nulls_and_empty_lists():
    # GIVEN an outcome with only the required fields
    document = Outcome("deleted", "src", "a.jpg", "dst", "r-1").document()
    # THEN the optional fields are null, the collections empty and the duration zero
    assert (document["original_size"], document["new_size"], document["destination_key"]) == (None, None, None)
    assert (document["renditions"], document["deleted_keys"], document["duration_ms"]) == ([], [], 0)


@pytest.mark.parametrize(
    ("status", "notifies"), [(SUCCESS, True), (FAILURE, True), (SKIPPED, False), (DELETED, False), (IGNORED, False)]
)
def test_only_success_and_failure_are_news_for_the_uploader(status, notifies):
    assert Outcome(status, "src", "a.jpg", "dst", "r").notifies is notifies


def test_failed_keeps_everything_else():
    # GIVEN a skipped outcome with a size and a version
    skipped = Outcome("skipped", "src", "a.jpg", "dst", "r", original_size=(4, 3), source_version="v")
    # WHEN it fails
    failed = skipped.failed("corrupt", "truncated")
    # THEN only status and error change
    assert failed == Outcome(
        "failure", "src", "a.jpg", "dst", "r", original_size=(4, 3), source_version="v", error_type="corrupt",
        error_message="truncated",
    )  # fmt: skip
