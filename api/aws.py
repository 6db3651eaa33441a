"""boto3 clients of the API function, created once per container on first use."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# An API call must answer quickly: few retries, short timeouts (API Gateway gives up after 30 s).
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 2}, connect_timeout=2, read_timeout=5, signature_version="s3v4"
)


@cache
def s3(accelerate: bool = False) -> S3Client:
    """S3 client; with `accelerate`, presigned URLs point at the bucket's Transfer Acceleration endpoint."""
    return boto3.client("s3", config=_CONFIG.merge(Config(s3={"use_accelerate_endpoint": accelerate})))


@cache
def dynamodb() -> DynamoDBClient:
    """DynamoDB client (processing history reads)."""
    return boto3.client("dynamodb", config=_CONFIG)
