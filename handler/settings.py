"""Function configuration, read from the environment and validated once per container."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from handler.renditions import RenditionSpec, default_renditions, parse_renditions

MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Validated configuration of the function."""

    destination_bucket: str
    topic_arn: str
    source_bucket: str = ""
    function_name: str = "image-processor"
    history_table: str = ""
    cache_control: str = ""
    width: int = 800
    height: int = 600
    jpeg_quality: int = 85
    max_input_bytes: int = 50 * MIB
    max_pixels: int = 80_000_000
    memory_mb: int = 512
    renditions: tuple[RenditionSpec, ...] = field(default=default_renditions(800, 600, 85))


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Build Settings from an environment mapping; a bad value is a ValueError naming the variable."""
    destination = env.get("DESTINATION_BUCKET", "").strip()
    if not destination:
        raise ValueError("DESTINATION_BUCKET must be set to the bucket that receives resized images")
    topic = env.get("SNS_TOPIC_ARN", "").strip()
    if not topic.startswith("arn:"):
        raise ValueError(f"SNS_TOPIC_ARN must be an SNS topic ARN, got {topic!r}")
    source = env.get("SOURCE_BUCKET", "").strip()
    if source == destination:
        raise ValueError("DESTINATION_BUCKET must differ from SOURCE_BUCKET: outputs never go to the source")
    width = _int(env, "RESIZE_WIDTH", 800, 1, 10_000)
    height = _int(env, "RESIZE_HEIGHT", 600, 1, 10_000)
    jpeg_quality = _int(env, "JPEG_QUALITY", 85, 1, 95)
    # Named renditions replace the single default one; without them behaviour is the spec's.
    raw_renditions = env.get("RENDITIONS", "").strip()
    renditions = parse_renditions(raw_renditions) if raw_renditions else default_renditions(width, height, jpeg_quality)
    return Settings(
        destination_bucket=destination,
        topic_arn=topic,
        source_bucket=source,
        function_name=env.get("AWS_LAMBDA_FUNCTION_NAME", "image-processor"),
        history_table=env.get("HISTORY_TABLE", "").strip(),
        cache_control=env.get("CACHE_CONTROL", "").strip(),
        width=width,
        height=height,
        jpeg_quality=jpeg_quality,
        renditions=renditions,
        max_input_bytes=_int(env, "MAX_INPUT_BYTES", 50 * MIB, 1, 5 * 1024 * MIB),
        max_pixels=_int(env, "MAX_PIXELS", 80_000_000, 1, 1_000_000_000),
        memory_mb=_int(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 512, 128, 10_240),
    )


@cache
def settings() -> Settings:
    """The container's settings, read on first use (cold start)."""
    return settings_from_env(os.environ)
