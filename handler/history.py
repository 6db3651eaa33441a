"""Processing history: the latest outcome per source key in DynamoDB (optional)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handler import aws, log


def item(document: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The DynamoDB item for an outcome document: key, status, time, error and the whole document as JSON."""
    values = {
        "source_key": document["source_key"],
        "status": document["status"],
        "updated_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "summary": json.dumps(document, sort_keys=True, default=str),
    }
    if document.get("error_type"):
        values["error"] = f"{document['error_type']}: {document.get('error_message') or ''}"
    return {name: {"S": value} for name, value in values.items()}


def record(table: str, document: Mapping[str, Any]) -> None:
    """Write the outcome; a failure is logged and never fails the invocation (the image is already done)."""
    if not table or not document.get("source_key"):
        return
    try:
        aws.dynamodb().put_item(TableName=table, Item=item(document))
    except (BotoCoreError, ClientError) as error:
        log.error("history not written", key=document["source_key"], error=str(error))
