"""CloudFront invalidation of renditions that were replaced or deleted (when a distribution is configured)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from urllib.parse import quote

from handler import aws

# CloudFront takes at most 3000 paths in progress per distribution; one call stays far below.
MAX_PATHS = 1000


def paths(keys: Sequence[str]) -> list[str]:
    """The URL paths of destination keys, percent-encoded as CloudFront requires."""
    return sorted({"/" + quote(key) for key in keys})  # quote keeps "/" by default


def invalidate(distribution_id: str, keys: Sequence[str], reference: str) -> str | None:
    """Invalidate the cached copies of `keys`; returns the invalidation id (None when nothing to do).

    `reference` (the request id) makes a retried invocation reuse its invalidation instead of a new one.
    Errors raise: a stale cached rendition is worth a retry.
    """
    if not distribution_id or not keys:
        return None
    items = paths(keys)[:MAX_PATHS]
    caller_reference = f"{reference}-{hashlib.sha256(''.join(items).encode()).hexdigest()[:16]}"
    response = aws.cloudfront().create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={"Paths": {"Quantity": len(items), "Items": items}, "CallerReference": caller_reference},
    )
    return response["Invalidation"]["Id"]
