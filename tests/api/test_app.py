"""The API handler on moto, driven with API Gateway HTTP API events: auth, uploads, status, deletion."""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import boto3
import pytest

from handler import app as image_app
from local.samples import encode, photo
from tests.api.conftest import ALICE, BOB, call, clear_api_caches, event, iam, jwt, upload_body
from tests.conftest import REGION, SOURCE, LambdaContext

JPEG = encode(photo(1200, 900), "JPEG")
ROUTES = [
    ("POST /uploads", None),
    ("GET /images/{key}", "0" * 32 + ".jpg"),
    ("DELETE /images/{key}", "0" * 32 + ".jpg"),
]


def create(authorizer=None, **declared):
    """POST /uploads as an authenticated caller; the grant must be given."""
    answer = call(event("POST /uploads", authorizer=authorizer or iam(), body=upload_body(**declared)))
    assert answer.status == 201, answer.body
    return answer


def upload_and_process(pipeline, data=JPEG, authorizer=None):
    """Create an upload, store `data` under its key and let the real image handler process it."""
    answer = create(authorizer, size=len(data))
    key = answer.body["upload"]["fields"]["key"]
    image_app.lambda_handler(pipeline.upload(key, data), LambdaContext())
    return answer.body["key"], key


def policy_of(answer):
    return json.loads(base64.b64decode(answer.body["upload"]["fields"]["policy"]))


@pytest.mark.parametrize(("route", "key"), ROUTES)
def test_every_route_refuses_a_request_without_authentication(api, route, key):
    # GIVEN a request that reached the function without an authorizer context (a misconfigured route)
    # WHEN it is answered
    answer = call(event(route, authorizer=None, body=upload_body(), key=key))
    # THEN it is a 401 JSON error and nothing was created
    assert answer.status == 401
    assert answer.body["error"] == "unauthenticated"
    assert "Contents" not in boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=SOURCE)


@pytest.mark.parametrize(
    "authorizer",
    [
        pytest.param(jwt(issuer="https://evil.example.com/"), id="another issuer"),
        pytest.param(jwt(subject=""), id="no subject"),
        pytest.param(iam(), id="IAM context on a JWT API"),
        pytest.param({"jwt": {"claims": {}}}, id="no claims"),
    ],
)
def test_jwt_api_refuses_invalid_identities(jwt_api, authorizer):
    # GIVEN a JWT API WHEN the authorizer context is not a valid token of the configured issuer
    answer = call(event("POST /uploads", authorizer=authorizer, body=upload_body()))
    # THEN 401
    assert (answer.status, answer.body["error"]) == (401, "unauthenticated")


def test_iam_api_refuses_a_jwt_identity(api):
    answer = call(event("POST /uploads", authorizer=jwt(), body=upload_body()))
    assert answer.status == 401


def test_upload_grant_is_a_presigned_post_for_one_key_type_and_size(api):
    # GIVEN an authenticated caller WHEN they ask to upload a 1000-byte JPEG
    answer = create(size=1000)
    # THEN they get a key the server chose, under their own prefix, and a POST policy that pins it all
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", answer.body["key"])
    assert answer.headers["location"] == f"/images/{answer.body['key']}"
    fields = answer.body["upload"]["fields"]
    assert re.fullmatch(r"uploads/[0-9a-f]{32}/" + re.escape(answer.body["key"]), fields["key"])
    assert fields["Content-Type"] == "image/jpeg"
    conditions = policy_of(answer)["conditions"]
    assert ["content-length-range", 1000, 1000] in conditions
    assert {"Content-Type": "image/jpeg"} in conditions
    assert {"key": fields["key"]} in conditions
    assert urlparse(answer.body["upload"]["url"]).hostname == f"{SOURCE}.s3.amazonaws.com"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_two_uploads_never_share_a_key(api):
    assert create().body["key"] != create().body["key"]


@pytest.mark.parametrize(("setting", "seconds"), [(None, 300), ("120", 120)])
def test_the_grant_expires_within_minutes(api, monkeypatch, setting, seconds):
    # GIVEN the default or a configured expiry
    if setting:
        monkeypatch.setenv("UPLOAD_EXPIRY_SECONDS", setting)
        clear_api_caches()
    # WHEN a grant is made THEN its signed policy expires that many seconds later, as the answer says
    answer = create()
    expiration = datetime.fromisoformat(policy_of(answer)["expiration"].replace("Z", "+00:00"))
    assert abs((expiration - datetime.fromisoformat(answer.body["expiresAt"])).total_seconds()) < 2
    assert seconds - 5 < (expiration - datetime.now(UTC)).total_seconds() <= seconds


def test_an_upload_above_max_input_bytes_is_refused(api, monkeypatch):
    monkeypatch.setenv("MAX_INPUT_BYTES", "1000000")
    clear_api_caches()
    answer = call(event("POST /uploads", authorizer=iam(), body=upload_body(size=1_000_001)))
    assert answer.status == 413
    assert answer.body == {"error": "too_large", "message": "size 1000001 is above the limit of 1000000 bytes"}
    assert call(event("POST /uploads", authorizer=iam(), body=upload_body(size=1_000_000))).status == 201


@pytest.mark.parametrize("content_type", ["application/pdf", "text/html", "image/svg+xml", "", None])
def test_a_type_outside_the_allow_list_is_refused(api, content_type):
    answer = call(event("POST /uploads", authorizer=iam(), body=upload_body(content_type=content_type)))
    assert answer.status == 415
    assert answer.body["error"] == "unsupported_media_type"
    assert "image/jpeg" in answer.body["message"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("not json", id="not JSON"),
        pytest.param("[1, 2]", id="not an object"),
        pytest.param({"contentType": "image/png", "size": 10}, id="no filename"),
        pytest.param({"filename": "a\x00.png", "contentType": "image/png", "size": 10}, id="control character"),
        pytest.param({"filename": "a.png", "contentType": "image/png", "size": "10"}, id="size as text"),
        pytest.param({"filename": "a.png", "contentType": "image/png", "size": True}, id="size as boolean"),
        pytest.param({"filename": "a.png", "contentType": "image/png", "size": 0}, id="empty file"),
        pytest.param({"filename": "a.png", "contentType": "image/png"}, id="no size"),
    ],
)
def test_malformed_upload_requests_get_a_400_saying_what_is_wrong(api, body):
    answer = call(event("POST /uploads", authorizer=iam(), body=body))
    assert answer.status == 400
    assert answer.body["error"] in ("invalid_json", "invalid_request")
    assert answer.body["message"]


def test_a_huge_body_is_refused_before_parsing(api):
    answer = call(event("POST /uploads", authorizer=iam(), body=json.dumps(upload_body(filename="a" * 5000))))
    assert (answer.status, answer.body["error"]) == (413, "body_too_large")


def test_a_base64_body_is_read(api):
    request = event(
        "POST /uploads", authorizer=iam(), body=base64.b64encode(json.dumps(upload_body()).encode()).decode()
    )
    request["isBase64Encoded"] = True
    assert call(request).status == 201


def test_status_of_a_processed_upload_gives_short_lived_rendition_urls(api):
    # GIVEN an upload the image function processed
    image_key, source_key = upload_and_process(api)
    # WHEN its owner asks for it
    answer = call(event("GET /images/{key}", authorizer=iam(), key=image_key))
    # THEN it is a success with a presigned GET for the rendition, valid 5 minutes
    assert answer.status == 200, answer.body
    assert answer.body["status"] == "success"
    (rendition,) = answer.body["renditions"]
    assert rendition["name"] == "default" and rendition["size"] == [800, 600]
    url = urlparse(rendition["url"])
    assert url.path.endswith(f"resized/{source_key}")
    assert parse_qs(url.query)["X-Amz-Expires"] == ["300"]


def test_with_a_cdn_rendition_urls_are_cdn_urls(api, monkeypatch):
    monkeypatch.setenv("CDN_DOMAIN", "d111111abcdef8.cloudfront.net")
    clear_api_caches()
    image_key, source_key = upload_and_process(api)
    (rendition,) = call(event("GET /images/{key}", authorizer=iam(), key=image_key)).body["renditions"]
    assert rendition["url"] == f"https://d111111abcdef8.cloudfront.net/resized/{source_key}"


def test_a_failed_upload_reports_why_and_has_no_renditions(api):
    image_key, _ = upload_and_process(api, data=b"not an image at all")
    answer = call(event("GET /images/{key}", authorizer=iam(), key=image_key))
    assert answer.body["status"] == "failure"
    assert answer.body["error"]["type"] == "not_an_image"
    assert "renditions" not in answer.body


def test_an_unknown_or_unprocessed_key_is_a_404(api):
    answer = call(event("GET /images/{key}", authorizer=iam(), key=create().body["key"]))
    assert (answer.status, answer.body["error"]) == (404, "not_found")


@pytest.mark.parametrize(
    "key",
    [
        "0123456789abcdef0123456789abcdef.jpg\n",
        "../secret.jpg",
        "uploads%2Fabc.jpg",
        "ABCDEF0123456789ABCDEF0123456789.jpg",
        "x.jpg",
        "",
    ],
)
def test_a_key_that_post_uploads_never_hands_out_is_a_400(api, key):
    answer = call(event("GET /images/{key}", authorizer=iam(), key=key))
    assert answer.status == 400
    assert answer.body["error"] in ("invalid_key", "invalid_request")


def test_another_callers_key_is_invisible_and_cannot_be_deleted(api):
    # GIVEN alice's processed upload
    image_key, source_key = upload_and_process(api, authorizer=iam(ALICE))
    # WHEN bob asks for it and tries to delete it
    seen = call(event("GET /images/{key}", authorizer=iam(BOB), key=image_key))
    deleted = call(event("DELETE /images/{key}", authorizer=iam(BOB), key=image_key))
    # THEN both are 404 and alice's upload is still there
    assert (seen.status, deleted.status) == (404, 404)
    assert boto3.client("s3", region_name=REGION).head_object(Bucket=SOURCE, Key=source_key)
    assert call(event("GET /images/{key}", authorizer=iam(ALICE), key=image_key)).status == 200


def test_jwt_callers_each_get_their_own_prefix(jwt_api):
    one = create(jwt("user-1")).body["upload"]["fields"]["key"]
    other = create(jwt("user-2")).body["upload"]["fields"]["key"]
    again = create(jwt("user-1")).body["upload"]["fields"]["key"]
    assert one.rsplit("/", 1)[0] == again.rsplit("/", 1)[0] != other.rsplit("/", 1)[0]


def test_sessions_of_one_role_share_a_prefix_but_cognito_identities_do_not():
    from api.auth import caller
    from api.settings import ApiSettings

    config = ApiSettings(source_bucket="s", destination_bucket="d", history_table="t")
    role = "arn:aws:sts::123456789012:assumed-role/app/"

    def prefix(iam_context):
        return caller({"requestContext": {"authorizer": {"iam": iam_context}}}, config).prefix

    assert prefix({"userArn": role + "session-a"}) == prefix({"userArn": role + "session-b"})
    first = prefix({"userArn": role + "x", "cognitoIdentity": {"identityId": "us-east-1:1", "identityPoolId": "p"}})
    second = prefix({"userArn": role + "x", "cognitoIdentity": {"identityId": "us-east-1:2", "identityPoolId": "p"}})
    assert first != second


def test_delete_removes_the_upload_and_the_image_function_its_renditions(api):
    # GIVEN a processed upload
    image_key, source_key = upload_and_process(api)
    # WHEN its owner deletes it
    answer = call(event("DELETE /images/{key}", authorizer=iam(), key=image_key))
    # THEN the source object is gone at once, and the image function's removal event deletes the rendition
    assert answer.status == 202 and answer.body == {"key": image_key, "status": "deleting"}
    s3 = boto3.client("s3", region_name=REGION)
    assert "Contents" not in s3.list_objects_v2(Bucket=SOURCE, Prefix=source_key)
    from tests.conftest import DESTINATION, s3_event

    image_app.lambda_handler(s3_event(source_key, name="ObjectRemoved:Delete"), LambdaContext())
    assert "Contents" not in s3.list_objects_v2(Bucket=DESTINATION)
    assert call(event("GET /images/{key}", authorizer=iam(), key=image_key)).body["status"] == "deleted"


def test_transfer_acceleration_points_uploads_at_the_accelerate_endpoint(api, monkeypatch):
    monkeypatch.setenv("TRANSFER_ACCELERATION", "true")
    clear_api_caches()
    url = create().body["upload"]["url"]
    assert urlparse(url).hostname == f"{SOURCE}.s3-accelerate.amazonaws.com"


def test_a_storage_outage_is_a_503_json_error(api):
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName="image-processor-history")
    answer = call(event("GET /images/{key}", authorizer=iam(), key="0" * 32 + ".jpg"))
    assert (answer.status, answer.body["error"]) == (503, "unavailable")


def test_a_misconfigured_function_answers_500_and_logs_why(api, monkeypatch, caplog):
    monkeypatch.setenv("API_AUTH", "basic")
    clear_api_caches()
    with caplog.at_level(logging.INFO):
        answer = call(event("POST /uploads", authorizer=iam(), body=upload_body()))
    assert (answer.status, answer.body["error"]) == (500, "misconfigured")
    assert "API_AUTH must be one of iam, jwt" in caplog.text


def test_nothing_secret_is_logged(jwt_api, caplog):
    # GIVEN a request carrying a bearer token WHEN it gets a presigned form
    request = event("POST /uploads", authorizer=jwt(), body=upload_body())
    request["headers"]["authorization"] = "Bearer SECRET-TOKEN"
    with caplog.at_level(logging.DEBUG):
        answer = call(request)
    # THEN the log line tells route, caller prefix and status, but no token, signature, policy or URL
    fields = answer.body["upload"]["fields"]
    for secret in ("SECRET-TOKEN", fields["x-amz-signature"], fields["policy"], answer.body["upload"]["url"]):
        assert secret not in caplog.text
    line = json.loads(caplog.records[-1].getMessage())
    assert line["route"] == "POST /uploads" and line["status"] == 201
    assert line["caller"] == fields["key"].rsplit("/", 1)[0] + "/"
