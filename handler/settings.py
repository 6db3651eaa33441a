"""Function configuration, read from the environment and validated once per container.

`FIELDS` is the one home of every setting's environment variable, stack config key, default and limits:
the handler, the renditions parser and the stack configuration all read them from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handler.renditions import RenditionSpec

MIB = 1024 * 1024
TRIGGERS = ("s3", "sqs", "eventbridge")


class ConfigError(ValueError):
    """A setting with a bad value: `field` is the Settings field, `message` says what is wrong with it.

    `str()` starts with the environment variable (`RESIZE_WIDTH must be ...`); the stack configuration
    puts the config key in front of `message` instead, without parsing any text.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{FIELD[field].env} {message}")


@dataclass(frozen=True)
class Field:
    """One setting: its Settings name, environment variable, stack config key (None if not one), default
    and, for numbers, inclusive limits; `choices` for settings with a fixed set of values."""

    name: str
    env: str
    config_key: str | None
    default: Any
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()


FIELDS: tuple[Field, ...] = (
    Field("destination_bucket", "DESTINATION_BUCKET", "destinationBucketName", ""),
    Field("topic_arn", "SNS_TOPIC_ARN", None, ""),
    Field("source_bucket", "SOURCE_BUCKET", "sourceBucketName", ""),
    Field("function_name", "AWS_LAMBDA_FUNCTION_NAME", None, "image-processor"),
    Field("region", "AWS_REGION", None, ""),
    Field("history_table", "HISTORY_TABLE", None, ""),
    Field("cache_control", "CACHE_CONTROL", None, ""),
    Field("width", "RESIZE_WIDTH", "resizeWidth", 800, 1, 10_000),
    Field("height", "RESIZE_HEIGHT", "resizeHeight", 600, 1, 10_000),
    Field("jpeg_quality", "JPEG_QUALITY", "jpegQuality", 85, 1, 95),
    Field("max_input_bytes", "MAX_INPUT_BYTES", "maxInputBytes", 50 * MIB, 1, 5 * 1024 * MIB),
    Field("max_pixels", "MAX_PIXELS", "maxPixels", 80_000_000, 1, 1_000_000_000),
    Field("memory_mb", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "memorySize", 512, 128, 10_240),
    Field("renditions", "RENDITIONS", "renditions", ()),
    Field("heic", "HEIC_ENABLED", "heic", True),
    Field("cdn_distribution_id", "CDN_DISTRIBUTION_ID", None, ""),
    Field("cdn_domain", "CDN_DOMAIN", None, ""),
    Field("trigger", "TRIGGER", "trigger", "s3", choices=TRIGGERS),
)
FIELD: Mapping[str, Field] = {item.name: item for item in FIELDS}


def default(name: str) -> Any:
    """The default of the setting `name` (for other modules' own defaults, e.g. RenditionSpec)."""
    return FIELD[name].default


def _default_renditions() -> tuple[RenditionSpec, ...]:
    from handler.renditions import default_renditions  # renditions reads its defaults from this module

    return default_renditions(default("width"), default("height"), default("jpeg_quality"))


@dataclass(frozen=True)
class Settings:
    """Validated configuration of the function (see FIELDS for variables, defaults and limits)."""

    destination_bucket: str
    topic_arn: str
    source_bucket: str = default("source_bucket")
    function_name: str = default("function_name")
    region: str = default("region")
    history_table: str = default("history_table")
    cache_control: str = default("cache_control")
    width: int = default("width")
    height: int = default("height")
    jpeg_quality: int = default("jpeg_quality")
    max_input_bytes: int = default("max_input_bytes")
    max_pixels: int = default("max_pixels")
    memory_mb: int = default("memory_mb")
    renditions: tuple[RenditionSpec, ...] = field(default_factory=_default_renditions)
    heic: bool = default("heic")
    cdn_distribution_id: str = default("cdn_distribution_id")
    cdn_domain: str = default("cdn_domain")
    trigger: str = default("trigger")


def check_int(name: str, value: int) -> int:
    """`value` if it is within the limits of the integer setting `name`, else a ConfigError."""
    item = FIELD[name]
    assert item.low is not None and item.high is not None, f"{name} is not an integer setting"
    if not item.low <= value <= item.high:
        raise ConfigError(name, f"must be between {item.low} and {item.high}, got {value}")
    return value


def _value(item: Field, raw: str) -> Any:
    """The typed value of one variable; an empty value is the default."""
    if not raw:
        return item.default
    if isinstance(item.default, bool):
        if raw.lower() not in ("true", "false"):
            raise ConfigError(item.name, f"must be true or false, got {raw!r}")
        return raw.lower() == "true"
    if isinstance(item.default, int):
        try:
            number = int(raw)
        except ValueError:
            raise ConfigError(item.name, f"must be an integer, got {raw!r}") from None
        return check_int(item.name, number)
    if item.choices and raw not in item.choices:
        raise ConfigError(item.name, f"must be one of {', '.join(item.choices)}, got {raw!r}")
    return raw


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Build Settings from an environment mapping; a bad value is a ConfigError naming its field."""
    from handler.renditions import default_renditions, parse_renditions

    values = {item.name: _value(item, env.get(item.env, "").strip()) for item in FIELDS if item.name != "renditions"}
    if not values["destination_bucket"]:
        raise ConfigError("destination_bucket", "must be set to the bucket that receives resized images")
    if not values["topic_arn"].startswith("arn:"):
        raise ConfigError("topic_arn", f"must be an SNS topic ARN, got {values['topic_arn']!r}")
    if values["source_bucket"] == values["destination_bucket"]:
        raise ConfigError("destination_bucket", "must differ from SOURCE_BUCKET: outputs never go to the source")
    raw_renditions = env.get("RENDITIONS", "").strip()
    # Named renditions replace the single default one; without them behaviour is the spec's.
    renditions = (
        parse_renditions(raw_renditions)
        if raw_renditions
        else default_renditions(values["width"], values["height"], values["jpeg_quality"])
    )
    return Settings(**values, renditions=renditions)


@cache
def settings() -> Settings:
    """The container's settings, read on first use (cold start)."""
    return settings_from_env(os.environ)
