"""Environment validation: one table of fields, and a ConfigError that carries the field it is about."""

from __future__ import annotations

import pytest

from handler.renditions import RenditionSpec, parse_renditions
from handler.settings import FIELD, FIELDS, ConfigError, Settings, check_int, default, settings, settings_from_env

BASE = {"DESTINATION_BUCKET": "dest", "SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t"}


def test_defaults_follow_the_spec():
    # GIVEN only the two required variables
    # WHEN settings are read
    defaults = settings_from_env(BASE)
    # THEN they are the spec's: 800x600 JPEG at quality 85 in 512 MB, one unnamed rendition, HEIC on
    assert defaults == Settings(destination_bucket="dest", topic_arn=BASE["SNS_TOPIC_ARN"])
    assert (defaults.width, defaults.height, defaults.jpeg_quality, defaults.memory_mb) == (800, 600, 85, 512)
    assert (defaults.max_input_bytes, defaults.max_pixels) == (50 * 1024 * 1024, 80_000_000)
    assert defaults.renditions == (RenditionSpec(name="", width=800, height=600, quality=85),)
    assert (defaults.heic, defaults.trigger, defaults.cdn_distribution_id, defaults.cdn_domain) == (True, "s3", "", "")


def test_values_are_read():
    # GIVEN every variable set to a non-default value
    env = {
        **BASE,
        "SOURCE_BUCKET": "src",
        "RESIZE_WIDTH": "320",
        "RESIZE_HEIGHT": "200",
        "JPEG_QUALITY": "70",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "MAX_PIXELS": "1000",
        "MAX_INPUT_BYTES": "2048",
        "HEIC_ENABLED": "False",
        "CDN_DISTRIBUTION_ID": "E2EXAMPLE",
        "CDN_DOMAIN": "d111.cloudfront.net",
        "AWS_REGION": "eu-west-1",
        "TRIGGER": "sqs",
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "HISTORY_TABLE": "history",
        "CACHE_CONTROL": "no-cache",
    }
    # WHEN settings are read
    config = settings_from_env(env)
    # THEN each field holds its variable's value, and the single rendition follows width/height/quality
    assert (config.width, config.height, config.jpeg_quality) == (320, 200, 70)
    assert (config.memory_mb, config.max_pixels, config.max_input_bytes) == (1024, 1000, 2048)
    assert config.renditions == (RenditionSpec(width=320, height=200, quality=70),)
    assert (config.heic, config.cdn_distribution_id, config.cdn_domain) == (False, "E2EXAMPLE", "d111.cloudfront.net")
    assert (config.region, config.trigger, config.source_bucket) == ("eu-west-1", "sqs", "src")
    assert (config.function_name, config.history_table, config.cache_control) == ("fn", "history", "no-cache")


def test_named_renditions_replace_the_default_one():
    raw = '[{"name": "thumb", "width": 10, "height": 10}]'
    assert settings_from_env({**BASE, "RENDITIONS": raw}).renditions == parse_renditions(raw)


@pytest.mark.parametrize(
    ("name", "value", "field", "message"),
    [
        ("RESIZE_WIDTH", "wide", "width", "must be an integer, got 'wide'"),
        ("RESIZE_WIDTH", "0", "width", "must be between 1 and 10000, got 0"),
        ("RESIZE_WIDTH", "10001", "width", "must be between 1 and 10000, got 10001"),
        ("RESIZE_HEIGHT", "-5", "height", "must be between 1 and 10000, got -5"),
        ("JPEG_QUALITY", "96", "jpeg_quality", "must be between 1 and 95, got 96"),
        ("MAX_PIXELS", "1.5", "max_pixels", "must be an integer, got '1.5'"),
        ("MAX_INPUT_BYTES", "0", "max_input_bytes", "must be between 1 and 5368709120, got 0"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "64", "memory_mb", "must be between 128 and 10240, got 64"),
        ("HEIC_ENABLED", "yes", "heic", "must be true or false, got 'yes'"),
        ("TRIGGER", "kinesis", "trigger", "must be one of s3, sqs, eventbridge, got 'kinesis'"),
        ("DESTINATION_BUCKET", "", "destination_bucket", "must be set to the bucket that receives resized images"),
        ("SNS_TOPIC_ARN", "my-topic", "topic_arn", "must be an SNS topic ARN, got 'my-topic'"),
        ("SOURCE_BUCKET", "dest", "destination_bucket", "must differ from SOURCE_BUCKET"),
        ("RENDITIONS", "[]", "renditions", "must be a non-empty JSON list of renditions"),
    ],
)
def test_bad_value_is_a_config_error_carrying_its_field(name, value, field, message):
    # GIVEN one variable with a bad value
    # WHEN settings are read
    with pytest.raises(ConfigError) as raised:
        settings_from_env({**BASE, name: value})
    # THEN the error carries the Settings field and the message, and its text starts with the field's variable
    assert raised.value.field == field and raised.value.message.startswith(message)
    assert str(raised.value) == f"{FIELD[field].env} {raised.value.message}"
    assert isinstance(raised.value, ValueError)


def test_every_settings_field_has_exactly_one_row_and_its_default():
    # GIVEN the table and the Settings dataclass
    names = [item.name for item in FIELDS]
    # THEN each field appears once, each variable once, and Settings' defaults are the table's
    assert sorted(names) == sorted(Settings.__dataclass_fields__)
    assert len(set(names)) == len(names) == len({item.env for item in FIELDS})
    defaults = Settings(destination_bucket="", topic_arn="")
    for item in FIELDS:
        if item.name not in ("destination_bucket", "topic_arn", "renditions"):
            assert getattr(defaults, item.name) == item.default, item.name


def test_limits_of_the_documented_fields():
    # GIVEN the rows infra builds its stack config from
    rows = {item.name: (item.env, item.config_key, item.default, item.low, item.high) for item in FIELDS}
    # THEN their variables, keys, defaults and limits are the documented ones
    assert rows["width"] == ("RESIZE_WIDTH", "resizeWidth", 800, 1, 10_000)
    assert rows["height"] == ("RESIZE_HEIGHT", "resizeHeight", 600, 1, 10_000)
    assert rows["jpeg_quality"] == ("JPEG_QUALITY", "jpegQuality", 85, 1, 95)
    assert rows["memory_mb"] == ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "memorySize", 512, 128, 10_240)
    assert rows["max_input_bytes"][1:3] == ("maxInputBytes", 50 * 1024 * 1024)
    assert rows["max_pixels"][1:3] == ("maxPixels", 80_000_000)
    assert rows["heic"][:3] == ("HEIC_ENABLED", "heic", True)
    assert rows["renditions"][:2] == ("RENDITIONS", "renditions")
    assert FIELD["trigger"].choices == ("s3", "sqs", "eventbridge")


def test_limits_are_inclusive():
    config = settings_from_env({**BASE, "RESIZE_WIDTH": "1", "RESIZE_HEIGHT": "10000", "JPEG_QUALITY": "95"})
    assert (config.width, config.height, config.jpeg_quality) == (1, 10_000, 95)


def test_stack_config_keys_of_every_field():
    # GIVEN the table WHEN its config keys are listed THEN they are the documented stack config keys
    assert {item.name: item.config_key for item in FIELDS if item.config_key} == {
        "destination_bucket": "destinationBucketName",
        "source_bucket": "sourceBucketName",
        "width": "resizeWidth",
        "height": "resizeHeight",
        "jpeg_quality": "jpegQuality",
        "max_input_bytes": "maxInputBytes",
        "max_pixels": "maxPixels",
        "memory_mb": "memorySize",
        "renditions": "renditions",
        "heic": "heic",
        "trigger": "trigger",
    }
    assert (FIELD["max_input_bytes"].high, FIELD["max_pixels"].high) == (5 * 1024**3, 10**9)
    assert (FIELD["max_input_bytes"].low, FIELD["max_pixels"].low) == (1, 1)


@pytest.mark.parametrize(("raw", "heic"), [("true", True), (" TRUE ", True), ("false", False), ("", True)])
def test_booleans_read_in_any_case(raw, heic):
    assert settings_from_env({**BASE, "HEIC_ENABLED": raw}).heic is heic


def test_values_are_trimmed_and_blank_ones_are_defaults():
    config = settings_from_env({**BASE, "RESIZE_WIDTH": " 320 ", "TRIGGER": " sqs ", "RESIZE_HEIGHT": "  "})
    assert (config.width, config.trigger, config.height) == (320, "sqs", FIELD["height"].default)


def test_check_int_returns_the_value_within_the_limits_and_refuses_other_settings():
    assert check_int("jpeg_quality", 95) == 95
    with pytest.raises(AssertionError, match="trigger is not an integer setting"):
        check_int("trigger", 1)


def test_the_container_reads_its_settings_from_the_environment_once(monkeypatch):
    # GIVEN the environment of a container
    settings.cache_clear()
    monkeypatch.setenv("DESTINATION_BUCKET", "from-env")
    monkeypatch.setenv("SNS_TOPIC_ARN", BASE["SNS_TOPIC_ARN"])
    monkeypatch.setenv("RESIZE_WIDTH", "321")
    # WHEN settings are read twice, the environment changing in between
    first = settings()
    monkeypatch.setenv("RESIZE_WIDTH", "322")
    # THEN both are the first reading
    assert (first.destination_bucket, first.width) == ("from-env", 321)
    assert settings() is first
    settings.cache_clear()


def test_default_names_the_tables_default():
    assert [default(item.name) for item in FIELDS] == [item.default for item in FIELDS]
