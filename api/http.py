"""API Gateway (HTTP API, payload 2.0) requests and responses: JSON in, JSON out, clear 4xx errors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

MAX_BODY_BYTES = 4096


class ApiError(Exception):
    """A request the API refuses: HTTP status, a stable machine-readable code and a human message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def response(
    status: int, body: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A proxy-integration response; never cached, because it may hold presigned URLs."""
    result: dict[str, Any] = {
        "statusCode": status,
        "headers": {
            "content-type": "application/json",
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
            **(headers or {}),
        },
    }
    if body is not None:
        result["body"] = json.dumps(body, sort_keys=True)
    return result


def error_response(error: ApiError) -> dict[str, Any]:
    """The JSON error every refusal gets: {"error": code, "message": text}."""
    return response(error.status, {"error": error.code, "message": error.message})


def json_body(event: Mapping[str, Any]) -> dict[str, Any]:
    """The request's JSON object body, or a 400/413 saying what is wrong with it."""
    raw = event.get("body") or ""
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else str(raw).encode()
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_body", "the body is not valid base64") from None
    if len(data) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"the JSON body must be at most {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "invalid_json", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return body


def path_parameter(event: Mapping[str, Any], name: str) -> str:
    """A path parameter of the route, or a 400 when it is missing."""
    value = (event.get("pathParameters") or {}).get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "invalid_request", f"the path needs a {name}")
    return value
