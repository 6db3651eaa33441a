"""The one logger and the one outcome document."""

from __future__ import annotations

import json
import logging
import re
from pathlib import PurePosixPath

import pytest

from handler import app, log
from handler.outcome import Outcome, RenditionMade
from local.samples import encode, photo
from tests.conftest import clear_caches, log_lines


@pytest.fixture
def restore_logging():
    yield
    log.configure({})
    log.LOGGER.handlers.clear()
    log.LOGGER.propagate = True


@pytest.mark.parametrize(
    ("configured", "shown"),
    [
        ("", ["INFO", "WARN", "ERROR"]),
        ("WARN", ["WARN", "ERROR"]),
        ("ERROR", ["ERROR"]),
        ("DEBUG", ["DEBUG", "INFO", "WARN", "ERROR"]),
    ],
)
def test_lambdas_log_level_is_honoured(restore_logging, caplog, configured, shown):
    # GIVEN Lambda's configured application log level
    log.configure({"AWS_LAMBDA_LOG_LEVEL": configured})
    # WHEN a line of each level is logged
    with caplog.at_level(logging.DEBUG, logger="image-processor.metrics"):
        for write in (log.debug, log.info, log.warning, log.error):
            write("hello")
    # THEN only those at or above it are written
    assert [line["level"] for line in log_lines(caplog)] == shown


def test_in_lambda_lines_are_bare_json_on_stdout_with_the_request_id(restore_logging, capsys):
    # GIVEN the logger configured as in Lambda, within an invocation
    log.configure({"AWS_LAMBDA_FUNCTION_NAME": "image-processor-dev", "AWS_LAMBDA_LOG_LEVEL": "ERROR"})
    log.bind("request-1")
    # WHEN an error and a metric are written
    log.error("broken", key="a.jpg")
    log.metric({"_aws": {}, "ImagesFailed": 1})
    # THEN both are JSON lines naming the request; the metric passes the ERROR filter with that level
    error, metric = (json.loads(text) for text in capsys.readouterr().out.splitlines())
    assert (error["level"], error["message"], error["key"], error["request_id"]) == (
        "ERROR",
        "broken",
        "a.jpg",
        "request-1",
    )
    assert error["timestamp"].endswith("Z")
    assert (metric["level"], metric["request_id"], metric["ImagesFailed"]) == ("ERROR", "request-1", 1)


def test_every_line_of_an_invocation_carries_its_request_id(pipeline, lambda_context, caplog, monkeypatch):
    monkeypatch.setenv("HISTORY_TABLE", "no-such-table")  # its failure is logged from another module
    clear_caches()
    with caplog.at_level(logging.INFO, logger="image-processor"):
        app.lambda_handler(pipeline.upload("a.jpg", encode(photo(40, 30), "JPEG")), lambda_context)
    lines = log_lines(caplog)
    assert [line["message"] for line in lines] == ["history not written", "success"]
    assert {line["request_id"] for line in lines} == {lambda_context.aws_request_id}


def test_the_document_is_the_one_serialisation():
    # GIVEN an outcome with a rendition
    made = RenditionMade("thumb", "resized/thumb/a.jpg", (10, 8), 123, "jpeg")
    outcome = Outcome(
        "success", "src", "a.jpg", "dst", "r-1", destination_key=made.key, renditions=(made,), new_size=(10, 8)
    )
    document = outcome.document()
    # THEN it has schema version 1, lists for sizes and every field the notification reads
    assert document["version"] == 1
    assert document["renditions"] == [
        {"name": "thumb", "key": "resized/thumb/a.jpg", "size": [10, 8], "bytes": 123, "format": "jpeg"}
    ]
    assert document["new_size"] == [10, 8] and document["original_size"] is None
    assert set(document) >= {
        "status", "source_bucket", "source_key", "destination_bucket", "destination_key", "request_id", "bytes_in",
        "bytes_out", "source_format", "original_size", "new_size", "renditions", "error_type", "error_message",
        "duration_ms", "version",
    }  # fmt: skip
    assert json.loads(json.dumps(document)) == document


def test_failed_turns_any_outcome_into_a_notified_failure():
    failed = Outcome("skipped", "src", "a.jpg", "dst", "r").failed("corrupt", "truncated")
    assert (failed.status, failed.error_type, failed.error_message, failed.notifies) == (
        "failure",
        "corrupt",
        "truncated",
        True,
    )
    assert not Outcome("deleted", "src", "a.jpg", "dst", "r").notifies


@pytest.mark.parametrize(
    ("configured", "level"),
    [
        ("TRACE", logging.DEBUG),
        ("debug", logging.DEBUG),
        (" info ", logging.INFO),
        ("WARN", logging.WARNING),
        ("WARNING", logging.WARNING),
        ("ERROR", logging.ERROR),
        ("FATAL", logging.CRITICAL),
        ("LOUD", logging.INFO),
    ],
)
def test_each_lambda_level_name_maps_to_pythons(restore_logging, configured, level):
    # GIVEN one of Lambda's level names, in any case and spacing, or an unknown one
    # WHEN the logger is configured
    log.configure({"AWS_LAMBDA_LOG_LEVEL": configured})
    # THEN its level is Python's equivalent (INFO for an unknown name)
    assert log.LOGGER.level == level


@pytest.mark.parametrize(
    ("level", "name"),
    [(logging.DEBUG, "DEBUG"), (logging.INFO, "INFO"), (logging.WARNING, "WARN"), (logging.ERROR, "ERROR"),
     (logging.CRITICAL, "FATAL")],
)  # fmt: skip
def test_a_line_names_its_level_as_lambda_does(level, name):
    # GIVEN a bound request WHEN a line is made THEN its level is Lambda's name and it names the request
    log.bind("request-2")
    document = json.loads(log.line(level, "hello", {"key": "a.jpg"}))
    assert list(document) == ["level", "timestamp", "message", "request_id", "key"]
    assert (document["level"], document["message"], document["request_id"]) == (name, "hello", "request-2")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", document["timestamp"])


def test_in_lambda_configuring_twice_writes_each_line_once(restore_logging, capsys):
    # GIVEN the logger configured twice, as in Lambda (a warm container re-running configure)
    for _ in range(2):
        log.configure({"AWS_LAMBDA_FUNCTION_NAME": "fn"})
    # WHEN a line and a metric are written
    log.info("hello")
    log.metric({"Count": 1})
    # THEN each is on stdout once, and neither goes to the host's logging
    lines = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert [line["message"] for line in lines] == ["hello", "metric"]
    assert not log.LOGGER.propagate and not log.METRICS.propagate


def test_outside_lambda_lines_go_to_the_hosts_logging_and_metrics_are_never_filtered(restore_logging, capsys):
    # GIVEN the logger configured outside Lambda at DEBUG
    log.configure({"AWS_LAMBDA_LOG_LEVEL": "DEBUG"})
    # WHEN a line and a metric are written
    log.debug("hello")
    log.metric({"Count": 1})
    # THEN the line propagates to the host, the metric is on stdout labelled INFO (never DEBUG)
    (metric,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert log.LOGGER.propagate and not log.LOGGER.handlers
    assert (metric["message"], metric["level"], metric["Count"]) == ("metric", "INFO", 1)
    assert log.METRICS.level == logging.DEBUG


@pytest.mark.parametrize(
    ("write", "level"), [(log.debug, "DEBUG"), (log.info, "INFO"), (log.warning, "WARN"), (log.error, "ERROR")]
)
def test_each_writer_passes_its_message_and_fields(restore_logging, caplog, write, level):
    # GIVEN the logger at DEBUG WHEN a line is written with a field THEN the line has its level, message and field
    log.configure({"AWS_LAMBDA_LOG_LEVEL": "DEBUG"})
    with caplog.at_level(logging.DEBUG, logger="image-processor"):
        write("hello", key="a.jpg")
    (line,) = log_lines(caplog)
    assert (line["level"], line["message"], line["key"]) == (level, "hello", "a.jpg")


def test_a_value_json_cannot_hold_is_written_as_its_text():
    assert json.loads(log.line(logging.INFO, "m", {"path": PurePosixPath("a/b")}))["path"] == "a/b"


def test_configure_gives_the_metric_logger_its_stdout_lines(restore_logging, capsys):
    # GIVEN a metric logger without a handler (as before the first configuration)
    handlers = list(log.METRICS.handlers)
    log.METRICS.handlers.clear()
    try:
        # WHEN the logger is configured and a metric written
        log.configure({})
        log.metric({"Count": 2})
        # THEN the metric is a bare JSON line on stdout
        assert json.loads(capsys.readouterr().out)["Count"] == 2
    finally:
        log.METRICS.handlers[:] = handlers
