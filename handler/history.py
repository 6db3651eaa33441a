"""Processing history: the latest outcome per source key in DynamoDB (optional)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handler import aws

logger = logging.getLogger(__name__)


def item(summary: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The DynamoDB item for an outcome: key, status, time, error and the whole summary as JSON."""
    values = {
        "source_key": summary["source_key"],
        "status": summary["status"],
        "updated_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "summary": json.dumps(summary, sort_keys=True, default=str),
    }
    if summary.get("error_type"):
        values["error"] = f"{summary['error_type']}: {summary.get('error_message', '')}"
    return {name: {"S": value} for name, value in values.items()}


def record(table: str, summary: dict[str, Any]) -> None:
    """Write the outcome; a failure is logged and never fails the invocation (the image is already done)."""
    if not table:
        return
    try:
        aws.dynamodb().put_item(TableName=table, Item=item(summary))
    except (BotoCoreError, ClientError) as error:
        logger.error(json.dumps({"message": "history not written", "key": summary["source_key"], "error": str(error)}))
