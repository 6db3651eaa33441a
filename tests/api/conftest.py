"""The API handler under moto: the pipeline's buckets plus the history table, and API Gateway events."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from api import app
from api import aws as api_aws
from api import settings as api_settings
from tests.conftest import EVENTS, REGION, LambdaContext, Pipeline

TABLE = "image-processor-history"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"
ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"
_IAM_EVENT = json.loads((EVENTS / "apigw_http_iam.json").read_text())
_JWT_EVENT = json.loads((EVENTS / "apigw_http_jwt.json").read_text())


def clear_api_caches() -> None:
    """Forget the API container's settings and clients, as a new container would."""
    api_settings.settings.cache_clear()
    api_aws.s3.cache_clear()
    api_aws.dynamodb.cache_clear()


def iam(user_arn: str = ALICE) -> dict[str, Any]:
    """The authorizer context API Gateway adds for a SigV4-signed request by `user_arn`."""
    context = copy.deepcopy(_IAM_EVENT["requestContext"]["authorizer"])
    context["iam"]["userArn"] = user_arn
    return dict(context)


def jwt(subject: str = "user-1", issuer: str = ISSUER) -> dict[str, Any]:
    """The authorizer context API Gateway adds for a JWT it validated."""
    context = copy.deepcopy(_JWT_EVENT["requestContext"]["authorizer"])
    context["jwt"]["claims"].update(sub=subject, iss=issuer)
    return dict(context)


def event(
    route: str, *, authorizer: Mapping[str, Any] | None, body: Any = None, key: str | None = None
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event for `route` ("POST /uploads", "GET /images/{key}", ...)."""
    request = copy.deepcopy(_IAM_EVENT)
    method, path = route.split(" ", 1)
    path = path.replace("{key}", key or "")
    request.update(routeKey=route, rawPath=path, pathParameters={"key": key} if key is not None else None)
    request["requestContext"].update(
        routeKey=route, http={**request["requestContext"]["http"], "method": method, "path": path}
    )
    if authorizer is None:
        del request["requestContext"]["authorizer"]
    else:
        request["requestContext"]["authorizer"] = authorizer
    request["body"] = body if body is None or isinstance(body, str) else json.dumps(body)
    return dict(request)


@dataclass
class Answer:
    """What API Gateway would send back to the client."""

    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def call(request: Mapping[str, Any]) -> Answer:
    """Invoke the API handler as API Gateway does and decode its JSON answer."""
    result = app.lambda_handler(request, LambdaContext())
    return Answer(result["statusCode"], result["headers"], json.loads(result.get("body") or "{}"))


def upload_body(content_type: str = "image/jpeg", size: int = 1000, filename: str = "cat.jpg") -> dict[str, Any]:
    """The JSON a client sends to POST /uploads."""
    return {"filename": filename, "contentType": content_type, "size": size}


def create_history_table() -> None:
    """The processing-history table as NotifyingFunction creates it."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "source_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "source_key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def api(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """The mocked pipeline with processing history, and the API's environment as UploadApi sets it (IAM auth)."""
    create_history_table()
    monkeypatch.setenv("HISTORY_TABLE", TABLE)
    monkeypatch.setenv("API_AUTH", "iam")
    clear_api_caches()
    yield pipeline
    clear_api_caches()


@pytest.fixture
def jwt_api(api: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """The API with a JWT authorizer for ISSUER."""
    monkeypatch.setenv("API_AUTH", "jwt")
    monkeypatch.setenv("JWT_ISSUER", ISSUER)
    clear_api_caches()
    return api
