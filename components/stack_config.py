"""The stack's configuration: read once, turned into component args, errors naming the config key."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pulumi

from components.alarm_set import AlarmSetArgs
from components.backfill_workflow import CONFIG_KEYS as BACKFILL_CONFIG_KEYS
from components.backfill_workflow import BackfillWorkflowArgs
from components.naming import PROJECT, bucket_name, function_name
from components.notifying_function import NotifyingFunction, NotifyingFunctionArgs
from components.processed_bucket_pair import ProcessedBucketPair, ProcessedBucketPairArgs
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
                processing_history=bool(self.config.get_bool("processingHistory")),
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

    def backfill_args(
        self, account_id: str, buckets: ProcessedBucketPair, function: NotifyingFunction
    ) -> BackfillWorkflowArgs | None:
        """The backfill workflow's settings (issue 16), or None unless `backfillWorkflow` is true."""
        if not self.config.get_bool("backfillWorkflow"):
            return None
        inventory = self.config.get("backfillInventoryBucket")
        percent = self.config.get_float("backfillToleratedFailurePercent")
        try:
            return BackfillWorkflowArgs(
                state_machine_name=f"{function_name(self.stack)}-backfill",
                function_arn=function.function.arn,
                source_bucket_name=buckets.source_bucket_name,
                source_bucket_arn=buckets.source_bucket_arn,
                results_bucket_name=bucket_name("backfill-results", self.stack, account_id),
                max_concurrency=self._int("backfillMaxConcurrency", 100),
                tolerated_failure_percent=5.0 if percent is None else percent,
                log_retention_days=self._int("logRetentionDays", 30),
                inventory_bucket_arn=f"arn:aws:s3:::{inventory}" if inventory else None,
                kms_key_arn=self.config.get("kmsKeyArn"),
                force_destroy=bool(self.config.get_bool("forceDestroy")),
            )
        except ValueError as error:
            key = BACKFILL_CONFIG_KEYS.get(str(error).split(maxsplit=1)[0], "backfillWorkflow")
            raise ValueError(f"config {PROJECT}:{key}: {error}") from None
