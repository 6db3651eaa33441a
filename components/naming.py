"""Resource names shared by the Pulumi program and the local pipeline (pure: no Pulumi import)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from components.args import ArgError

PROJECT = "image-processor"
# The S3 request-metrics filter that covers a whole bucket (the AllRequests metric's FilterId).
REQUEST_METRICS_FILTER = "EntireBucket"
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def bucket_name_problem(name: str) -> str | None:
    """Why S3 would refuse `name` as a bucket name, or None."""
    if not _BUCKET_NAME.match(name) or ".." in name or "--" in name:
        return f"{name!r} breaks S3's bucket name rules (3-63 characters: lower-case letters, digits, single hyphens)"
    return None


def validate_bucket_name(name: str, field: str) -> str:
    """Return `name` if S3 accepts it, else raise ValueError naming `field`, the setting to change."""
    problem = bucket_name_problem(name)
    if problem:
        raise ArgError(field, problem)
    return name


def bucket_name(role: str, stack: str, account_id: str) -> str:
    """`image-processor-<role>-<stack>-<account>`: the spec's names with the stack added."""
    name = f"{PROJECT}-{role}-{stack}-{account_id}"
    problem = bucket_name_problem(name)
    if problem:
        raise ValueError(f"{problem}: change the stack name, or set the bucket names in the stack config")
    return name


def function_name(stack: str) -> str:
    """The Lambda function's name, which also names its log group."""
    return f"{PROJECT}-{stack}"


def validate_emails(addresses: Sequence[str], field: str) -> None:
    """Raise ValueError naming `field` unless there is at least one address and each looks like one."""
    if not addresses:
        raise ArgError(field, "needs at least one e-mail address")
    for address in addresses:
        if not _EMAIL.match(address):
            raise ArgError(field, f"has {address!r}, which is not an e-mail address")
