"""Embedded-metric-format records: valid EMF, per image, without any API call."""

from __future__ import annotations

import json
import time

from handler import app
from handler.metrics import NAMESPACE, emf_record, emit
from local.samples import encode, photo
from tests.conftest import s3_event


def assert_valid_emf(record):
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    for dimension_set in directive["Dimensions"]:
        assert all(isinstance(record[name], str) for name in dimension_set)
    for metric in directive["Metrics"]:
        assert isinstance(record[metric["Name"]], int | float)
    assert isinstance(record["_aws"]["Timestamp"], int)


def test_success_record_has_the_image_metrics():
    """GIVEN a success document WHEN turned into EMF THEN it counts the image, bytes, pixels and time."""
    summary = {"status": "success", "bytes_in": 1000, "bytes_out": 100, "original_size": [40, 30], "duration_ms": 12}
    record = emf_record(summary, "image-processor-dev", now_ms=1)
    assert_valid_emf(record)
    assert {name: record[name] for name in ("ImagesProcessed", "BytesIn", "BytesOut", "Pixels", "ProcessingMs")} == {
        "ImagesProcessed": 1,
        "BytesIn": 1000,
        "BytesOut": 100,
        "Pixels": 1200,
        "ProcessingMs": 12,
    }
    assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["FunctionName"]]


def test_failure_record_counts_by_reason():
    """GIVEN a failure document WHEN turned into EMF THEN ImagesFailed by Reason, no ImagesProcessed."""
    record = emf_record({"status": "failure", "error_type": "corrupt", "duration_ms": 3}, "fn", now_ms=1)
    assert_valid_emf(record)
    assert (record["ImagesFailed"], record["Reason"]) == (1, "corrupt")
    assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["FunctionName", "Reason"]]
    assert "ImagesProcessed" not in record


def test_the_handler_prints_one_emf_line_per_image(pipeline, lambda_context, capsys):
    """GIVEN a good and a broken upload WHEN handled THEN one valid EMF line each."""
    pipeline.upload("a.jpg", encode(photo(400, 300), "JPEG"))
    pipeline.upload("b.jpg", b"broken")

    app.lambda_handler(s3_event("a.jpg", "b.jpg"), lambda_context)
    lines = [line for line in map(json.loads, capsys.readouterr().out.splitlines()) if "_aws" in line]
    assert [line.get("ImagesProcessed", 0) for line in lines] == [1, 0]
    assert lines[1]["Reason"] == "not_an_image"
    for line in lines:
        assert_valid_emf(line)


def test_every_status_has_its_count_and_only_refusals_a_reason():
    """GIVEN each status WHEN turned into EMF THEN its own count metric; Reason only for failures and ignored."""
    for status, metric in (
        ("skipped", "ImagesSkipped"),
        ("deleted", "ImagesDeleted"),
        ("ignored", "RecordsIgnored"),
        ("failure", "ImagesFailed"),
        ("success", "ImagesProcessed"),
    ):
        record = emf_record({"status": status, "error_type": "why"}, "fn", now_ms=1)
        assert_valid_emf(record)
        assert record[metric] == 1
        assert ("Reason" in record) is (status in ("failure", "ignored"))


def test_the_whole_success_record_with_units():
    # GIVEN a success document WHEN turned into EMF at a given time
    document = {"status": "success", "bytes_in": 1000, "bytes_out": 100, "original_size": [40, 30], "duration_ms": 12}
    record = emf_record(document, "fn", now_ms=1234)
    # THEN the record is the whole EMF document: directive with units, dimension values, metric values
    assert record == {
        "_aws": {
            "Timestamp": 1234,
            "CloudWatchMetrics": [
                {
                    "Namespace": "ImageProcessor",
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [
                        {"Name": "ImagesProcessed", "Unit": "Count"},
                        {"Name": "BytesIn", "Unit": "Bytes"},
                        {"Name": "BytesOut", "Unit": "Bytes"},
                        {"Name": "Pixels", "Unit": "Count"},
                        {"Name": "ProcessingMs", "Unit": "Milliseconds"},
                    ],
                }
            ],
        },
        "FunctionName": "fn",
        "ImagesProcessed": 1,
        "BytesIn": 1000,
        "BytesOut": 100,
        "Pixels": 1200,
        "ProcessingMs": 12,
    }


def test_missing_values_count_as_zero_and_an_unnamed_failure_as_unknown():
    # GIVEN a success and a failure document without sizes, bytes, duration or error type
    success = emf_record({"status": "success"}, "fn", now_ms=1)
    failure = emf_record({"status": "failure"}, "fn", now_ms=1)
    # THEN their values are zero and the failure's reason is "unknown"
    assert [success[name] for name in ("BytesIn", "BytesOut", "Pixels", "ProcessingMs")] == [0, 0, 0, 0]
    assert (failure["Reason"], failure["ProcessingMs"]) == ("unknown", 0)


def test_emit_writes_the_record_stamped_with_the_current_time_in_milliseconds(capsys):
    # GIVEN the current time WHEN a failure document is emitted
    before = int(time.time() * 1000)
    emit({"status": "failure", "error_type": "corrupt"}, "fn")
    after = int(time.time() * 1000)
    # THEN one metric line holds the record for that function, stamped within the call
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert (line["FunctionName"], line["ImagesFailed"], line["Reason"]) == ("fn", 1, "corrupt")
    assert before <= line["_aws"]["Timestamp"] <= after
