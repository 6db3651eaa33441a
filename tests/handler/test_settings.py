"""Environment validation: a bad value is a ValueError that names the variable."""

from __future__ import annotations

import pytest

from handler.settings import Settings, settings_from_env

BASE = {"DESTINATION_BUCKET": "dest", "SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t"}


def test_defaults_follow_the_spec():
    assert settings_from_env(BASE) == Settings(destination_bucket="dest", topic_arn=BASE["SNS_TOPIC_ARN"])
    defaults = settings_from_env(BASE)
    assert (defaults.width, defaults.height, defaults.jpeg_quality, defaults.memory_mb) == (800, 600, 85, 512)


def test_values_are_read():
    env = {
        **BASE,
        "RESIZE_WIDTH": "320",
        "RESIZE_HEIGHT": "200",
        "JPEG_QUALITY": "70",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "MAX_PIXELS": "1000",
        "MAX_INPUT_BYTES": "2048",
    }
    config = settings_from_env(env)
    assert (config.width, config.height, config.jpeg_quality) == (320, 200, 70)
    assert (config.memory_mb, config.max_pixels, config.max_input_bytes) == (1024, 1000, 2048)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RESIZE_WIDTH", "wide"),
        ("RESIZE_WIDTH", "0"),
        ("RESIZE_HEIGHT", "-5"),
        ("JPEG_QUALITY", "101"),
        ("MAX_PIXELS", "1.5"),
        ("MAX_INPUT_BYTES", "0"),
        ("DESTINATION_BUCKET", ""),
        ("SNS_TOPIC_ARN", "my-topic"),
        ("SOURCE_BUCKET", "dest"),
    ],
)
def test_bad_value_names_the_variable(name, value):
    with pytest.raises(ValueError, match=name):
        settings_from_env({**BASE, name: value})
