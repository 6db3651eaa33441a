"""UploadApi: an authenticated HTTP API that hands out presigned uploads, reports status and deletes.

HTTP API (not REST API): see docs/api.md for the choice. Every route needs IAM (SigV4) or a JWT; CORS
answers only the configured origins; the stage throttles; the function has its own role and logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from api.settings import UPLOAD_PREFIX, SettingError, settings_from_env
from components import policies
from components.alarm_set import ABOVE, AT_LEAST
from components.args import ArgError, between, one_of
from components.notifying_function import (
    LOG_RETENTION_DAYS,
    check_platform,
    function_log_group,
    function_role,
    lambda_function,
)

HANDLER = "api.app.lambda_handler"
STAGE = "$default"
ROUTES = (("POST", "/uploads"), ("GET", "/images/{key}"), ("DELETE", "/images/{key}"))
AUTHORIZATION = {"iam": "AWS_IAM", "jwt": "JWT"}
MAX_TIMEOUT_SECONDS = 29  # API Gateway gives up on an integration after 30 s
# An allowed origin is a scheme and host (and port): no path, no wildcard.
_ORIGIN = re.compile(r"(https://[a-z0-9.-]+|http://(localhost|127\.0\.0\.1))(:\d{1,5})?")
# Variables the args set from typed fields: an error about the variable names the field instead.
ENVIRONMENT_FIELDS = {"API_AUTH": "auth", "JWT_ISSUER": "jwt_issuer", "TRANSFER_ACCELERATION": "transfer_acceleration"}
# What API Gateway writes per request: never a header, so never a token or signature.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
    },
    sort_keys=True,
)


@dataclass(frozen=True)
class UploadApiArgs:
    """Where uploads go and status comes from, who may call, from which origins, and how fast."""

    function_name: str
    code: pulumi.Archive
    source_bucket_name: pulumi.Input[str]
    source_bucket_arn: pulumi.Input[str]
    destination_bucket_name: pulumi.Input[str]
    destination_bucket_arn: pulumi.Input[str]
    history_table_name: pulumi.Input[str]
    history_table_arn: pulumi.Input[str]
    region: str
    auth: str = "iam"
    jwt_issuer: str = ""
    jwt_audience: Sequence[str] = ()
    cors_origins: Sequence[str] = ()
    rate_limit: float = 50.0
    burst_limit: int = 100
    transfer_acceleration: bool = False
    cdn_domain: pulumi.Input[str] | None = None
    kms_key_arn: str | None = None
    runtime: str = "python3.13"
    architecture: str = "x86_64"
    memory_mb: int = 256
    timeout_seconds: int = 10
    log_retention_days: int = 7
    latency_threshold_ms: int = 1000
    environment: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_function()
        self._check_access()
        self._check_environment()

    def _check_function(self) -> None:
        if not re.match(r"^[A-Za-z0-9_-]{1,64}$", self.function_name):
            raise ArgError("function_name", f"must be 1-64 letters, digits, - or _, got {self.function_name!r}")
        check_platform(self.runtime, self.architecture)
        between("memory_mb", self.memory_mb, 128, 10240)
        if not 1 <= self.timeout_seconds <= MAX_TIMEOUT_SECONDS:
            raise ArgError(
                "timeout_seconds",
                f"must be between 1 and {MAX_TIMEOUT_SECONDS} (API Gateway waits 30 s), got {self.timeout_seconds}",
            )
        one_of("log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)

    def _check_access(self) -> None:
        for origin in self.cors_origins:
            if not _ORIGIN.fullmatch(origin):
                raise ArgError("cors_origins", f"{origin!r} is not an origin like https://app.example.com (no *)")
        if self.auth == "jwt" and not self.jwt_audience:
            raise ArgError("jwt_audience", "needs at least one audience (client id) when auth is jwt")
        if self.rate_limit <= 0:
            raise ArgError("rate_limit", f"must be positive (requests per second), got {self.rate_limit}")
        if self.burst_limit < 1:
            raise ArgError("burst_limit", f"must be at least 1, got {self.burst_limit}")
        if self.latency_threshold_ms < 1:
            raise ArgError("latency_threshold_ms", f"must be positive, got {self.latency_threshold_ms}")
        if self.transfer_acceleration and isinstance(self.source_bucket_name, str) and "." in self.source_bucket_name:
            raise ArgError("transfer_acceleration", "needs a source bucket name without dots")

    def _check_environment(self) -> None:
        placeholders = {"SOURCE_BUCKET": "-", "DESTINATION_BUCKET": "+", "HISTORY_TABLE": "-"}
        try:
            # The function's own validator, so preview refuses exactly what a cold start would.
            settings_from_env({**placeholders, **self.handler_environment()})
        except SettingError as error:
            # A variable set from a typed arg is reported as that arg; the others (e.g. MAX_INPUT_BYTES) as themselves.
            raise ArgError(ENVIRONMENT_FIELDS.get(error.variable, error.variable), error.message) from None

    def handler_environment(self) -> dict[str, str]:
        """The function's variables known before deployment (bucket and table names come later)."""
        return {
            **self.environment,
            "API_AUTH": self.auth,
            **({"JWT_ISSUER": self.jwt_issuer} if self.auth == "jwt" else {}),
            "TRANSFER_ACCELERATION": str(self.transfer_acceleration).lower(),
        }


class UploadApi(pulumi.ComponentResource):
    """The API, its function (own role, own log group), the source bucket's CORS and acceleration.

    Alarms and dashboard widgets are produced as data (`alarm_specs`, `dashboard_widgets`) for AlarmSet,
    so every alarm of the stack goes to the one alarm topic.
    """

    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    api: aws.apigatewayv2.Api
    stage: aws.apigatewayv2.Stage
    url: pulumi.Output[str]
    alarm_specs: list[dict[str, Any]]
    dashboard_widgets: list[pulumi.Output[dict[str, Any]]]

    def __init__(self, name: str, args: UploadApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-processor:api:UploadApi", name, None, opts)
        self._create_function(name, args)
        self._create_api(name, args)
        self._configure_source_bucket(name, args)
        self.url = self.api.api_endpoint
        self.alarm_specs = alarm_specs(self.api.id, args.latency_threshold_ms)
        self.dashboard_widgets = dashboard_widgets(args.region, self.api.id, self.function.name)
        self.register_outputs(
            {"url": self.url, "function_name": self.function.name, "log_group_name": self.log_group.name}
        )

    def _create_function(self, name: str, args: UploadApiArgs) -> None:
        self.log_group = function_log_group(self, name, args)
        self.role = function_role(self, name)
        role_policy = aws.iam.RolePolicy(
            f"{name}-permissions",
            role=self.role.id,
            policy=pulumi.Output.all(
                args.source_bucket_arn, args.destination_bucket_arn, args.history_table_arn, self.log_group.arn
            ).apply(
                lambda arns: policies.api_function_policy(
                    source_bucket_arn=arns[0],
                    destination_bucket_arn=arns[1],
                    history_table_arn=arns[2],
                    log_group_arn=arns[3],
                    upload_prefix=UPLOAD_PREFIX,
                    kms_key_arn=args.kms_key_arn,
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.function = lambda_function(
            self,
            name,
            args,
            handler=HANDLER,
            role=self.role,
            role_policy=role_policy,
            log_group=self.log_group,
            variables={
                **args.handler_environment(),
                **({"CDN_DOMAIN": args.cdn_domain} if args.cdn_domain is not None else {}),
                "SOURCE_BUCKET": args.source_bucket_name,
                "DESTINATION_BUCKET": args.destination_bucket_name,
                "HISTORY_TABLE": args.history_table_name,
            },
        )

    def _create_api(self, name: str, args: UploadApiArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.api = aws.apigatewayv2.Api(
            f"{name}-http",
            name=args.function_name,
            protocol_type="HTTP",
            # API Gateway answers preflights itself, before any authorizer, and only for these origins.
            cors_configuration=(
                {
                    "allow_origins": list(args.cors_origins),
                    "allow_methods": ["GET", "POST", "DELETE"],
                    "allow_headers": [
                        "authorization",
                        "content-type",
                        "x-amz-date",
                        "x-amz-security-token",
                        "x-amz-content-sha256",
                    ],
                    "expose_headers": ["location"],
                    "max_age": 600,
                }
                if args.cors_origins
                else None
            ),
            opts=child,
        )
        authorizer = (
            aws.apigatewayv2.Authorizer(
                f"{name}-jwt",
                api_id=self.api.id,
                name=f"{args.function_name}-jwt",
                authorizer_type="JWT",
                identity_sources=["$request.header.Authorization"],
                jwt_configuration={"issuer": args.jwt_issuer, "audiences": list(args.jwt_audience)},
                opts=child,
            )
            if args.auth == "jwt"
            else None
        )
        integration = aws.apigatewayv2.Integration(
            f"{name}-integration",
            api_id=self.api.id,
            integration_type="AWS_PROXY",
            integration_uri=self.function.invoke_arn,
            payload_format_version="2.0",
            timeout_milliseconds=(args.timeout_seconds + 1) * 1000,
            opts=child,
        )
        for method, path in ROUTES:
            self._route(name, method, path, args=args, integration=integration, authorizer=authorizer)
        self.stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            api_id=self.api.id,
            name=STAGE,
            auto_deploy=True,
            default_route_settings={
                "throttling_rate_limit": args.rate_limit,
                "throttling_burst_limit": args.burst_limit,
            },
            access_log_settings={"destination_arn": self._access_log_arn(name, args), "format": ACCESS_LOG_FORMAT},
            opts=child,
        )

    def _route(
        self,
        name: str,
        method: str,
        path: str,
        *,
        args: UploadApiArgs,
        integration: aws.apigatewayv2.Integration,
        authorizer: aws.apigatewayv2.Authorizer | None,
    ) -> None:
        """One authenticated route, and permission for API Gateway to invoke the function for it only."""
        child = pulumi.ResourceOptions(parent=self)
        slug = f"{method.lower()}-{path.strip('/').split('/')[0]}"
        aws.apigatewayv2.Route(
            f"{name}-{slug}",
            api_id=self.api.id,
            route_key=f"{method} {path}",
            target=pulumi.Output.concat("integrations/", integration.id),
            authorization_type=AUTHORIZATION[args.auth],
            authorizer_id=authorizer.id if authorizer else None,
            opts=child,
        )
        resource = path.replace("{key}", "*")
        aws.lambda_.Permission(
            f"{name}-{slug}-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="apigateway.amazonaws.com",
            source_arn=self.api.execution_arn.apply(lambda arn: f"{arn}/*/{method}{resource}"),
            opts=child,
        )

    def _access_log_arn(self, name: str, args: UploadApiArgs) -> pulumi.Output[str]:
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{args.function_name}",
            retention_in_days=args.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return access_logs.arn

    def _configure_source_bucket(self, name: str, args: UploadApiArgs) -> None:
        """Browsers may POST the form from the configured origins; uploads may use the accelerate endpoint."""
        child = pulumi.ResourceOptions(parent=self)
        if args.cors_origins:
            aws.s3.BucketCorsConfiguration(
                f"{name}-source-cors",
                bucket=args.source_bucket_name,
                cors_rules=[
                    {
                        "allowed_methods": ["POST"],
                        "allowed_origins": list(args.cors_origins),
                        "expose_headers": ["ETag"],
                        "max_age_seconds": 600,
                    }
                ],
                opts=child,
            )
        if args.transfer_acceleration:
            aws.s3.BucketAccelerateConfiguration(
                f"{name}-source-acceleration", bucket=args.source_bucket_name, status="Enabled", opts=child
            )


def alarm_specs(api_id: pulumi.Input[str], latency_threshold_ms: int) -> list[dict[str, Any]]:
    """The API's alarms as AlarmSpec fields (`AlarmSpec(**spec)`): server errors and slow answers."""
    dimensions = {"ApiId": api_id, "Stage": STAGE}
    return [
        {
            "suffix": "api-5xx",
            "namespace": "AWS/ApiGateway",
            "metric": "5xx",
            "dimensions": dimensions,
            "statistic": "Sum",
            "threshold": 1,
            "comparison": AT_LEAST,
            "description": "The upload API answered with server errors (function errors, timeouts, storage outages)",
        },
        {
            "suffix": "api-latency",
            "namespace": "AWS/ApiGateway",
            "metric": "Latency",
            "dimensions": dimensions,
            "statistic": "Average",
            "threshold": latency_threshold_ms,
            "comparison": ABOVE,
            "description": f"The upload API took over {latency_threshold_ms} ms on average",
        },
    ]


def dashboard_widgets(
    region: str, api_id: pulumi.Input[str], function_name: pulumi.Input[str], period: int = 300
) -> list[pulumi.Output[dict[str, Any]]]:
    """The API's dashboard widgets (full CloudWatch widget dicts) for AlarmSet's extra_widgets."""

    def widget(title: str, metrics: list[list[Any]], stat: str = "Sum") -> pulumi.Output[dict[str, Any]]:
        properties = {"title": title, "region": region, "stat": stat, "period": period, "metrics": metrics}
        return pulumi.Output.from_input({"type": "metric", "width": 12, "height": 6, "properties": properties})

    api = ["ApiId", api_id, "Stage", STAGE]
    return [
        widget("API requests, 4xx, 5xx", [["AWS/ApiGateway", metric, *api] for metric in ("Count", "4xx", "5xx")]),
        widget(
            "API latency (ms)",
            [
                *[["AWS/ApiGateway", "Latency", *api, {"stat": stat, "label": stat}] for stat in ("p50", "p95")],
                ["AWS/ApiGateway", "IntegrationLatency", *api, {"stat": "p95", "label": "integration p95"}],
            ],
            stat="p95",
        ),
        widget(
            "API function errors and throttles",
            [["AWS/Lambda", metric, "FunctionName", function_name] for metric in ("Errors", "Throttles")],
        ),
    ]
