"""The stack's configuration: read once, turned into component args, errors naming the config key."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pulumi

from components.alarm_set import AlarmSetArgs
from components.naming import PROJECT, bucket_name, function_name
from components.notifying_function import NotifyingFunction, NotifyingFunctionArgs
from components.processed_bucket_pair import ProcessedBucketPair, ProcessedBucketPairArgs
from components.upload_api import UploadApiArgs
from handler.renditions import RenditionSpec, parse_renditions

T = TypeVar("T")
# Renditions change only when their source is overwritten (same key): caches keep them a year, and an
# overwrite needs a CloudFront invalidation to show at once (see the README).
LONG_LIVED = "public, max-age=31536000"

# Component arg or handler variable -> the config key a user sets (`pulumi config set <key> ...`).
CONFIG_KEYS = {
    "source_bucket_name": "sourceBucketName",
    "destination_bucket_name": "destinationBucketName",
    "kms_key_arn": "kmsKeyArn",
    "runtime": "runtime",
    "architecture": "architecture",
    "memory_mb": "memorySize",
    "timeout_seconds": "timeout",
    "log_retention_days": "logRetentionDays",
    "max_retry_attempts": "maxRetryAttempts",
    "max_event_age_seconds": "maxEventAgeSeconds",
    "resize_width": "resizeWidth",
    "resize_height": "resizeHeight",
    "jpeg_quality": "jpegQuality",
    "notification_emails": "notificationEmail",
    "alarm_emails": "alarmEmail",
    "duration_threshold_fraction": "durationAlarmFraction",
    "MAX_INPUT_BYTES": "maxInputBytes",
    "MAX_PIXELS": "maxPixels",
    "RENDITIONS": "renditions",
    "renditions": "renditions",
}


def checked(build: Callable[[], T]) -> T:
    """Run `build`; a ValueError is re-raised naming the config key behind the field it names."""
    try:
        return build()
    except ValueError as error:
        message = str(error)
        for field, key in CONFIG_KEYS.items():
            if field in message.split(maxsplit=1)[0] or f"change {field}" in message:
                raise ValueError(f"config {PROJECT}:{key}: {message}") from None
        raise


def _emails(raw: str | None) -> list[str]:
    return [address.strip() for address in (raw or "").split(",") if address.strip()]


@dataclass(frozen=True)
class StackConfig:
    """Every setting of a stack, as read from `pulumi config`."""

    stack: str
    config: pulumi.Config

    def _int(self, key: str, default: int) -> int:
        value = self.config.get_int(key)
        return default if value is None else value

    def bucket_args(self, account_id: str) -> ProcessedBucketPairArgs:
        """Bucket names from the spec's scheme (stack added) unless set, and their options."""
        return checked(
            lambda: ProcessedBucketPairArgs(
                source_bucket_name=self.config.get("sourceBucketName") or bucket_name("source", self.stack, account_id),
                destination_bucket_name=self.config.get("destinationBucketName")
                or bucket_name("processed", self.stack, account_id),
                force_destroy=bool(self.config.get_bool("forceDestroy")),
                source_versioning=self.config.get_bool("sourceVersioning") is not False,
                kms_key_arn=self.config.get("kmsKeyArn"),
                cdn=bool(self.config.get_bool("cdn")),
            )
        )

    def function_args(self, account_id: str, buckets: ProcessedBucketPair) -> NotifyingFunctionArgs:
        """The function's settings; its args check the handler's variables with the handler's own rules."""
        environment = {
            name: str(value)
            for name, value in (
                ("MAX_INPUT_BYTES", self.config.get_int("maxInputBytes")),
                ("MAX_PIXELS", self.config.get_int("maxPixels")),
            )
            if value is not None
        }
        return checked(
            lambda: NotifyingFunctionArgs(
                function_name=function_name(self.stack),
                account_id=account_id,
                source_bucket_name=buckets.source_bucket_name,
                source_bucket_arn=buckets.source_bucket_arn,
                destination_bucket_name=buckets.destination_bucket_name,
                destination_bucket_arn=buckets.destination_bucket_arn,
                notification_emails=_emails(self.config.require("notificationEmail")),
                runtime=self.config.get("runtime") or "python3.13",
                architecture=self.config.get("architecture") or "x86_64",
                memory_mb=self._int("memorySize", 512),
                timeout_seconds=self._int("timeout", 60),
                log_retention_days=self._int("logRetentionDays", 7),
                max_retry_attempts=self._int("maxRetryAttempts", 2),
                max_event_age_seconds=self._int("maxEventAgeSeconds", 3600),
                resize_width=self._int("resizeWidth", 800),
                resize_height=self._int("resizeHeight", 600),
                jpeg_quality=self._int("jpegQuality", 85),
                kms_key_arn=self.config.get("kmsKeyArn"),
                renditions=self._renditions(),
                processing_history=bool(self.config.get_bool("processingHistory")) or self.api_enabled,
                cache_control=LONG_LIVED if self.config.get_bool("cdn") else "",
                environment=environment,
            )
        )

    def _renditions(self) -> tuple[RenditionSpec, ...]:
        entries = self.config.get_object("renditions")
        return parse_renditions(json.dumps(entries)) if entries is not None else ()

    def alarm_args(
        self, account_id: str, region: str, function: NotifyingFunction, timeout_seconds: int
    ) -> AlarmSetArgs:
        """Alarms go to alarmEmail, or to the notification addresses when it is not set."""
        emails = _emails(self.config.get("alarmEmail")) or _emails(self.config.require("notificationEmail"))
        fraction = self.config.get_float("durationAlarmFraction")
        return checked(
            lambda: AlarmSetArgs(
                account_id=account_id,
                function_name=function.function.name,
                function_timeout_seconds=timeout_seconds,
                dead_letter_queue_name=function.dead_letter_queue.name,
                alarm_emails=emails,
                region=region,
                dashboard_name=function_name(self.stack),
                duration_threshold_fraction=0.8 if fraction is None else fraction,
            )
        )

    @property
    def api_enabled(self) -> bool:
        """`api: true` adds the upload API (and turns processing history on: the API reads status there)."""
        return bool(self.config.get_bool("api"))

    def api_args(
        self,
        region: str,
        buckets: ProcessedBucketPair,
        function: NotifyingFunction,
        function_args: NotifyingFunctionArgs,
        code: pulumi.Archive,
    ) -> UploadApiArgs:
        """The upload API's settings; it shares the image function's runtime, limits and log retention."""
        table = function.history_table
        if table is None:
            raise ValueError(f"config {PROJECT}:api: needs the processing history table")
        rate = self.config.get_float("apiRateLimit")
        max_input_bytes = function_args.environment.get("MAX_INPUT_BYTES")
        return checked(
            lambda: UploadApiArgs(
                function_name=f"{function_name(self.stack)}-api",
                code=code,
                source_bucket_name=buckets.source_bucket_name,
                source_bucket_arn=buckets.source_bucket_arn,
                destination_bucket_name=buckets.destination_bucket_name,
                destination_bucket_arn=buckets.destination_bucket_arn,
                history_table_name=table.name,
                history_table_arn=table.arn,
                region=region,
                auth=self.config.get("apiAuth") or "iam",
                jwt_issuer=self.config.get("jwtIssuer") or "",
                jwt_audience=_list(self.config.get("jwtAudience")),
                cors_origins=_list(self.config.get("corsOrigins")),
                rate_limit=50.0 if rate is None else rate,
                burst_limit=self._int("apiBurstLimit", 100),
                transfer_acceleration=bool(self.config.get_bool("transferAcceleration")),
                cdn_domain=buckets.distribution.domain_name if buckets.distribution else None,
                kms_key_arn=function_args.kms_key_arn,
                runtime=function_args.runtime,
                architecture=function_args.architecture,
                log_retention_days=function_args.log_retention_days,
                environment={"MAX_INPUT_BYTES": max_input_bytes} if max_input_bytes else {},
            )
        )


def _list(raw: str | None) -> list[str]:
    """A comma-separated config value as a list (corsOrigins, jwtAudience)."""
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


# The upload API's args -> config keys (folded into the one table above at merge).
CONFIG_KEYS.update(
    {
        "auth": "apiAuth",
        "jwt_issuer": "jwtIssuer",
        "jwt_audience": "jwtAudience",
        "cors_origins": "corsOrigins",
        "rate_limit": "apiRateLimit",
        "burst_limit": "apiBurstLimit",
        "transfer_acceleration": "transferAcceleration",
    }
)
