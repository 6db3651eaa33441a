"""Per-image CloudWatch metrics in the embedded metric format: one stdout line, no API call."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

NAMESPACE = "ImageProcessor"


def emf_record(summary: dict[str, Any], function_name: str, now_ms: int | None = None) -> dict[str, Any]:
    """The EMF document for one processed or failed image (ImagesFailed carries the reason)."""
    values: dict[str, tuple[float, str]] = {}
    dimensions = ["FunctionName"]
    properties: dict[str, Any] = {"FunctionName": function_name}
    if summary["status"] == "success":
        width, height = summary.get("original_size", (0, 0))
        values = {
            "ImagesProcessed": (1, "Count"),
            "BytesIn": (summary.get("bytes_in", 0), "Bytes"),
            "BytesOut": (summary.get("bytes_out", 0), "Bytes"),
            "Pixels": (width * height, "Count"),
        }
    else:
        values = {"ImagesFailed": (1, "Count")}
        dimensions = ["FunctionName", "Reason"]
        properties["Reason"] = summary.get("error_type", "unknown")
    values["ProcessingMs"] = (summary.get("duration_ms", 0), "Milliseconds")
    return {
        "_aws": {
            "Timestamp": now_ms if now_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimensions],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
                }
            ],
        },
        **properties,
        **{name: value for name, (value, _) in values.items()},
    }


class _StdoutLines(logging.Handler):
    """Bare JSON lines on the current stdout: the Lambda log prefix would hide them from EMF."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(record.getMessage() + "\n")
        sys.stdout.flush()


logger = logging.getLogger("image-processor.metrics")
logger.propagate = False
logger.setLevel(logging.INFO)
if not logger.handlers:
    logger.addHandler(_StdoutLines())


def emit(summary: dict[str, Any], function_name: str) -> None:
    """Log the record as its own line; CloudWatch Logs turns it into metrics."""
    logger.info(json.dumps(emf_record(summary, function_name)))
