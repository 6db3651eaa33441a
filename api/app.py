"""Lambda entry point of the API: route -> caller -> action -> JSON response; every refusal a clear 4xx.

Nothing secret is ever logged: not the event (its headers carry tokens and signatures), not the
presigned URLs or form fields we hand out. The log line has the route, status, code and the caller's
prefix hash.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from api import images, uploads
from api.auth import Caller, caller
from api.http import ApiError, error_response, json_body, path_parameter, response
from api.settings import ApiSettings, settings

logger = logging.getLogger("image-processor-api")
logger.setLevel(logging.INFO)

Action = Callable[[Mapping[str, Any], Caller, ApiSettings], dict[str, Any]]


def create_upload(event: Mapping[str, Any], who: Caller, config: ApiSettings) -> dict[str, Any]:
    """POST /uploads -> 201 with the presigned form and the key to ask about later."""
    upload = uploads.presign(who, uploads.parse(json_body(event), config), config)
    return response(201, upload, {"location": f"/images/{upload['key']}"})


def get_image(event: Mapping[str, Any], who: Caller, config: ApiSettings) -> dict[str, Any]:
    """GET /images/{key} -> 200 with status and rendition URLs."""
    return response(200, images.status(who, path_parameter(event, "key"), config))


def delete_image(event: Mapping[str, Any], who: Caller, config: ApiSettings) -> dict[str, Any]:
    """DELETE /images/{key} -> 202: the upload is gone, its renditions follow."""
    return response(202, images.delete(who, path_parameter(event, "key"), config))


ROUTES: dict[str, Action] = {
    "POST /uploads": create_upload,
    "GET /images/{key}": get_image,
    "DELETE /images/{key}": delete_image,
}


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Answer one API Gateway HTTP API request (payload format 2.0)."""
    started = time.perf_counter()
    route = str(event.get("routeKey", ""))
    fields: dict[str, Any] = {"request_id": str(getattr(context, "aws_request_id", "")), "route": route}
    try:
        config = _settings()
        who = caller(event, config)
        fields["caller"] = who.prefix
        action = ROUTES.get(route)
        if action is None:
            raise ApiError(404, "no_such_route", f"no route {route!r}")
        result = action(event, who, config)
    except ApiError as error:
        fields["error"] = error.code
        result = error_response(error)
    except (BotoCoreError, ClientError) as error:
        fields["error"] = f"{type(error).__name__}: {error}"
        result = error_response(ApiError(503, "unavailable", "a storage service did not answer; try again"))
    fields.update(status=result["statusCode"], duration_ms=round((time.perf_counter() - started) * 1000))
    logger.log(logging.ERROR if result["statusCode"] >= 500 else logging.INFO, json.dumps(fields, default=str))
    return result


def _settings() -> ApiSettings:
    """The container's settings; a bad value fails every request with a 500 and logs why."""
    try:
        return settings()
    except ValueError as error:
        logger.error(json.dumps({"message": "misconfigured", "error": str(error)}))
        raise ApiError(500, "misconfigured", "the API is misconfigured; see its logs") from None
