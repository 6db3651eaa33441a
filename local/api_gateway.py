"""API Gateway's part, locally: an HTTP request -> the HTTP API (payload 2.0) event the real API handler
gets -> an HTTP response. `make serve`'s live gallery serves the API with it.

There is no SigV4 or JWT check here: the local server vouches for its caller (it listens on localhost)
and passes the identity it vouches for as `authorizer`, as API Gateway passes what it verified.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from api import app

LOCAL_USER = "arn:aws:iam::123456789012:user/local"
# The API's routes as API Gateway matches them: `{key}` is one path segment.
ROUTES = (
    ("POST", re.compile(r"^/uploads$"), "POST /uploads"),
    ("GET", re.compile(r"^/images/(?P<key>[^/]+)$"), "GET /images/{key}"),
    ("DELETE", re.compile(r"^/images/(?P<key>[^/]+)$"), "DELETE /images/{key}"),
)
TEXT_TYPES = ("application/json", "text/")

Handler = Callable[[Mapping[str, Any], Any], Mapping[str, Any]]


@dataclass(frozen=True)
class HttpResponse:
    """What goes back to the HTTP client."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class _Context:
    aws_request_id: str
    function_name: str = "image-processor-local-api"


def iam_identity(user_arn: str = LOCAL_USER) -> dict[str, Any]:
    """The authorizer context of an IAM (SigV4) caller."""
    return {"iam": {"userArn": user_arn, "accountId": user_arn.split(":")[4], "cognitoIdentity": None}}


def jwt_identity(subject: str, issuer: str) -> dict[str, Any]:
    """The authorizer context of a caller whose JWT (issued by `issuer` to `subject`) was verified."""
    return {"jwt": {"claims": {"sub": subject, "iss": issuer}, "scopes": None}}


def to_event(
    method: str,
    target: str,
    *,
    headers: Mapping[str, str],
    body: bytes,
    authorizer: Mapping[str, Any],
    source_ip: str = "127.0.0.1",
) -> dict[str, Any] | None:
    """The event API Gateway would send for this request, or None when no route matches (a 404)."""
    url = urlsplit(target)
    found = _route(method.upper(), url.path)
    if found is None:
        return None
    route, parameters = found
    lowered = {name.lower(): value for name, value in headers.items()}
    text = lowered.get("content-type", "").startswith(TEXT_TYPES)
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": lowered,
        "queryStringParameters": dict(parse_qsl(url.query)) or None,
        "pathParameters": parameters or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "authorizer": dict(authorizer),
            "domainName": lowered.get("host", "localhost"),
            "http": {
                "method": method.upper(),
                "path": url.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": (body.decode() if text else base64.b64encode(body).decode()) if body else None,
        "isBase64Encoded": bool(body) and not text,
    }


def _route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The route key and decoded path parameters of the route that matches, if any."""
    for verb, pattern, route in ROUTES:
        match = pattern.match(path)
        if verb == method and match:
            return route, {name: unquote(value) for name, value in match.groupdict().items()}
    return None


def from_result(result: Mapping[str, Any]) -> HttpResponse:
    """The HTTP response API Gateway makes of a payload 2.0 result."""
    if "statusCode" not in result:  # API Gateway's shorthand: any other value is a 200 JSON body
        return HttpResponse(200, {"content-type": "application/json"}, json.dumps(result).encode())
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
    return HttpResponse(int(result["statusCode"]), dict(result.get("headers") or {}), body)


def handle(
    method: str,
    target: str,
    *,
    headers: Mapping[str, str],
    body: bytes,
    authorizer: Mapping[str, Any],
    handler: Handler = app.lambda_handler,
) -> HttpResponse:
    """One request through the API handler, as API Gateway would route and answer it."""
    event = to_event(method, target, headers=headers, body=body, authorizer=authorizer)
    if event is None:
        return HttpResponse(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
    return from_result(handler(event, _Context(event["requestContext"]["requestId"])))


def respond(request: BaseHTTPRequestHandler, authorizer: Mapping[str, Any]) -> None:
    """Answer an http.server request with the API (call it from do_GET, do_POST and do_DELETE)."""
    length = int(request.headers.get("content-length") or 0)
    answer = handle(
        request.command,
        request.path,
        headers=dict(request.headers.items()),
        body=request.rfile.read(length) if length else b"",
        authorizer=authorizer,
    )
    request.send_response(answer.status)
    for name, value in answer.headers.items():
        request.send_header(name, value)
    request.send_header("content-length", str(len(answer.body)))
    request.end_headers()
    request.wfile.write(answer.body)
