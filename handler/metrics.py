"""Per-record CloudWatch metrics in the embedded metric format: one log line, no API call."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from handler import log
from handler.outcome import DELETED, FAILURE, IGNORED, SKIPPED, SUCCESS

NAMESPACE = "ImageProcessor"
# The count metric of each status; failures and ignored records also carry their reason as a dimension.
COUNTS = {
    SUCCESS: "ImagesProcessed",
    FAILURE: "ImagesFailed",
    SKIPPED: "ImagesSkipped",
    DELETED: "ImagesDeleted",
    IGNORED: "RecordsIgnored",
}
WITH_REASON = (FAILURE, IGNORED)


def emf_record(document: Mapping[str, Any], function_name: str, now_ms: int | None = None) -> dict[str, Any]:
    """The EMF document for one outcome document (`Outcome.document()`)."""
    status = document["status"]
    values: dict[str, tuple[float, str]] = {COUNTS[status]: (1, "Count")}
    dimensions = ["FunctionName"]
    properties: dict[str, Any] = {"FunctionName": function_name}
    if status == SUCCESS:
        width, height = document.get("original_size") or (0, 0)
        values |= {
            "BytesIn": (document.get("bytes_in") or 0, "Bytes"),
            "BytesOut": (document.get("bytes_out") or 0, "Bytes"),
            "Pixels": (width * height, "Count"),
        }
    if status in WITH_REASON:
        dimensions = ["FunctionName", "Reason"]
        properties["Reason"] = document.get("error_type") or "unknown"
    values["ProcessingMs"] = (document.get("duration_ms") or 0, "Milliseconds")
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


def emit(document: Mapping[str, Any], function_name: str) -> None:
    """Write the record as its own log line; CloudWatch Logs turns it into metrics."""
    log.metric(emf_record(document, function_name))
