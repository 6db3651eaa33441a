"""The whole upload path on moto's server: the API's form, POSTed over HTTP, lands in the source bucket
and is processed by the real image handler; S3's POST-policy rules refuse what the grant does not cover.
"""

from __future__ import annotations

import base64
import io
import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from PIL import Image

from handler import app as image_app
from local.samples import encode, photo
from tests.api.conftest import TABLE, call, clear_api_caches, create_history_table, event, iam, upload_body
from tests.api.post_policy import Refused, check
from tests.conftest import DESTINATION, REGION, SOURCE, LambdaContext, clear_caches, s3_event

JPEG = encode(photo(1200, 900), "JPEG")


@pytest.fixture
def server(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto in server mode with the pipeline's buckets, topic and history table; the SDK points at it."""
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=DESTINATION)
    create_history_table()
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="notifications")["TopicArn"]
    for name, value in {
        "SOURCE_BUCKET": SOURCE,
        "DESTINATION_BUCKET": DESTINATION,
        "SNS_TOPIC_ARN": topic,
        "HISTORY_TABLE": TABLE,
        "API_AUTH": "iam",
    }.items():
        monkeypatch.setenv(name, value)
    clear_caches()
    clear_api_caches()
    yield endpoint
    clear_caches()
    clear_api_caches()
    moto.stop()


def grant(size: int, content_type: str = "image/jpeg") -> dict:
    answer = call(event("POST /uploads", authorizer=iam(), body=upload_body(content_type=content_type, size=size)))
    assert answer.status == 201, answer.body
    return answer.body


def post(upload: dict, data: bytes, *, now: datetime | None = None) -> requests.Response:
    """What S3 does with the form: check the policy as S3 would, then store the file (moto)."""
    fields = upload["fields"]
    check(SOURCE, fields, len(data), now or datetime.now(UTC), "testing")
    return requests.post(upload["url"], data=fields, files={"file": ("photo.jpg", data)}, timeout=30)


def test_an_upload_through_the_form_lands_and_is_processed(server):
    # GIVEN a grant for a JPEG
    body = grant(len(JPEG))
    # WHEN the client POSTs the form over HTTP
    response = post(body["upload"], JPEG)
    assert response.status_code == 204, response.text
    # THEN the file is in the source bucket under the caller's key, with the declared type
    key = body["upload"]["fields"]["key"]
    s3 = boto3.client("s3", region_name=REGION)
    stored = s3.get_object(Bucket=SOURCE, Key=key)
    assert stored["Body"].read() == JPEG
    assert stored["ContentType"] == "image/jpeg"
    # AND the image function processes S3's event for it
    head = s3.head_object(Bucket=SOURCE, Key=key)
    image_app.lambda_handler(s3_event(key, size=len(JPEG), etag=head["ETag"].strip('"')), LambdaContext())
    # AND the API reports success with a URL that serves the 800x600 rendition
    status = call(event("GET /images/{key}", authorizer=iam(), key=body["key"]))
    assert status.body["status"] == "success", status.body
    (rendition,) = status.body["renditions"]
    image = Image.open(io.BytesIO(requests.get(rendition["url"], timeout=30).content))
    assert image.size == (800, 600)


def test_an_expired_form_is_refused(server):
    body = grant(len(JPEG))
    with pytest.raises(Refused, match="expired"):
        post(body["upload"], JPEG, now=datetime.now(UTC) + timedelta(minutes=5, seconds=1))
    assert "Contents" not in boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=SOURCE)


def test_a_form_expiry_pushed_back_by_the_client_breaks_its_signature(server):
    upload = grant(len(JPEG))["upload"]
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    policy["expiration"] = "2099-01-01T00:00:00Z"
    upload["fields"]["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
    with pytest.raises(Refused, match="signature"):
        post(upload, JPEG)


def test_a_file_bigger_than_declared_is_refused(server):
    upload = grant(1000)["upload"]
    with pytest.raises(Refused, match="content-length-range"):
        post(upload, JPEG)


def test_a_content_type_changed_in_the_form_is_refused(server):
    upload = grant(len(JPEG))["upload"]
    upload["fields"]["Content-Type"] = "text/html"
    with pytest.raises(Refused, match="content-type"):
        post(upload, JPEG)


def test_a_key_changed_to_another_prefix_is_refused(server):
    upload = grant(len(JPEG))["upload"]
    upload["fields"]["key"] = "uploads/someone-else/" + upload["fields"]["key"].rsplit("/", 1)[1]
    with pytest.raises(Refused, match="key"):
        post(upload, JPEG)


def test_an_extra_form_field_is_refused(server):
    upload = grant(len(JPEG))["upload"]
    upload["fields"]["x-amz-website-redirect-location"] = "https://evil.example.com/"
    with pytest.raises(Refused, match="without a policy condition"):
        post(upload, JPEG)
