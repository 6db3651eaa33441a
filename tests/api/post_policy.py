"""S3's checks of a browser-based POST upload, for tests: moto's server stores any form it is sent, S3 does not.

Follows S3's documented rules: the policy is signed (SigV4, HMAC of the base64 policy), it has not
expired, every condition holds, and every form field is covered by a condition.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime

EXEMPT_FIELDS = ("policy", "x-amz-signature", "file")


class Refused(Exception):
    """S3 would answer 403 to this form."""


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signature(secret_key: str, credential: str, policy: str) -> str:
    """SigV4 signature of a POST policy: the signing key of the credential's scope over the base64 policy."""
    _, date, region, service, _ = credential.split("/")
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), date), region), service), "aws4_request")
    return hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()


def check(bucket: str, fields: Mapping[str, str], file_size: int, now: datetime, secret_key: str) -> None:
    """Raise Refused unless S3 would accept `fields` with a file of `file_size` bytes at `now`."""
    expected = signature(secret_key, fields["x-amz-credential"], fields["policy"])
    if not hmac.compare_digest(expected, fields["x-amz-signature"]):
        raise Refused("signature does not match the policy")
    policy = json.loads(base64.b64decode(fields["policy"]))
    if now >= datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")):
        raise Refused("policy expired")
    form = {name.lower(): value for name, value in fields.items()} | {"bucket": bucket}
    covered = set()
    for condition in policy["conditions"]:
        if isinstance(condition, dict):
            ((name, value),) = condition.items()
            operator = "eq"
        elif condition[0] == "content-length-range":
            if not condition[1] <= file_size <= condition[2]:
                raise Refused(f"file of {file_size} bytes outside content-length-range {condition[1:]}")
            continue
        else:
            operator, name, value = condition
        name = name.lower().removeprefix("$")
        covered.add(name)
        actual = form.get(name, "")
        if (operator == "eq" and actual != value) or (operator == "starts-with" and not actual.startswith(value)):
            raise Refused(f"{name}={actual!r} breaks the condition {condition}")
    uncovered = set(form) - covered - set(EXEMPT_FIELDS) - {name for name in form if name.startswith("x-ignore-")}
    if uncovered:
        raise Refused(f"form fields without a policy condition: {sorted(uncovered)}")
