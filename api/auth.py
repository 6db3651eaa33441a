"""Who is calling, from what API Gateway's authorizer established, and the key prefix that is theirs.

API Gateway refuses unauthenticated requests before they reach the function; this module refuses them
again (defence in depth) and turns the caller's identity into their own prefix under `uploads/`, so a
key in a request is always resolved inside the caller's prefix: nobody can name another caller's upload.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api.http import ApiError
from api.settings import UPLOAD_PREFIX, ApiSettings

# `arn:aws:sts::<account>:assumed-role/<role>/<session>`: the session name is chosen by whoever assumes
# the role, so it cannot separate callers; the role is the principal.
_ASSUMED_ROLE = re.compile(r"^(arn:[\w-]+:sts::\d{12}:assumed-role/[^/]+)/.+$")


@dataclass(frozen=True)
class Caller:
    """An authenticated principal, namespaced by how it was authenticated."""

    principal: str

    @property
    def prefix(self) -> str:
        """`uploads/<hash of the principal>/`: fixed length, safe in a key, and no identity in S3 or URLs."""
        return f"{UPLOAD_PREFIX}{hashlib.sha256(self.principal.encode()).hexdigest()[:32]}/"


def caller(event: Mapping[str, Any], settings: ApiSettings) -> Caller:
    """The caller API Gateway authenticated in the configured mode, or a 401."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    principal = _jwt_principal(authorizer, settings) if settings.auth == "jwt" else _iam_principal(authorizer)
    if principal is None:
        raise ApiError(401, "unauthenticated", f"this API needs {settings.auth.upper()} authentication")
    return Caller(principal)


def _jwt_principal(authorizer: Mapping[str, Any], settings: ApiSettings) -> str | None:
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    subject, issuer = claims.get("sub"), claims.get("iss")
    if not isinstance(subject, str) or not subject or issuer != settings.jwt_issuer:
        return None
    return f"jwt:{issuer}|{subject}"


def _iam_principal(authorizer: Mapping[str, Any]) -> str | None:
    iam = authorizer.get("iam") or {}
    # Callers of a Cognito identity pool share its role: the identity id, which Cognito assigns, tells them apart.
    cognito = iam.get("cognitoIdentity") or {}
    if cognito.get("identityId"):
        return f"cognito:{cognito.get('identityPoolId', '')}|{cognito['identityId']}"
    user_arn = iam.get("userArn")
    if not isinstance(user_arn, str) or not user_arn.startswith("arn:"):
        return None
    match = _ASSUMED_ROLE.match(user_arn)
    return f"iam:{match.group(1) if match else user_arn}"
