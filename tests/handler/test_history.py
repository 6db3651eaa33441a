"""Processing history in DynamoDB (moto): the latest outcome per source key, never failing the image."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from handler import app, history
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
