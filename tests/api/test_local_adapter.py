"""local/api_gateway.py: local HTTP requests reach the real API handler as API Gateway events, and back."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from local import api_gateway
from tests.api.conftest import upload_body


def test_a_json_post_becomes_the_route_event_and_its_answer_the_response(api):
    # GIVEN a local caller WHEN they POST /uploads with a JSON body
    answer = api_gateway.handle(
        "POST",
        "/uploads",
        headers={"Content-Type": "application/json", "Host": "localhost:8000"},
        body=json.dumps(upload_body()).encode(),
        authorizer=api_gateway.iam_identity(),
    )
    # THEN the API handler answered: 201, its headers, its JSON body with a presigned form
    assert answer.status == 201
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["location"].startswith("/images/")
    assert json.loads(answer.body)["upload"]["fields"]["Content-Type"] == "image/jpeg"


def test_the_event_has_the_shape_api_gateway_sends():
    event = api_gateway.to_event(
        "GET",
        "/images/abc%2Edef.jpg?x=1",
        headers={"Authorization": "local", "User-Agent": "pytest"},
        body=b"",
        authorizer=api_gateway.jwt_identity("user-1", "https://issuer.example.com"),
    )
    assert event is not None
    assert (event["version"], event["routeKey"], event["rawPath"]) == (
        "2.0",
        "GET /images/{key}",
        "/images/abc%2Edef.jpg",
    )
    assert event["pathParameters"] == {"key": "abc.def.jpg"}
    assert event["queryStringParameters"] == {"x": "1"}
    assert event["headers"]["user-agent"] == "pytest"
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == "user-1"
    assert (event["body"], event["isBase64Encoded"]) == (None, False)


def test_a_binary_body_is_base64_encoded():
    event = api_gateway.to_event("POST", "/uploads", headers={}, body=b"\xff\x00", authorizer={})
    assert event is not None and (event["body"], event["isBase64Encoded"]) == ("/wA=", True)


@pytest.mark.parametrize(
    ("method", "target"), [("GET", "/"), ("PUT", "/uploads"), ("GET", "/images/a/b"), ("GET", "/uploads")]
)
def test_no_route_is_a_404_without_calling_the_handler(method, target):
    def handler(event, context):
        raise AssertionError("the handler must not be called")

    answer = api_gateway.handle(method, target, headers={}, body=b"", authorizer={}, handler=handler)
    assert answer.status == 404


def test_a_shorthand_result_is_a_200_json_body():
    answer = api_gateway.from_result({"hello": "world"})
    assert (answer.status, json.loads(answer.body)) == (200, {"hello": "world"})


def test_an_http_server_serves_the_api_on_localhost(api):
    # GIVEN an http.server that answers with the adapter for the local user
    class Api(BaseHTTPRequestHandler):
        def do_POST(self):
            api_gateway.respond(self, api_gateway.iam_identity())

        def do_GET(self):
            api_gateway.respond(self, api_gateway.iam_identity())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        # WHEN a client POSTs an upload and asks for a key it never uploaded
        request = urllib.request.Request(
            f"{base}/uploads", data=json.dumps(upload_body()).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            created = json.loads(response.read())
            assert response.status == 201
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/images/{created['key']}", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    # THEN the upload was granted and the unprocessed key is the API's JSON 404
    assert missing.value.code == 404
    assert json.loads(missing.value.read())["error"] == "not_found"
