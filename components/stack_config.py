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
from components.backfill_workflow import BackfillWorkflowArgs
from components.naming import PROJECT, bucket_name, function_name
from components.notifying_function import (
    DEFAULT_ARCHITECTURE,
    DEFAULT_RUNTIME,
    NotifyingFunction,
    NotifyingFunctionArgs,
    check_platform,
)
from components.processed_bucket_pair import ProcessedBucketPair, ProcessedBucketPairArgs
from components.upload_api import UploadApiArgs
from handler.renditions import parse_renditions
from handler.settings import FIELD, FIELDS, ConfigError

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
    kind: str = "str"  # str | int | float | bool | object | list (comma-separated)


def _handler_key(setting: str, arg: str, kind: str) -> Key:
    """A typed arg carrying a handler setting: its config key is the handler's (handler.settings.FIELDS)."""
    key = FIELD[setting].config_key
    assert key, f"{setting} has no config key"
    return Key(key, arg, kind)


BUCKET_KEYS = (
    _handler_key("source_bucket", "source_bucket_name", "str"),
    _handler_key("destination_bucket", "destination_bucket_name", "str"),
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
    _handler_key("memory_mb", "memory_mb", "int"),
    Key("timeout", "timeout_seconds", "int"),
    Key("logRetentionDays", "log_retention_days", "int"),
    Key("maxRetryAttempts", "max_retry_attempts", "int"),
    Key("maxEventAgeSeconds", "max_event_age_seconds", "int"),
    _handler_key("width", "resize_width", "int"),
    _handler_key("height", "resize_height", "int"),
    _handler_key("jpeg_quality", "jpeg_quality", "int"),
    Key("kmsKeyArn", "kms_key_arn"),
    _handler_key("renditions", "renditions", "object"),
    Key("processingHistory", "processing_history", "bool"),
    _handler_key("heic", "heic", "bool"),
    Key("reservedConcurrency", "reserved_concurrency", "int"),
    _handler_key("trigger", "trigger", "str"),
    Key("sqsBatchSize", "sqs_batch_size", "int"),
    Key("sqsMaxConcurrency", "sqs_max_concurrency", "int"),
)
ALARM_KEYS = (
    Key("alarmEmail", "alarm_emails"),
    Key("durationAlarmFraction", "duration_threshold_fraction", "float"),
)
# Switches: the program reads them to decide which optional component to build (no arg of their own).
API_SWITCH = Key("api", "", "bool")
BACKFILL_SWITCH = Key("backfillWorkflow", "", "bool")
API_KEYS = (
    Key("apiAuth", "auth"),
    Key("jwtIssuer", "jwt_issuer"),
    Key("jwtAudience", "jwt_audience", "list"),
    Key("corsOrigins", "cors_origins", "list"),
    Key("apiRateLimit", "rate_limit", "float"),
    Key("apiBurstLimit", "burst_limit", "int"),
    Key("transferAcceleration", "transfer_acceleration", "bool"),
)
BACKFILL_KEYS = (
    Key("backfillMaxConcurrency", "max_concurrency", "int"),
    Key("backfillToleratedFailurePercent", "tolerated_failure_percent", "float"),
    Key("backfillInventoryBucket", "inventory_bucket_arn"),  # a bucket name, turned into its ARN
    Key("logRetentionDays", "log_retention_days", "int"),
    Key("kmsKeyArn", "kms_key_arn"),
    Key("forceDestroy", "force_destroy", "bool"),
)
_TYPED = {key.name for key in (*BUCKET_KEYS, *FUNCTION_KEYS)}
# The handler's other settings with a config key reach it as its environment variables (e.g. MAX_PIXELS).
ENVIRONMENT_KEYS = tuple(
    Key(item.config_key, item.env, "int" if isinstance(item.default, int) else "str")
    for item in FIELDS
    if item.config_key and item.config_key not in _TYPED
)
KEYS = (
    *BUCKET_KEYS,
    *FUNCTION_KEYS,
    *ENVIRONMENT_KEYS,
    *ALARM_KEYS,
    API_SWITCH,
    *API_KEYS,
    BACKFILL_SWITCH,
    *BACKFILL_KEYS,
)
_KEY_OF_ARG = {key.arg: key.name for key in KEYS if key.arg}
assert len(_KEY_OF_ARG) == len({(key.arg, key.name) for key in KEYS if key.arg}), "an arg with two config keys"


class StackConfigError(ValueError):
    """A config value the program refuses, with the key to change (`image-processor:<key>`)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{PROJECT}:{key} {message}")
        self.key = key


def config_key(error: ConfigError) -> str | None:
    """The config key behind `error`: a handler setting's own key, else the key of the component arg."""
    if error.field in FIELD and FIELD[error.field].config_key:
        return FIELD[error.field].config_key
    return _KEY_OF_ARG.get(error.field)


def checked(build: Callable[[], T]) -> T:
    """Run `build`; a ConfigError is re-raised naming the config key behind its field."""
    try:
        return build()
    except ConfigError as error:
        key = config_key(error)
        if key is None:
            raise
        raise StackConfigError(key, error.message) from None


def emails(raw: str, key: str) -> list[str]:
    """The comma-separated addresses of `key`; the documentation domains are refused with the fix."""
    addresses = [address.strip() for address in raw.split(",") if address.strip()]
    for address in addresses:
        if PLACEHOLDER_DOMAIN.search(address.rpartition("@")[2]):
            raise StackConfigError(
                key,
                f"has a placeholder address, {address}: {address.rpartition('@')[2]} never receives mail. "
                f"Set your own: pulumi config set {PROJECT}:{key} you@your-domain",
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
            "list": lambda name: _list(self.config.get(name)),
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
                f"cannot be combined with {PROJECT}:kmsKeyArn: CloudFront cannot decrypt objects under your key, "
                f"so every rendition would answer 403. Remove one: pulumi config rm {PROJECT}:kmsKeyArn "
                f"(or {PROJECT}:cdn)",
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
        if self.api_enabled:
            args["processing_history"] = True  # the API reads each upload's status there
        if "renditions" in args:
            args["renditions"] = checked(lambda: parse_renditions(json.dumps(args["renditions"])))
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

    def backfill_args(
        self, account_id: str, region: str, buckets: ProcessedBucketPair, function: NotifyingFunction
    ) -> BackfillWorkflowArgs | None:
        """The backfill workflow's settings (issue 16), or None unless `backfillWorkflow` is true."""
        if not self._read(BACKFILL_SWITCH):
            return None
        args = self._set(BACKFILL_KEYS)
        if "inventory_bucket_arn" in args:
            args["inventory_bucket_arn"] = f"arn:aws:s3:::{args['inventory_bucket_arn']}"
        return checked(
            lambda: BackfillWorkflowArgs(
                state_machine_name=f"{function_name(self.stack)}-backfill",
                function_arn=function.function.arn,
                source_bucket_name=buckets.source_bucket_name,
                source_bucket_arn=buckets.source_bucket_arn,
                results_bucket_name=bucket_name("backfill-results", self.stack, account_id),
                region=region,
                **args,
            )
        )

    @property
    def api_enabled(self) -> bool:
        """`api: true` adds the upload API (and turns processing history on: the API reads status there)."""
        return bool(self._read(API_SWITCH))

    def api_args(
        self,
        region: str,
        buckets: ProcessedBucketPair,
        function: NotifyingFunction,
        function_args: NotifyingFunctionArgs,
    ) -> UploadApiArgs:
        """The upload API's settings; it runs from the image function's archive and shares its runtime,
        KMS key, log retention and input limit."""
        table = function.history_table
        if table is None:
            raise StackConfigError(API_SWITCH.name, "needs the processing history table")
        max_input_bytes = function_args.environment.get("MAX_INPUT_BYTES")
        return checked(
            lambda: UploadApiArgs(
                function_name=f"{function_name(self.stack)}-api",
                code=function_args.code,
                source_bucket_name=buckets.source_bucket_name,
                source_bucket_arn=buckets.source_bucket_arn,
                destination_bucket_name=buckets.destination_bucket_name,
                destination_bucket_arn=buckets.destination_bucket_arn,
                history_table_name=table.name,
                history_table_arn=table.arn,
                region=region,
                cdn_domain=buckets.distribution.domain_name if buckets.distribution else None,
                kms_key_arn=function_args.kms_key_arn,
                runtime=function_args.runtime,
                architecture=function_args.architecture,
                log_retention_days=function_args.log_retention_days,
                environment={"MAX_INPUT_BYTES": max_input_bytes} if max_input_bytes else {},
                **self._set(API_KEYS),
            )
        )


def _list(raw: str | None) -> list[str] | None:
    """A comma-separated config value as a list (corsOrigins, jwtAudience); None when unset."""
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]
