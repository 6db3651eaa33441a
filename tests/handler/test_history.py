"""Processing history in DynamoDB (moto): the latest outcome per source key, never failing the image."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from handler import app, history
from handler.renditions import RenditionSpec
from handler.settings import Settings
from local.samples import encode, photo
from tests.conftest import REGION, clear_caches, log_lines
from tests.handler.test_app import destination_keys

TABLE = "image-processor-history"


@pytest.fixture
def history_table(pipeline, monkeypatch):
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "source_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "source_key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("HISTORY_TABLE", TABLE)
    clear_caches()
    return pipeline


def stored(key: str) -> dict:
    response = boto3.client("dynamodb", region_name=REGION).get_item(TableName=TABLE, Key={"source_key": {"S": key}})
    return {name: value["S"] for name, value in response["Item"].items()}


def test_item_shape():
    """GIVEN a failure document WHEN turned into an item THEN time, error and document are strings."""
    when = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    item = history.item(
        {"source_key": "a.jpg", "status": "failure", "error_type": "corrupt", "error_message": "truncated"}, when
    )
    assert item["updated_at"] == {"S": "2026-11-25T06:00:00+00:00"}
    assert item["error"] == {"S": "corrupt: truncated"}
    assert json.loads(item["summary"]["S"])["status"] == "failure"


def test_each_outcome_is_recorded_and_the_latest_wins(history_table, lambda_context):
    """GIVEN failure, success and deletion of one key WHEN each is handled THEN the item shows the latest."""
    app.lambda_handler(history_table.upload("a.jpg", b"broken"), lambda_context)
    assert stored("a.jpg")["status"] == "failure"
    assert stored("a.jpg")["error"].startswith("not_an_image")
    app.lambda_handler(history_table.upload("a.jpg", encode(photo(400, 300), "JPEG")), lambda_context)
    record = stored("a.jpg")
    assert record["status"] == "success" and "error" not in record
    assert json.loads(record["summary"])["new_size"] == [400, 300]
    app.lambda_handler(history_table.delete("a.jpg"), lambda_context)
    assert stored("a.jpg")["status"] == "deleted"


def test_a_history_failure_does_not_fail_the_image(pipeline, lambda_context, monkeypatch, caplog):
    """GIVEN a missing history table WHEN an upload is handled THEN it succeeds and the error is logged."""
    monkeypatch.setenv("HISTORY_TABLE", "no-such-table")
    clear_caches()
    with caplog.at_level(logging.ERROR):
        result = app.lambda_handler(pipeline.upload("a.jpg", encode(photo(400, 300), "JPEG")), lambda_context)
    assert result["results"][0]["status"] == "success"
    assert destination_keys() == ["resized/a.jpg"]
    assert any("history not written" in record.getMessage() for record in caplog.records)


def test_cache_control_is_set_on_renditions_when_configured(pipeline, lambda_context, monkeypatch):
    """GIVEN CACHE_CONTROL WHEN an upload is handled THEN the rendition carries it."""
    monkeypatch.setenv("CACHE_CONTROL", "public, max-age=31536000")
    clear_caches()
    app.lambda_handler(pipeline.upload("a.jpg", encode(photo(400, 300), "JPEG")), lambda_context)
    head = boto3.client("s3", region_name=REGION).head_object(
        Bucket="image-processor-processed-test-123456789012", Key="resized/a.jpg"
    )
    assert head["CacheControl"] == "public, max-age=31536000"


class RecordingTable:
    """A DynamoDB client that records put_item calls, or raises `error`."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict] = []
        self.error = error

    def put_item(self, **arguments):
        self.calls.append(arguments)
        if self.error:
            raise self.error


def test_the_whole_item_of_a_success_and_a_failure_without_message():
    when = datetime(2026, 11, 25, 6, 0, 0, 123456, tzinfo=UTC)
    document = {"source_key": "a.jpg", "status": "success", "b": 1, "a": 2}
    # GIVEN a success document WHEN turned into an item THEN key, status, time in seconds and the sorted JSON
    assert history.item(document, when) == {
        "source_key": {"S": "a.jpg"},
        "status": {"S": "success"},
        "updated_at": {"S": "2026-11-25T06:00:00+00:00"},
        "summary": {"S": '{"a": 2, "b": 1, "source_key": "a.jpg", "status": "success"}'},
    }
    # GIVEN a failure without message THEN its error is the type alone; without a time, now
    failure = history.item({"source_key": "a.jpg", "status": "failure", "error_type": "corrupt"})
    assert failure["error"] == {"S": "corrupt: "}
    stamped = datetime.fromisoformat(failure["updated_at"]["S"])
    assert abs((datetime.now(UTC) - stamped).total_seconds()) < 5


def test_record_writes_the_item_to_the_table(monkeypatch):
    table = RecordingTable()
    monkeypatch.setattr(history.aws, "dynamodb", lambda: table)
    document = {"source_key": "a.jpg", "status": "success"}
    history.record(TABLE, document)
    ((call),) = table.calls
    assert call["TableName"] == TABLE
    assert call["Item"]["source_key"] == {"S": "a.jpg"} and json.loads(call["Item"]["summary"]["S"]) == document


def test_record_does_nothing_without_a_table_or_a_key(monkeypatch):
    table = RecordingTable()
    monkeypatch.setattr(history.aws, "dynamodb", lambda: table)
    history.record("", {"source_key": "a.jpg", "status": "success"})
    history.record(TABLE, {"status": "ignored"})
    assert table.calls == []


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "PutItem"),
        EndpointConnectionError(endpoint_url="x"),
    ],
)
def test_a_failed_write_is_one_error_line_naming_the_key(monkeypatch, caplog, error):
    monkeypatch.setattr(history.aws, "dynamodb", lambda: RecordingTable(error))
    with caplog.at_level(logging.INFO, logger="image-processor"):
        history.record(TABLE, {"source_key": "a.jpg", "status": "success"})
    (line,) = log_lines(caplog)
    assert (line["level"], line["message"], line["key"], line["error"]) == (
        "ERROR",
        "history not written",
        "a.jpg",
        str(error),
    )


def test_a_value_json_cannot_hold_is_kept_as_its_text():
    when = datetime(2026, 11, 25, tzinfo=UTC)
    summary = history.item({"source_key": "a.jpg", "status": "success", "at": when}, when)["summary"]["S"]
    assert json.loads(summary)["at"] == str(when)


@pytest.fixture
def table(aws_credentials):
    """An empty history table in moto, the handler's clients created afresh."""
    with mock_aws():
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "source_key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "source_key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        clear_caches()
        yield TABLE
    clear_caches()


def success(key: str = "a.jpg", version: str | None = "v-1") -> dict:
    return {"source_key": key, "status": "success", "source_version": version}


def test_a_success_recorded_with_a_hash_names_its_version_for_that_hash_only(table):
    # GIVEN version v-1 of a.jpg rendered successfully with configuration hash h1
    history.record(table, success(), renditions_hash="h1")
    # WHEN a backfill asks which version is current
    # THEN with h1 it is v-1; with another configuration, or for another key, nothing is known
    assert history.rendered_version(table, "a.jpg", "h1") == "v-1"
    assert history.rendered_version(table, "a.jpg", "h2") is None
    assert history.rendered_version(table, "b.jpg", "h1") is None


@pytest.mark.parametrize(
    "document",
    [
        {**success(), "status": "failure", "error_type": "corrupt"},
        {**success(), "status": "deleted"},
        success(version=None),
    ],
    ids=["failure", "deleted", "no-version"],
)
def test_the_latest_outcome_must_be_a_success_with_a_version(table, document):
    # GIVEN a success for h1, then a later outcome that is not a versioned success
    history.record(table, success(), renditions_hash="h1")
    history.record(table, document, renditions_hash="h1")
    # WHEN the current version is asked THEN none is: the object is rendered again
    assert history.rendered_version(table, "a.jpg", "h1") is None


def test_a_backfills_current_skip_keeps_the_success_it_confirmed(table):
    # GIVEN a success, then a backfill's skip because its renditions are current
    history.record(table, success(), renditions_hash="h1")
    history.record(table, {**success(), "status": "skipped", "reason": history.CURRENT}, renditions_hash="h1")
    # THEN the success is still the latest word; another kind of skip replaces it
    assert history.rendered_version(table, "a.jpg", "h1") == "v-1"
    history.record(table, {**success(), "status": "skipped", "reason": "not an image"}, renditions_hash="h1")
    assert history.rendered_version(table, "a.jpg", "h1") is None


def test_an_unreadable_history_is_not_known_and_one_error_line(aws_credentials, caplog):
    # GIVEN no table at all (moto without it)
    with mock_aws():
        clear_caches()
        with caplog.at_level(logging.INFO, logger="image-processor"):
            version = history.rendered_version(TABLE, "a.jpg", "h1")
    clear_caches()
    # THEN nothing is known, and the error line names the key and what DynamoDB said
    assert version is None
    (line,) = log_lines(caplog)
    assert (line["level"], line["message"], line["key"]) == ("ERROR", "history not read", "a.jpg")
    assert "ResourceNotFoundException" in line["error"]


def test_the_item_keeps_the_version_as_text_and_the_hash_when_given():
    when = datetime(2026, 11, 25, tzinfo=UTC)
    item = history.item({"source_key": "a.jpg", "status": "success", "source_version": 7}, when, renditions_hash="h1")
    assert (item["source_version"], item["renditions_hash"]) == ({"S": "7"}, {"S": "h1"})
    assert "renditions_hash" not in history.item(success(), when)


def test_the_renditions_hash_changes_with_what_decides_the_renditions_and_only_that():
    # GIVEN one configuration
    base = Settings(destination_bucket="dst", topic_arn="arn:t", cache_control="max-age=60")
    # WHEN the destination, Cache-Control or the renditions change THEN the hash changes; the topic does not count
    changed = [
        replace(base, destination_bucket="other"),
        replace(base, cache_control=""),
        replace(base, renditions=(RenditionSpec(width=10),)),
    ]
    hashes = {history.renditions_hash(config) for config in changed}
    assert len(hashes | {history.renditions_hash(base)}) == 4
    assert history.renditions_hash(replace(base, topic_arn="arn:other")) == history.renditions_hash(base)


def test_the_read_is_strongly_consistent_so_an_outcome_written_a_moment_ago_counts(monkeypatch):
    # GIVEN a client that records the request (moto's reads are always consistent, DynamoDB's only on request)
    requests: list[dict] = []

    class Client:
        def get_item(self, **request):
            requests.append(request)
            return {}

    monkeypatch.setattr(history.aws, "dynamodb", Client)
    # WHEN a backfill asks for the current version THEN it asks DynamoDB for a strongly consistent read
    assert history.rendered_version(TABLE, "a.jpg", "h1") is None
    assert [request["ConsistentRead"] for request in requests] == [True]
