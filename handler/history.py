"""Processing history: the latest outcome per source key in DynamoDB (optional)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from handler import aws, log
from handler.outcome import SKIPPED, SUCCESS

if TYPE_CHECKING:
    from handler.settings import Settings

# The reason of a backfill's skip: the item already says this version was rendered with this configuration.
CURRENT = "renditions current"


def item(
    document: Mapping[str, Any], now: datetime | None = None, *, renditions_hash: str | None = None
) -> dict[str, Any]:
    """The DynamoDB item for an outcome document: key, status, time, error and the whole document as JSON.

    With the source version and the configuration's `renditions_hash`, a later backfill can tell that
    this version's renditions are current without reading the destination (`is_current`).
    """
    values = {
        "source_key": document["source_key"],
        "status": document["status"],
        "updated_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "summary": json.dumps(document, sort_keys=True, default=str),
    }
    if document.get("error_type"):
        values["error"] = f"{document['error_type']}: {document.get('error_message') or ''}"
    if document.get("source_version"):
        values["source_version"] = str(document["source_version"])
    if renditions_hash:
        values["renditions_hash"] = renditions_hash
    return {name: {"S": value} for name, value in values.items()}


def record(table: str, document: Mapping[str, Any], *, renditions_hash: str | None = None) -> None:
    """Write the outcome; a failure is logged and never fails the invocation (the image is already done).

    A backfill's "renditions current" skip leaves the item alone: the success it confirmed stays the
    latest word (the API shows its renditions, and the next run skips the object again).
    """
    if not table or not document.get("source_key"):
        return
    if document.get("status") == SKIPPED and document.get("reason") == CURRENT:
        return
    try:
        aws.dynamodb().put_item(TableName=table, Item=item(document, renditions_hash=renditions_hash))
    except (BotoCoreError, ClientError) as error:
        log.error("history not written", key=document["source_key"], error=str(error))


def renditions_hash(config: Settings) -> str:
    """A short hash of what decides the renditions' bytes and keys: the specs, destination and Cache-Control.

    A watermark image replaced under the same key does not change it (see docs/backfill-workflow.md).
    """
    return _hash(config.destination_bucket, config.cache_control, config.renditions)


@cache
def _hash(destination_bucket: str, cache_control: str, renditions: tuple[Any, ...]) -> str:
    specs = [dataclasses.asdict(spec) for spec in renditions]
    text = json.dumps([destination_bucket, cache_control, specs], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rendered_version(table: str, source_key: str, wanted_hash: str) -> str | None:
    """The source version the table says was rendered successfully with `wanted_hash`, else None (one GetItem).

    Strongly consistent, so an outcome written a moment ago counts. A read error is logged and means
    "not known": the object is rendered again, which is always safe.
    """
    try:
        response = aws.dynamodb().get_item(
            TableName=table,
            Key={"source_key": {"S": source_key}},
            ConsistentRead=True,
            ProjectionExpression="#s, source_version, renditions_hash",
            ExpressionAttributeNames={"#s": "status"},
        )
    except (BotoCoreError, ClientError) as error:
        log.error("history not read", key=source_key, error=str(error))
        return None
    found = {name: value.get("S") for name, value in response.get("Item", {}).items()}
    if found.get("status") != SUCCESS or found.get("renditions_hash") != wanted_hash:
        return None
    return found.get("source_version")
