"""A backfill skips objects whose renditions are current, judged from processing history alone (moto).

The function may not read the destination (issue 13), so "current" means: the history item of the key
is a success for the version now under the key (VersionId, or ETag when unversioned) and for the same
renditions configuration (its hash). Only backfill events (`"notify": false`) ask; S3 events never do.
"""

from __future__ import annotations

import logging
from typing import Any

import boto3
import pytest

from handler import app, aws
from local.samples import encode, photo
from tests.conftest import REGION, SOURCE, clear_caches, log_lines
from tests.handler.test_history import (
    TABLE,
    history_table,  # noqa: F401 (a fixture: the table, HISTORY_TABLE set)
    stored,
)

JPEG = encode(photo(400, 300), "JPEG")


class Calls:
    """Every AWS operation the handler's own clients make while watching, as (service, operation)."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str]] = []

    def _record(self, model: Any, event_name: str, **_: Any) -> None:
        self.made.append((event_name.split(".")[1], model.name))

    def __enter__(self) -> Calls:
        for client in (aws.s3(), aws.dynamodb()):  # the per-container clients the handler uses
            client.meta.events.register("before-call", self._record, unique_id=f"calls-{id(self)}")
        return self

    def __exit__(self, *_: object) -> None:
        for client in (aws.s3(), aws.dynamodb()):
            client.meta.events.unregister("before-call", unique_id=f"calls-{id(self)}")

    def of(self, operation: str) -> int:
        return sum(1 for _, name in self.made if name == operation)


def backfill(event: dict[str, Any]) -> dict[str, Any]:
    """The same records as a backfill sends them: no notification."""
    return {**event, "notify": False}


def handled(event: dict[str, Any], lambda_context) -> tuple[dict[str, Any], Calls]:
    with Calls() as calls:
        (result,) = app.lambda_handler(event, lambda_context)["results"]
    return result, calls


@pytest.mark.usefixtures("history_table")
def test_a_backfill_skips_an_object_rendered_before_without_downloading_it(pipeline, lambda_context, caplog):
    # GIVEN an object rendered by its upload event, recorded as a success in history
    upload = pipeline.upload("a.jpg", JPEG)
    assert app.lambda_handler(upload, lambda_context)["results"][0]["status"] == "success"
    rendered = stored("a.jpg")
    caplog.clear()
    # WHEN a backfill names it twice (an interrupted run started again)
    with caplog.at_level(logging.INFO, logger="image-processor"):
        first, calls = handled(backfill(upload), lambda_context)
        second, again = handled(backfill(upload), lambda_context)
    # THEN both are skipped as current: one GetItem and one HEAD each, no download and no write
    for result, made in ((first, calls), (second, again)):
        assert (result["status"], result["reason"]) == ("skipped", "renditions current")
        assert made.made == [("dynamodb", "GetItem"), ("s3", "HeadObject")]
    assert first["source_version"] == rendered["source_version"]
    # AND the success stays the item's word (the API still shows its renditions)
    assert stored("a.jpg") == rendered
    assert [line["reason"] for line in log_lines(caplog)] == ["renditions current", "renditions current"]


@pytest.mark.usefixtures("history_table")
def test_a_backfill_renders_an_object_replaced_since_its_last_success(pipeline, lambda_context):
    # GIVEN an object rendered before, then replaced with other bytes (unversioned: another ETag)
    app.lambda_handler(pipeline.upload("a.jpg", JPEG), lambda_context)
    event = pipeline.upload("a.jpg", encode(photo(200, 100), "JPEG"))
    # WHEN a backfill names it
    result, calls = handled(backfill(event), lambda_context)
    # THEN it is rendered again, and history holds the new version
    assert result["status"] == "success" and calls.of("GetObject") == 1
    assert stored("a.jpg")["source_version"] == result["source_version"] != ""


@pytest.mark.usefixtures("history_table")
def test_a_versioned_bucket_compares_version_ids_not_etags(pipeline, lambda_context):
    # GIVEN a versioned source where the same bytes were uploaded again after being rendered (same ETag)
    boto3.client("s3", region_name=REGION).put_bucket_versioning(
        Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"}
    )
    first = pipeline.upload("a.jpg", JPEG)
    app.lambda_handler(first, lambda_context)
    second = pipeline.upload("a.jpg", JPEG)
    assert second["Records"][0]["s3"]["object"]["eTag"] == first["Records"][0]["s3"]["object"]["eTag"]
    # WHEN a backfill names the key
    result, calls = handled(backfill(second), lambda_context)
    # THEN the new version is rendered; a second backfill then skips it
    assert result["status"] == "success" and calls.of("GetObject") == 1
    assert result["source_version"] == second["Records"][0]["s3"]["object"]["versionId"]
    assert handled(backfill(second), lambda_context)[0]["reason"] == "renditions current"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("RESIZE_WIDTH", "320"), ("RENDITIONS", '[{"name": "thumb", "width": 100, "height": 100}]')],
)
@pytest.mark.usefixtures("history_table")
def test_a_backfill_renders_again_after_the_renditions_changed(pipeline, lambda_context, monkeypatch, variable, value):
    # GIVEN an object rendered with the default renditions
    event = pipeline.upload("a.jpg", JPEG)
    app.lambda_handler(event, lambda_context)
    # WHEN the renditions configuration changes (a new container) and a backfill names the object
    monkeypatch.setenv(variable, value)
    clear_caches()
    result, calls = handled(backfill(event), lambda_context)
    # THEN it is rendered with the new configuration
    assert result["status"] == "success" and calls.of("GetObject") == 1
    # AND the next backfill with the same configuration skips it
    assert handled(backfill(event), lambda_context)[0]["reason"] == "renditions current"


@pytest.mark.usefixtures("history_table")
def test_a_backfill_renders_again_an_object_whose_last_outcome_was_a_failure(pipeline, lambda_context):
    # GIVEN an object whose upload failed to render
    event = pipeline.upload("a.jpg", b"not an image at all")
    app.lambda_handler(event, lambda_context)
    assert stored("a.jpg")["status"] == "failure"
    # WHEN a backfill names it
    result, calls = handled(backfill(event), lambda_context)
    # THEN it is downloaded and tried again
    assert calls.of("GetObject") == 1 and result["status"] == "failure"


def test_without_history_a_backfill_renders_every_object_again(pipeline, lambda_context):
    # GIVEN no history table, and an object rendered by its upload
    event = pipeline.upload("a.jpg", JPEG)
    app.lambda_handler(event, lambda_context)
    # WHEN a backfill names it
    result, calls = handled(backfill(event), lambda_context)
    # THEN it is rendered again (idempotent), without any DynamoDB call
    assert result["status"] == "success" and calls.of("GetObject") == 1
    assert [service for service, _ in calls.made if service == "dynamodb"] == []


@pytest.mark.usefixtures("history_table")
def test_an_s3_event_never_reads_history(pipeline, lambda_context):
    # GIVEN an object rendered before
    event = pipeline.upload("a.jpg", JPEG)
    app.lambda_handler(event, lambda_context)
    # WHEN the same S3 event arrives again (a duplicate delivery)
    result, calls = handled(event, lambda_context)
    # THEN it is reconciled as today: rendered, history written, never a GetItem
    assert result["status"] == "success" and calls.of("GetObject") == 1
    assert calls.of("GetItem") == 0 and calls.of("PutItem") == 1


@pytest.mark.usefixtures("history_table")
def test_an_unreadable_history_renders_the_object_again(pipeline, lambda_context, monkeypatch, caplog):
    # GIVEN an object rendered before, and a history table the function can no longer read
    event = pipeline.upload("a.jpg", JPEG)
    app.lambda_handler(event, lambda_context)
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=TABLE)
    # WHEN a backfill names it
    with caplog.at_level(logging.ERROR, logger="image-processor"):
        result, calls = handled(backfill(event), lambda_context)
    # THEN it is rendered again (never skipped on a guess) and the read error is logged
    assert result["status"] == "success" and calls.of("GetObject") == 1
    assert "history not read" in [line["message"] for line in log_lines(caplog)]


@pytest.mark.usefixtures("history_table")
def test_a_backfill_of_a_deleted_object_is_reconciled_as_before(pipeline, lambda_context):
    # GIVEN an object rendered before and then deleted
    app.lambda_handler(pipeline.upload("a.jpg", JPEG), lambda_context)
    removal = pipeline.delete("a.jpg")
    # WHEN a backfill sends its removal
    result, calls = handled(backfill(removal), lambda_context)
    # THEN its renditions are deleted, history is not consulted
    assert result["status"] == "deleted" and calls.of("GetItem") == 0
