"""The function's one logger: a JSON object per line, with the invocation's request id on every line.

In Lambda (AWS_LAMBDA_FUNCTION_NAME set) lines go bare to stdout, so CloudWatch Logs Insights and the
embedded metric format read them as JSON, and Lambda's log-level filter reads their "level". Elsewhere
(tests, `make demo`) they propagate to the host's logging. The level is Lambda's configured application
log level (AWS_LAMBDA_LOG_LEVEL), INFO when unset.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

LOGGER = logging.getLogger("image-processor")
# Metric lines are a child, so a host (the demo) can send them elsewhere, and they pass any level filter.
METRICS = logging.getLogger("image-processor.metrics")
# Lambda's level names -> Python's.
LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
}
_NAMES = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN", logging.ERROR: "ERROR"}
_request_id: ContextVar[str] = ContextVar("request_id", default="")


class _StdoutLines(logging.Handler):
    """Bare lines on the current stdout: Lambda's own prefix would hide the JSON from EMF."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(record.getMessage() + "\n")
        sys.stdout.flush()


def configure(env: Mapping[str, str]) -> None:
    """Set the level from AWS_LAMBDA_LOG_LEVEL; in Lambda, write bare lines to stdout (cold start)."""
    LOGGER.setLevel(LEVELS.get(env.get("AWS_LAMBDA_LOG_LEVEL", "").strip().upper(), logging.INFO))
    METRICS.setLevel(logging.DEBUG)
    METRICS.propagate = False
    if not METRICS.handlers:
        METRICS.addHandler(_StdoutLines())
    in_lambda = bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))
    LOGGER.propagate = not in_lambda
    if in_lambda and not LOGGER.handlers:
        LOGGER.addHandler(_StdoutLines())


def bind(request_id: str) -> None:
    """Name the invocation every following line belongs to."""
    _request_id.set(request_id)


def line(level: int, message: str, fields: Mapping[str, Any]) -> str:
    """The JSON text of one line (level, time, message, request id, then the fields)."""
    document = {
        "level": _NAMES.get(level, "FATAL"),
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "message": message,
        "request_id": _request_id.get(),
        **fields,
    }
    return json.dumps(document, default=str)


def log(level: int, message: str, **fields: Any) -> None:
    """Log one JSON line at `level` when the configured level lets it through."""
    if LOGGER.isEnabledFor(level):
        LOGGER.log(level, line(level, message, fields))


def debug(message: str, **fields: Any) -> None:
    """A DEBUG line."""
    log(logging.DEBUG, message, **fields)


def info(message: str, **fields: Any) -> None:
    """An INFO line."""
    log(logging.INFO, message, **fields)


def warning(message: str, **fields: Any) -> None:
    """A WARN line."""
    log(logging.WARNING, message, **fields)


def error(message: str, **fields: Any) -> None:
    """An ERROR line."""
    log(logging.ERROR, message, **fields)


def metric(document: Mapping[str, Any]) -> None:
    """An embedded-metric-format line: never filtered out, labelled at the configured level so Lambda keeps it."""
    level = max(logging.INFO, LOGGER.getEffectiveLevel())
    METRICS.log(logging.INFO, line(level, "metric", document))


configure({})
