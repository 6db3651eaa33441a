"""The stack's configuration: read once, turned into component args, errors naming the config key.

Every config key is in `KEYS`, with the component arg it sets. Defaults live in the component args
(and, for the handler's own settings, in the handler's table): an unset key passes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pulumi

from components.alarm_set import AlarmSetArgs
from components.naming import PROJECT, bucket_name, function_name
from components.notifying_function import (
    DEFAULT_ARCHITECTURE,
    DEFAULT_RUNTIME,
    NotifyingFunction,
    NotifyingFunctionArgs,
    check_platform,
)
from components.processed_bucket_pair import ProcessedBucketPair, ProcessedBucketPairArgs
from handler.renditions import parse_renditions

T = TypeVar("T")
# Renditions change only when their source is overwritten (same key): caches keep them a year, and the
# function invalidates what it deletes or overwrites.
LONG_LIVED = "public, max-age=31536000"
# Addresses at the domains reserved for documentation (RFC 2606) never receive mail.
PLACEHOLDER_DOMAIN = re.compile(r"(^|\.)example\.(com|org|net)$|\.example$|^example$", re.IGNORECASE)


@dataclass(frozen=True)
class Key:
    """A config key, the component arg it sets, and how it is read."""

    name: str
    arg: str
    kind: str = "str"  # str | int | float | bool | object


BUCKET_KEYS = (
    Key("sourceBucketName", "source_bucket_name"),
    Key("destinationBucketName", "destination_bucket_name"),
    Key("logBucketName", "log_bucket_name"),
    Key("forceDestroy", "force_destroy", "bool"),
    Key("sourceVersioning", "source_versioning", "bool"),
    Key("kmsKeyArn", "kms_key_arn"),
    Key("cdn", "cdn", "bool"),
    Key("noncurrentVersionDays", "noncurrent_version_days", "int"),
    Key("accessLogDays", "access_log_days", "int"),
)
FUNCTION_KEYS = (
    Key("notificationEmail", "notification_emails"),
    Key("runtime", "runtime"),
    Key("architecture", "architecture"),
    Key("memorySize", "memory_mb", "int"),
    Key("timeout", "timeout_seconds", "int"),
    Key("logRetentionDays", "log_retention_days", "int"),
    Key("maxRetryAttempts", "max_retry_attempts", "int"),
    Key("maxEventAgeSeconds", "max_event_age_seconds", "int"),
    Key("resizeWidth", "resize_width", "int"),
    Key("resizeHeight", "resize_height", "int"),
    Key("jpegQuality", "jpeg_quality", "int"),
    Key("kmsKeyArn", "kms_key_arn"),
    Key("renditions", "renditions", "object"),
    Key("processingHistory", "processing_history", "bool"),
    Key("heic", "heic", "bool"),
    Key("reservedConcurrency", "reserved_concurrency", "int"),
    Key("trigger", "trigger"),
    Key("sqsBatchSize", "sqs_batch_size", "int"),
    Key("sqsMaxConcurrency", "sqs_max_concurrency", "int"),
)
# Handler settings without a typed arg: passed as the handler's environment variables.
ENVIRONMENT_KEYS = (Key("maxInputBytes", "MAX_INPUT_BYTES", "int"), Key("maxPixels", "MAX_PIXELS", "int"))
ALARM_KEYS = (
    Key("alarmEmail", "alarm_emails"),
    Key("durationAlarmFraction", "duration_threshold_fraction", "float"),
)
KEYS = (*BUCKET_KEYS, *FUNCTION_KEYS, *ENVIRONMENT_KEYS, *ALARM_KEYS)
_KEY_OF_ARG = {key.arg: key.name for key in KEYS}


class StackConfigError(ValueError):
    """A config value the program refuses, with the key to change (`image-processor:<key>`)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{PROJECT}:{key}: {message}")
        self.key = key


def checked(build: Callable[[], T]) -> T:
    """Run `build`; a ValueError about an arg is re-raised naming the config key that sets it."""
    try:
        return build()
    except ValueError as error:
        message = str(error)
        field = message.split(maxsplit=1)[0].rstrip(":")
        if field in _KEY_OF_ARG:
            raise StackConfigError(_KEY_OF_ARG[field], message) from None
        raise


def emails(raw: str, key: str) -> list[str]:
    """The comma-separated addresses of `key`; the documentation domains are refused with the fix."""
    addresses = [address.strip() for address in raw.split(",") if address.strip()]
    for address in addresses:
        if PLACEHOLDER_DOMAIN.search(address.rpartition("@")[2]):
            raise StackConfigError(
                key,
                f"{address} is a placeholder: {address.rpartition('@')[2]} never receives mail. "
                f"Set your own address: pulumi config set {PROJECT}:{key} you@your-domain",
            )
    return addresses


@dataclass(frozen=True)
class StackConfig:
    """Every setting of a stack, as read from `pulumi config`."""

    stack: str
    config: pulumi.Config

    def _read(self, key: Key) -> Any:
        read: dict[str, Callable[[str], Any]] = {
            "str": self.config.get,
            "int": self.config.get_int,
            "float": self.config.get_float,
            "bool": self.config.get_bool,
            "object": self.config.get_object,
        }
        return read[key.kind](key.name)

    def _set(self, keys: Sequence[Key]) -> dict[str, Any]:
        """The args of the keys that are set; unset keys keep the component's defaults."""
        values = {key.arg: self._read(key) for key in keys}
        return {arg: value for arg, value in values.items() if value is not None}

    def bucket_args(self, account_id: str) -> ProcessedBucketPairArgs:
        """Bucket names from the spec's scheme (stack added) unless set, and their options."""
        args = self._set(BUCKET_KEYS)
        if args.get("cdn") and args.get("kms_key_arn"):
            raise StackConfigError(
                "cdn",
                f"{PROJECT}:cdn and {PROJECT}:kmsKeyArn cannot be combined: CloudFront cannot decrypt objects "
                "under your key, so every rendition would answer 403. Remove one: "
                f"pulumi config rm {PROJECT}:kmsKeyArn (or {PROJECT}:cdn)",
            )
        for arg, role in (
            ("source_bucket_name", "source"),
            ("destination_bucket_name", "processed"),
            ("log_bucket_name", "logs"),
        ):
            args.setdefault(arg, bucket_name(role, self.stack, account_id))
        return checked(lambda: ProcessedBucketPairArgs(account_id=account_id, **args))

    def function_args(
        self,
        account_id: str,
        region: str,
        buckets: ProcessedBucketPair,
        build_code: Callable[[str, str], pulumi.Archive],
    ) -> NotifyingFunctionArgs:
        """The function's settings; its args check the handler's variables with the handler's own rules."""
        args = self._set(FUNCTION_KEYS)
        args["notification_emails"] = emails(self.config.require("notificationEmail"), "notificationEmail")
        if "renditions" in args:
            try:
                args["renditions"] = parse_renditions(json.dumps(args["renditions"]))
            except ValueError as error:
                raise StackConfigError("renditions", str(error)) from None
        runtime = args.get("runtime", DEFAULT_RUNTIME)
        architecture = args.get("architecture", DEFAULT_ARCHITECTURE)
        checked(lambda: check_platform(runtime, architecture))
        return checked(
            lambda: NotifyingFunctionArgs(
                function_name=function_name(self.stack),
                account_id=account_id,
                region=region,
                source_bucket_name=buckets.source_bucket_name,
                source_bucket_arn=buckets.source_bucket_arn,
                destination_bucket_name=buckets.destination_bucket_name,
                destination_bucket_arn=buckets.destination_bucket_arn,
                code=build_code(runtime, architecture),
                cdn_distribution=buckets.distribution,
                cache_control=LONG_LIVED if buckets.distribution else "",
                environment={variable: str(value) for variable, value in self._set(ENVIRONMENT_KEYS).items()},
                **args,
            )
        )

    def alarm_args(
        self,
        account_id: str,
        region: str,
        buckets: ProcessedBucketPair,
        function: NotifyingFunction,
        timeout_seconds: int,
    ) -> AlarmSetArgs:
        """Alarms go to alarmEmail, or to the notification addresses when it is not set."""
        args = self._set(ALARM_KEYS)
        raw_alarm_emails = args.pop("alarm_emails", "") or self.config.require("notificationEmail")
        key = "alarmEmail" if self.config.get("alarmEmail") else "notificationEmail"
        return checked(
            lambda: AlarmSetArgs(
                account_id=account_id,
                function_name=function.function.name,
                function_timeout_seconds=timeout_seconds,
                dead_letter_queue_name=function.dead_letter_queue.name,
                alarm_emails=emails(raw_alarm_emails, key),
                region=region,
                dashboard_name=function_name(self.stack),
                bucket_names=[buckets.source_bucket_name, buckets.destination_bucket_name],
                notification_topic_name=function.topic.name,
                **args,
            )
        )
