"""UploadApi under Pulumi mocks: the HTTP API, its routes' auth, throttling, CORS, the function's role and alarms."""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pytest

from components.args import ArgError
from components.stack_config import StackConfigError
from components.upload_api import UploadApi, UploadApiArgs, alarm_specs, dashboard_widgets
from tests.infra.conftest import ACCOUNT_ID, REGION, Deployment, Runner

EXECUTION_ARN = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:web-http-id"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"
ARGS = UploadApiArgs(
    function_name="uploads-api",
    code=pulumi.AssetArchive({"api/app.py": pulumi.StringAsset("")}),
    source_bucket_name="team-uploads",
    source_bucket_arn="arn:aws:s3:::team-uploads",
    destination_bucket_name="team-renditions",
    destination_bucket_arn="arn:aws:s3:::team-renditions",
    history_table_name="history",
    history_table_arn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/history",
    region=REGION,
    rate_limit=20.0,
    burst_limit=40,
)
JWT_ARGS = dataclasses.replace(ARGS, auth="jwt", jwt_issuer=ISSUER, jwt_audience=["web-client", "ios-client"])
API = "aws:apigatewayv2/api:Api"
ROUTE = "aws:apigatewayv2/route:Route"


def deploy(run_pulumi: Runner, args: UploadApiArgs = ARGS) -> Deployment:
    return run_pulumi(lambda: UploadApi("web", args).url)


def test_every_route_needs_iam_auth_by_default_and_reaches_the_function(run_pulumi: Runner):
    # GIVEN the default args WHEN the component is deployed
    deployment = deploy(run_pulumi)
    # THEN it is an HTTP API whose three routes all need SigV4; there is no catch-all route
    assert deployment.one(API)["protocolType"] == "HTTP"
    routes = {r.inputs["routeKey"]: r.inputs for r in deployment.of_type(ROUTE)}
    assert set(routes) == {"POST /uploads", "GET /images/{key}", "DELETE /images/{key}"}
    assert {route["authorizationType"] for route in routes.values()} == {"AWS_IAM"}
    assert {route["target"] for route in routes.values()} == {"integrations/web-integration-id"}
    assert not deployment.of_type("aws:apigatewayv2/authorizer:Authorizer")
    integration = deployment.one("aws:apigatewayv2/integration:Integration")
    assert (integration["integrationType"], integration["payloadFormatVersion"]) == ("AWS_PROXY", "2.0")
    assert integration["integrationUri"].endswith(":function:uploads-api/invocations")
    assert deployment.returned == "https://web-http-id.execute-api.us-east-1.amazonaws.com"


def test_jwt_auth_uses_the_configured_issuer_and_audiences_on_every_route(run_pulumi: Runner):
    deployment = deploy(run_pulumi, JWT_ARGS)
    authorizer = deployment.one("aws:apigatewayv2/authorizer:Authorizer")
    assert authorizer["authorizerType"] == "JWT"
    assert authorizer["identitySources"] == ["$request.header.Authorization"]
    assert authorizer["jwtConfiguration"] == {"issuer": ISSUER, "audiences": ["web-client", "ios-client"]}
    for route in deployment.of_type(ROUTE):
        assert (route.inputs["authorizationType"], route.inputs["authorizerId"]) == ("JWT", "web-jwt-id")
    variables = deployment.one("aws:lambda/function:Function")["environment"]["variables"]
    assert (variables["API_AUTH"], variables["JWT_ISSUER"]) == ("jwt", ISSUER)


def test_api_gateway_may_invoke_the_function_only_for_its_routes(run_pulumi: Runner):
    permissions = deploy(run_pulumi).of_type("aws:lambda/permission:Permission")
    assert {p.inputs["principal"] for p in permissions} == {"apigateway.amazonaws.com"}
    assert sorted(p.inputs["sourceArn"] for p in permissions) == [
        f"{EXECUTION_ARN}/*/DELETE/images/*",
        f"{EXECUTION_ARN}/*/GET/images/*",
        f"{EXECUTION_ARN}/*/POST/uploads",
    ]


def test_stage_throttles_and_logs_requests_without_headers(run_pulumi: Runner):
    deployment = deploy(run_pulumi)
    stage = deployment.one("aws:apigatewayv2/stage:Stage")
    assert (stage["name"], stage["autoDeploy"]) == ("$default", True)
    assert stage["defaultRouteSettings"] == {"throttlingRateLimit": 20.0, "throttlingBurstLimit": 40}
    access = stage["accessLogSettings"]
    assert access["destinationArn"].endswith("log-group:/aws/apigateway/uploads-api")
    assert "header" not in access["format"].lower() and "$context.status" in access["format"]


def test_without_cors_origins_neither_the_api_nor_the_bucket_allows_browsers(run_pulumi: Runner):
    deployment = deploy(run_pulumi)
    assert "corsConfiguration" not in deployment.one(API)
    assert not deployment.of_type("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")


def test_cors_allows_exactly_the_configured_origins_on_the_api_and_the_source_bucket(run_pulumi: Runner):
    origins = ["https://app.example.com", "http://localhost:8000"]
    deployment = deploy(run_pulumi, dataclasses.replace(ARGS, cors_origins=origins))
    cors = deployment.one(API)["corsConfiguration"]
    assert cors["allowOrigins"] == origins
    assert cors["allowMethods"] == ["GET", "POST", "DELETE"]
    assert "allowCredentials" not in cors
    bucket = deployment.one("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")
    assert bucket["bucket"] == "team-uploads"
    assert bucket["corsRules"] == [
        {"allowedMethods": ["POST"], "allowedOrigins": origins, "exposeHeaders": ["ETag"], "maxAgeSeconds": 600}
    ]


def test_transfer_acceleration_is_switched_on_for_the_source_bucket_only_when_asked(run_pulumi: Runner):
    accelerate = "aws:s3/bucketAccelerateConfiguration:BucketAccelerateConfiguration"
    assert not deploy(run_pulumi).of_type(accelerate)
    deployment = deploy(run_pulumi, dataclasses.replace(ARGS, transfer_acceleration=True))
    assert deployment.one(accelerate) == {"bucket": "team-uploads", "status": "Enabled"}
    variables = deployment.one("aws:lambda/function:Function")["environment"]["variables"]
    assert variables["TRANSFER_ACCELERATION"] == "true"


def test_function_has_its_own_log_group_created_first_and_the_api_environment(run_pulumi: Runner):
    deployment = deploy(run_pulumi)
    function = deployment.one("aws:lambda/function:Function")
    assert (function["handler"], function["timeout"], function["memorySize"]) == ("api.app.lambda_handler", 10, 256)
    log_group = deployment.one("aws:cloudwatch/logGroup:LogGroup", "web-logs")
    assert (log_group["name"], log_group["retentionInDays"]) == ("/aws/lambda/uploads-api", 7)
    assert function["loggingConfig"]["logGroup"] == "/aws/lambda/uploads-api"
    assert set(deployment.depends_on["web-function"]) == {"web-logs", "web-permissions"}
    assert function["environment"]["variables"] == {
        "API_AUTH": "iam",
        "TRANSFER_ACCELERATION": "false",
        "SOURCE_BUCKET": "team-uploads",
        "DESTINATION_BUCKET": "team-renditions",
        "HISTORY_TABLE": "history",
    }


def test_role_may_sign_uploads_and_delete_only_under_the_upload_prefix_and_read_status(run_pulumi: Runner):
    deployment = deploy(run_pulumi)
    assert deployment.policy("aws:iam/role:Role", key="assumeRolePolicy")["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
    assert deployment.policy("aws:iam/rolePolicy:RolePolicy") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PresignUploads",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::team-uploads/uploads/*",
            },
            {
                "Sid": "DeleteUploads",
                "Effect": "Allow",
                "Action": "s3:DeleteObject",
                "Resource": "arn:aws:s3:::team-uploads/uploads/*",
            },
            {
                "Sid": "ReadStatus",
                "Effect": "Allow",
                "Action": "dynamodb:GetItem",
                "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/history",
            },
            {
                "Sid": "PresignRenditionReads",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::team-renditions/resized/*",
            },
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/lambda/uploads-api:*",
            },
        ],
    }


def test_with_a_kms_bucket_key_the_role_may_use_it_as_the_signer(run_pulumi: Runner):
    key = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234"
    deployment = deploy(run_pulumi, dataclasses.replace(ARGS, kms_key_arn=key))
    statement = deployment.policy("aws:iam/rolePolicy:RolePolicy")["Statement"][-1]
    assert statement == {
        "Sid": "UseBucketKey",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": key,
    }


def test_alarm_specs_watch_the_stage_for_server_errors_and_latency(run_pulumi: Runner):
    # GIVEN the deployed component WHEN its alarm specs are resolved
    deployment = run_pulumi(lambda: pulumi.Output.from_input(UploadApi("web", ARGS).alarm_specs))
    # THEN they are AlarmSpec fields for 5xx (any) and latency (average over the threshold) of the $default stage
    five_xx, latency = deployment.returned
    dimensions = {"ApiId": "web-http-id", "Stage": "$default"}
    assert five_xx == {
        "suffix": "api-5xx",
        "namespace": "AWS/ApiGateway",
        "metric": "5xx",
        "dimensions": dimensions,
        "statistic": "Sum",
        "threshold": 1,
        "comparison": "GreaterThanOrEqualToThreshold",
        "description": five_xx["description"],
    }
    assert (latency["metric"], latency["statistic"], latency["threshold"]) == ("Latency", "Average", 1000)
    assert (latency["dimensions"], latency["comparison"]) == (dimensions, "GreaterThanThreshold")


def test_dashboard_widgets_show_requests_errors_latency_and_the_function(run_pulumi: Runner):
    deployment = run_pulumi(lambda: pulumi.Output.all(*UploadApi("web", ARGS).dashboard_widgets))
    widgets = deployment.returned
    assert [w["properties"]["title"] for w in widgets] == [
        "API requests, 4xx, 5xx",
        "API latency (ms)",
        "API function errors and throttles",
    ]
    assert widgets[0]["properties"]["metrics"][2] == [
        "AWS/ApiGateway",
        "5xx",
        "ApiId",
        "web-http-id",
        "Stage",
        "$default",
    ]
    assert widgets[2]["properties"]["metrics"][0] == ["AWS/Lambda", "Errors", "FunctionName", "uploads-api"]
    assert all(w["properties"]["region"] == REGION for w in widgets)


def test_specs_and_widgets_are_plain_functions_of_their_inputs():
    assert alarm_specs("abc", 250)[1]["threshold"] == 250
    assert len(dashboard_widgets("eu-west-1", "abc", "fn", 60)) == 3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cors_origins": ["*"]}, "cors_origins"),
        ({"cors_origins": ["https://app.example.com/path"]}, "cors_origins"),
        ({"cors_origins": ["https://app.example.com\n"]}, "cors_origins"),
        ({"auth": "basic"}, "auth"),
        ({"auth": "jwt", "jwt_issuer": ISSUER}, "jwt_audience"),
        ({"auth": "jwt", "jwt_issuer": "http://idp.example.com", "jwt_audience": ["a"]}, "jwt_issuer"),
        ({"rate_limit": 0.0}, "rate_limit"),
        ({"burst_limit": 0}, "burst_limit"),
        ({"timeout_seconds": 30}, "timeout_seconds"),
        ({"environment": {"UPLOAD_EXPIRY_SECONDS": "7200"}}, "UPLOAD_EXPIRY_SECONDS"),
        ({"transfer_acceleration": True, "source_bucket_name": "team.uploads"}, "transfer_acceleration"),
    ],
)
def test_bad_args_are_refused_naming_the_field(changes: dict[str, Any], field: str):
    # GIVEN valid args WHEN one is changed to a bad value
    with pytest.raises(ArgError) as error:
        dataclasses.replace(ARGS, **changes)
    # THEN the one config-error type carries the field (stack_config maps it to a config key), text starting with it
    assert error.value.field == field
    assert str(error.value).startswith(f"{field} ")


EMAIL = "ops@photos.test"


def test_api_config_adds_the_api_with_processing_history_and_exports_its_url(run_pulumi: Runner):
    # GIVEN api: true and nothing else of the API's settings WHEN the program runs
    deployment = run_pulumi(notificationEmail=EMAIL, api="true")
    # THEN the API exists with IAM auth, the history table is on and the API reads it
    assert deployment.outputs["apiUrl"] == "https://api-http-id.execute-api.us-east-1.amazonaws.com"
    assert deployment.one("aws:dynamodb/table:Table")
    function = deployment.one("aws:lambda/function:Function", "api-function")
    assert function["name"] == "image-processor-dev-api"
    assert function["environment"]["variables"]["HISTORY_TABLE"] == "processor-history-generated"
    assert {r.inputs["authorizationType"] for r in deployment.of_type(ROUTE)} == {"AWS_IAM"}
    policy = deployment.policy("aws:iam/rolePolicy:RolePolicy", "api-permissions")
    (status,) = [s for s in policy["Statement"] if s["Sid"] == "ReadStatus"]
    assert status["Resource"] == f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/processor-history-generated"
    assert "corsConfiguration" not in deployment.one(API)


def test_api_settings_come_from_their_config_keys(run_pulumi: Runner):
    deployment = run_pulumi(
        notificationEmail=EMAIL,
        api="true",
        apiAuth="jwt",
        jwtIssuer=ISSUER,
        jwtAudience="web, ios",
        corsOrigins="https://app.example.com, https://admin.example.com",
        apiRateLimit="5",
        apiBurstLimit="10",
        transferAcceleration="true",
        cdn="true",
        maxInputBytes="1000000",
    )
    assert deployment.one("aws:apigatewayv2/authorizer:Authorizer")["jwtConfiguration"]["audiences"] == ["web", "ios"]
    assert deployment.one(API)["corsConfiguration"]["allowOrigins"] == [
        "https://app.example.com",
        "https://admin.example.com",
    ]
    stage = deployment.one("aws:apigatewayv2/stage:Stage")
    assert stage["defaultRouteSettings"] == {"throttlingRateLimit": 5.0, "throttlingBurstLimit": 10}
    assert deployment.one("aws:s3/bucketAccelerateConfiguration:BucketAccelerateConfiguration")["status"] == "Enabled"
    variables = deployment.one("aws:lambda/function:Function", "api-function")["environment"]["variables"]
    assert variables["CDN_DOMAIN"] == "d111111abcdef8.cloudfront.net"
    assert variables["MAX_INPUT_BYTES"] == "1000000"


def test_without_api_config_there_is_no_api(run_pulumi: Runner):
    deployment = run_pulumi(notificationEmail=EMAIL)
    assert not [r for r in deployment.registrations if r.typ.startswith("aws:apigatewayv2")]
    assert "apiUrl" not in deployment.outputs


@pytest.mark.parametrize(
    ("key", "value"),
    [("apiAuth", "basic"), ("corsOrigins", "*"), ("apiRateLimit", "0"), ("apiBurstLimit", "0"), ("jwtAudience", "")],
)
def test_bad_api_config_is_an_error_naming_the_key(run_pulumi: Runner, key: str, value: str):
    # GIVEN a valid JWT API config with one bad value
    config = {"notificationEmail": EMAIL, "api": "true", "apiAuth": "jwt", "jwtIssuer": ISSUER, "jwtAudience": "web"}
    # WHEN the program runs THEN the error is the config error of that key, its message starting with the key
    with pytest.raises(StackConfigError) as error:
        run_pulumi(**{**config, key: value})
    assert error.value.key == key
    assert str(error.value).startswith(f"image-processor:{key} ")
