"""Processing history in DynamoDB (moto): the latest outcome per source key, never failing the image."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import boto3
import pytest

from handler import app, history
from local.samples import encode, photo
from tests.conftest import REGION, clear_caches
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
