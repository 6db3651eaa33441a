"""Resource names shared by the Pulumi program and the local pipeline (pure: no Pulumi import)."""

from __future__ import annotations

import re

PROJECT = "image-processor"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def bucket_name(role: str, stack: str, account_id: str, *, config_key: str = "stack name") -> str:
    """`image-processor-<role>-<stack>-<account>`, checked against S3's rules (<= 63 characters).

    A name S3 would refuse raises ValueError naming `config_key`, the setting a user changes to fix it.
    """
    name = f"{PROJECT}-{role}-{stack}-{account_id}".lower()
    if not _BUCKET_NAME.match(name) or "--" in name:
        raise ValueError(
            f"bucket name {name!r} breaks S3's rules (3-63 characters: lower-case letters, digits and "
            f"single hyphens); change {config_key}"
        )
    return name
