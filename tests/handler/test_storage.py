"""S3 faults and limits: permanent errors notify, transient ones retry, keys and metadata fit S3 by design."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from handler import app, aws, imaging, storage
from handler.renditions import RenditionSpec
from local.samples import encode, photo
from tests.conftest import DESTINATION, REGION, SOURCE, LambdaContext, clear_caches, document_of, s3_event
from tests.handler.test_app import destination_keys, fetch

JPEG = encode(photo(400, 300), "JPEG")


def refuse(monkeypatch: pytest.MonkeyPatch, operation: str, code: str, only_key: str | None = None) -> None:
    """Make the handler's S3 client answer `operation` with the error `code` (for one key, or all)."""
    real = getattr(aws.s3(), operation)

    def refused(**kwargs):
        if only_key is None or kwargs.get("Key") == only_key:
            raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, operation)
        return real(**kwargs)

    monkeypatch.setattr(aws.s3(), operation, refused)


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("put_object", "KeyTooLongError"),
        ("put_object", "MetadataTooLarge"),
        ("put_object", "InvalidArgument"),
        ("head_object", "403"),
        ("get_object", "AccessDenied"),
    ],
)
def test_permanent_s3_errors_end_in_a_failure_notification(pipeline, lambda_context, monkeypatch, operation, code):
    # GIVEN an upload and S3 refusing one request for good
    event = pipeline.upload("a.jpg", JPEG)
    refuse(monkeypatch, operation, code)
    # WHEN the handler runs THEN it returns (no retry) and the uploader hears why
    result = app.lambda_handler(event, lambda_context)["results"][0]
    assert (result["status"], result["error_type"]) == ("failure", "storage_refused")
    assert code in result["error_message"]
    assert document_of(pipeline.notifications()[0])["error_type"] == "storage_refused"


@pytest.mark.parametrize("code", ["InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout"])
def test_transient_s3_errors_raise_for_a_retry(pipeline, lambda_context, monkeypatch, code):
    event = pipeline.upload("a.jpg", JPEG)
    refuse(monkeypatch, "get_object", code)
    with pytest.raises(ClientError, match=code):
        app.lambda_handler(event, lambda_context)
    assert pipeline.notifications() == []


def test_per_key_delete_errors_raise(pipeline, lambda_context, monkeypatch):
    # GIVEN a deleted source whose rendition S3 refuses to delete inside a 200 DeleteObjects response
    app.lambda_handler(pipeline.upload("a.jpg", JPEG), lambda_context)
    pipeline.notifications()
    event = pipeline.delete("a.jpg")

    def partial(**kwargs):
        return {"Errors": [{"Key": "resized/a.jpg", "Code": "AccessDenied", "Message": "Access Denied"}]}

    monkeypatch.setattr(aws.s3(), "delete_objects", partial)
    # WHEN the removal is handled THEN it raises (to be retried) and claims nothing
    with pytest.raises(storage.PartialDelete, match=r"resized/a\.jpg: AccessDenied"):
        app.lambda_handler(event, lambda_context)
    assert destination_keys() == ["resized/a.jpg"]


def test_an_object_deleted_between_head_and_get_is_skipped_not_retried(pipeline, lambda_context, monkeypatch):
    # GIVEN an upload that is deleted right after the handler's HEAD
    event = pipeline.upload("a.jpg", JPEG)
    real_head = storage.head
    calls = []

    def head_then_delete(bucket, key):
        found = real_head(bucket, key)
        if not calls:
            boto3.client("s3", region_name=REGION).delete_object(Bucket=SOURCE, Key=key)
        calls.append(found)
        return found

    monkeypatch.setattr(storage, "head", head_then_delete)
    # WHEN the handler runs THEN it returns normally: the object is gone, its removal event cleans up
    result = app.lambda_handler(event, lambda_context)["results"][0]
    assert (result["status"], result["reason"]) == ("skipped", "object no longer exists")
    assert destination_keys() == [] and pipeline.notifications() == []


def test_get_reads_the_version_head_saw_even_after_an_overwrite(pipeline):
    # GIVEN a versioned source: HEAD sees v1, then v2 replaces it
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_bucket_versioning(Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=SOURCE, Key="a.jpg", Body=b"first")
    seen = storage.head(SOURCE, "a.jpg")
    s3.put_object(Bucket=SOURCE, Key="a.jpg", Body=b"second")
    # WHEN the seen version is read THEN its bytes come back, not the newer object's
    assert seen is not None and seen.version_id
    assert storage.get(SOURCE, "a.jpg", seen) == b"first"


def test_get_without_versions_refuses_a_replaced_object(pipeline):
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=SOURCE, Key="a.jpg", Body=b"first")
    seen = storage.head(SOURCE, "a.jpg")
    assert seen is not None and seen.version_id is None
    assert storage.get(SOURCE, "a.jpg", seen) == b"first"
    s3.put_object(Bucket=SOURCE, Key="a.jpg", Body=b"second")
    assert storage.get(SOURCE, "a.jpg", seen) is None  # If-Match: the bytes would not be what HEAD saw


def test_a_decoder_bug_is_a_processing_error_notification(pipeline, lambda_context, monkeypatch):
    # GIVEN an engine that fails with an unexpected exception
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero in a decoder")

    monkeypatch.setattr(imaging, "render_all", broken)
    # WHEN an upload is processed THEN the safety net reports it, and nothing raises
    result = app.lambda_handler(pipeline.upload("a.jpg", JPEG), lambda_context)["results"][0]
    assert (result["status"], result["error_type"]) == ("failure", "processing_error")
    assert result["error_message"] == "ZeroDivisionError: division by zero in a decoder"
    assert document_of(pipeline.notifications()[0])["error_type"] == "processing_error"


def test_a_failed_version_takes_the_older_renditions_with_it(pipeline, lambda_context):
    # GIVEN a rendered image, overwritten by something that is not an image
    app.lambda_handler(pipeline.upload("a.jpg", JPEG), lambda_context)
    assert destination_keys() == ["resized/a.jpg"]
    result = app.lambda_handler(pipeline.upload("a.jpg", b"not an image"), lambda_context)["results"][0]
    # THEN the failure is reported and the old picture no longer stands for the key
    assert result["error_type"] == "not_an_image"
    assert destination_keys() == []


def test_very_long_keys_get_hashed_rendition_keys_and_bounded_metadata(pipeline, lambda_context):
    # GIVEN a 1014-byte key of two-byte characters (3000 bytes once percent-encoded) that needs ".jpg"
    key = "é" * 505 + ".png"
    event = pipeline.upload(key, JPEG)
    # WHEN processed THEN the rendition key is within 1024 bytes and the metadata within 2 KB
    result = app.lambda_handler(event, lambda_context)["results"][0]
    assert result["status"] == "success"
    (written,) = destination_keys()
    assert written.startswith("resized/.long/") and len(written.encode()) <= 1024
    metadata = fetch(written)[1]["Metadata"]
    assert sum(len(name) + len(value) for name, value in metadata.items()) <= 2048
    assert metadata["source-key-sha256"] and len(metadata["source-key"]) == storage.MAX_SOURCE_KEY_METADATA


def test_metadata_names_the_source_version(pipeline):
    seen = storage.Head(10, "abc", "v1")
    assert storage.source_metadata(SOURCE, "a b.jpg", seen) == {
        "source-bucket": SOURCE,
        "source-key": "a%20b.jpg",
        "source-etag": "abc",
        "source-version": "v1",
    }


def test_elapsed_ms_is_milliseconds(monkeypatch):
    readings = iter([10.0, 11.5])
    monkeypatch.setattr(app, "_clock", lambda: next(readings))
    assert app.elapsed_ms(app._clock()) == 1500


def test_deadline_is_lambdas_remaining_time_minus_the_margin(monkeypatch):
    # GIVEN 30 s left in the invocation, at monotonic time 100
    monkeypatch.setattr(app.time, "monotonic", lambda: 100.0)

    class Context(LambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return 30_000

    # THEN rendering must stop by 100 + 30 - margin; a context without the method gives no deadline
    assert app.deadline_from(Context()) == 130.0 - app.DEADLINE_MARGIN_SECONDS
    assert app.deadline_from(LambdaContext()) is None


def test_limits_carry_the_settings_and_what_the_engine_accepts(pipeline, monkeypatch):
    monkeypatch.setenv("MAX_PIXELS", "1234")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
    clear_caches()
    limits = app.limits(app.settings(), deadline=42.0)
    assert (limits.max_pixels, limits.memory_mb) == (1234, 1024)
    for name, value in (("deadline", 42.0), ("heic", True)):
        assert getattr(limits, name, value) == value


def test_memory_guard_runs_once_per_container_inside_lambda(pipeline, lambda_context, monkeypatch):
    # GIVEN a new container inside Lambda (its runtime API is set) with a 768 MB function
    calls = []
    monkeypatch.setattr(imaging, "guard_memory", calls.append)
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "768")  # what Lambda sets
    clear_caches()
    # WHEN it handles two invocations
    app.lambda_handler(s3_event(), lambda_context)
    app.lambda_handler(s3_event(), lambda_context)
    # THEN the engine's memory guard was installed once, for the function's memory
    assert calls == [768]


def test_memory_guard_is_not_installed_outside_lambda(pipeline, lambda_context, monkeypatch):
    # GIVEN a test runner or the local pump: no Lambda runtime API
    calls = []
    monkeypatch.setattr(imaging, "guard_memory", calls.append)
    monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
    clear_caches()
    # WHEN the handler runs
    app.lambda_handler(s3_event(), lambda_context)
    # THEN the process's memory is never capped
    assert calls == []


def test_rendition_keys_never_collide_and_stay_readable():
    spec = RenditionSpec()
    keys = ["cat.jpg", "cat.png", "cat.png.jpg", "cat", "cat.JPG", "cat.jpg.jpg", "a/cat.png", "cat.jpeg", ".long/x"]
    made = [spec.key(key, "jpeg") for key in keys]
    assert len(set(made)) == len(made)
    assert made[:4] == ["resized/cat.jpg", "resized/cat.png.jpg", "resized/cat.png.jpg.jpg", "resized/cat"]
    assert made[-1].startswith("resized/.long/")
    assert RenditionSpec(name="thumb", format="png").key("cat.png", "png") == "resized/thumb/cat.png"


def test_cat_png_and_cat_png_jpg_keep_their_own_renditions(pipeline, lambda_context):
    # GIVEN cat.png and cat.png.jpg, both rendered
    app.lambda_handler(pipeline.upload("cat.png", encode(photo(300, 200), "PNG")), lambda_context)
    app.lambda_handler(pipeline.upload("cat.png.jpg", JPEG), lambda_context)
    assert sorted(destination_keys()) == ["resized/cat.png.jpg", "resized/cat.png.jpg.jpg"]
    # WHEN cat.png.jpg is deleted THEN cat.png's rendition stays
    app.lambda_handler(pipeline.delete("cat.png.jpg"), lambda_context)
    assert destination_keys() == ["resized/cat.png.jpg"]
    assert fetch("resized/cat.png.jpg")[0].size == (300, 200)


def test_destination_untouched_by_a_foreign_bucket(pipeline, lambda_context):
    boto3.client("s3", region_name=REGION).put_object(Bucket=DESTINATION, Key="resized/a.jpg", Body=b"x")
    event = s3_event("a.jpg", name="ObjectRemoved:Delete")
    event["Records"][0]["s3"]["bucket"]["name"] = "other"
    app.lambda_handler(event, lambda_context)
    assert destination_keys() == ["resized/a.jpg"]


@pytest.mark.parametrize(
    ("code", "permanent"),
    [
        *[(code, True) for code in storage.PERMANENT_CODES],
        *[(code, False) for code in ("InternalError", "SlowDown", "503", "RequestTimeout", "ExpiredToken", "")],
    ],
)
def test_which_s3_errors_are_permanent(code, permanent):
    error = ClientError({"Error": {"Code": code, "Message": "m"}}, "PutObject")
    assert storage.is_permanent(error) is permanent


def test_a_key_that_never_settles_is_handed_back_after_the_last_round(pipeline, lambda_context, monkeypatch):
    # GIVEN an object that is overwritten again after every write of its renditions
    event = pipeline.upload("a.jpg", JPEG)
    real_put = storage.put
    writes = []

    def put_then_overwrite(*args, **kwargs):
        real_put(*args, **kwargs)
        writes.append(args[1])
        boto3.client("s3", region_name=REGION).put_object(Bucket=SOURCE, Key="a.jpg", Body=JPEG + bytes(len(writes)))

    monkeypatch.setattr(storage, "put", put_then_overwrite)
    # WHEN handled THEN it gives up after MAX_ROUNDS rounds with StillChanging, to be retried
    with pytest.raises(app.StillChanging, match=r"a\.jpg changed 4 times"):
        app.lambda_handler(event, lambda_context)
    assert len(writes) == app.MAX_ROUNDS == 4
