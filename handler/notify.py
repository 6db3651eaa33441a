"""Success and failure notifications: a readable summary plus machine-readable JSON, on SNS."""

from __future__ import annotations

import json
import logging
import unicodedata
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handler import aws

SUBJECT_LIMIT = 100
logger = logging.getLogger(__name__)


def subject(status: str, key: str) -> str:
    """A short, ASCII-only SNS subject (SNS rejects others), at most 100 characters."""
    word = "processed" if status == "success" else "FAILED"
    ascii_key = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode("ascii")
    printable = "".join(ch if ch.isprintable() else "?" for ch in ascii_key)
    text = f"Image {word}: {printable}"
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


def body(summary: dict[str, Any]) -> str:
    """Readable lines first, then the JSON document subscribers can parse."""
    lines = [f"{name}: {value}" for name, value in summary.items() if value is not None]
    return "\n".join(lines) + "\n\n" + json.dumps(summary, sort_keys=True)


def publish(topic_arn: str, summary: dict[str, Any]) -> bool:
    """Publish a notification; a failure is logged and reported as False, never raised."""
    status = str(summary["status"])
    try:
        aws.sns().publish(
            TopicArn=topic_arn,
            Subject=subject(status, str(summary.get("source_key", ""))),
            Message=body(summary),
            MessageAttributes={"status": {"DataType": "String", "StringValue": status}},
        )
    except (BotoCoreError, ClientError) as error:
        logger.error(json.dumps({"message": "notification not sent", "error": str(error), "status": status}))
        return False
    return True
