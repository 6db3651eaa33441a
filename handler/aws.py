"""boto3 clients, created once per container on first use (so tests can start moto first)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient

# Standard mode retries throttling and transient errors with exponential backoff and jitter.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=20)


@cache
def s3() -> S3Client:
    """The container's S3 client."""
    return boto3.client("s3", config=_CONFIG)


@cache
def sns() -> SNSClient:
    """The container's SNS client."""
    return boto3.client("sns", config=_CONFIG)


@cache
def dynamodb() -> DynamoDBClient:
    """The container's DynamoDB client (processing history)."""
    return boto3.client("dynamodb", config=_CONFIG)


@cache
def cloudfront() -> CloudFrontClient:
    """The container's CloudFront client (invalidations of replaced renditions)."""
    return boto3.client("cloudfront", config=_CONFIG)
