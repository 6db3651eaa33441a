"""Notifications: ASCII subjects that tell uploads apart, e-mail a person can read, JSON for machines."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from handler import app, imaging, log, notify
from handler.notify import SUBJECT_LIMIT, email_text, middle_ellipsis, readable_bytes, subject
from tests.conftest import DESTINATION, REGION, SOURCE

SUCCESS: dict[str, Any] = {
    "status": "success",
    "source_bucket": SOURCE,
    "source_key": "photos/My Café.JPG",
    "destination_bucket": DESTINATION,
    "destination_key": "resized/photos/My Café.JPG",
    "request_id": "req-1",
    "bytes_in": 2_400_000,
    "bytes_out": 120_345,
    "source_format": "JPEG",
    "original_size": [4000, 3000],
    "new_size": [800, 600],
    # as the handler reports a deployment without RENDITIONS: one rendition named "default"
    "renditions": [
        {"name": "default", "key": "resized/photos/My Café.JPG", "size": [800, 600], "bytes": 120_345, "format": "jpeg"}
    ],
    "error_type": None,
    "error_message": None,
    "duration_ms": 230,
}
FAILURE: dict[str, Any] = {
    **SUCCESS,
    "status": "failure",
    "destination_key": None,
    "new_size": None,
    "bytes_out": None,
    "renditions": [],
    "error_type": "corrupt",
    "error_message": "image file is truncated",
}


def subject_of(key: str, status: str = "success") -> str:
    return subject({"status": status, "source_key": key})


def test_cjk_names_that_differ_only_in_unspellable_letters_get_different_subjects():
    # GIVEN two uploads whose names differ only in a Chinese character
    dog, cat = subject_of("写真/犬.jpg"), subject_of("写真/猫.jpg")
    # THEN both subjects are ASCII, keep the extension, and differ in the name itself, not only the tag
    assert dog.isascii() and cat.isascii()
    assert dog.startswith("Image processed: ") and ".jpg [" in dog
    assert dog.split(" [")[0] != cat.split(" [")[0]


def test_cyrillic_names_are_transliterated():
    assert subject_of("Фото/отпуск.png").startswith("Image processed: Foto/otpusk.png [")
    assert subject_of("Фото/работа.png").startswith("Image processed: Foto/rabota.png [")


def test_greek_and_accented_names_are_spelled_in_ascii():
    assert subject_of("Φωτο/Ελλάδα.jpg", "failure").startswith("Image FAILED: Foto/Ellada.jpg [")
    assert subject_of("photos/My Café.JPG").startswith("Image processed: photos/My Cafe.JPG [")


def test_keys_that_spell_the_same_in_ascii_are_still_told_apart():
    # GIVEN keys whose ASCII spellings are equal, WHEN subjects are made, THEN the key's hash tells them apart
    assert subject_of("e.jpg") != subject_of("é.jpg")
    assert subject_of("a\nb.jpg") != subject_of("a\tb.jpg")
    assert subject_of("a\nb.jpg").startswith("Image processed: a?b.jpg [")


def test_long_key_keeps_its_file_name_and_loses_the_middle():
    key = "archive/" + "deeply/nested/" * 20 + "holiday-beach-sunset.jpg"
    text = subject_of(key)
    assert len(text) == SUBJECT_LIMIT
    assert text.startswith("Image processed: archive/deeply/")
    assert "...//holiday-beach-sunset.jpg [" not in text and ".../holiday-beach-sunset.jpg [" in text


def test_overlong_file_name_keeps_its_start_and_its_extension():
    text = subject_of("x/" + "a" * 100 + "b" * 100 + ".jpeg")
    assert len(text) == SUBJECT_LIMIT
    assert "aaa...bbb" in text and text.split(" [")[0].endswith("b.jpeg")


def test_middle_ellipsis_leaves_short_paths_alone():
    assert middle_ellipsis("a/b.jpg", 7) == "a/b.jpg"
    assert middle_ellipsis("abc/def/g.jpg", 11) == "ab.../g.jpg"


@given(st.text(max_size=400), st.sampled_from(["success", "failure", "skipped"]))
def test_every_subject_is_printable_ascii_within_the_limit(key, status):
    text = subject_of(key, status)
    assert len(text) <= SUBJECT_LIMIT
    assert text.isascii() and text.isprintable()


def test_sizes_read_in_units():
    assert [readable_bytes(n) for n in (0, 999, 1000, 120_345, 2_400_000, 5 * 10**9)] == [
        "0 bytes",
        "999 bytes",
        "1.0 kB",
        "120.3 kB",
        "2.4 MB",
        "5.0 GB",
    ]
    assert readable_bytes(999_999) == "1.0 MB"  # never "1000.0 kB"


def test_success_email_says_what_happened_with_sizes_and_a_console_link():
    text = email_text(SUCCESS, region="eu-west-1")
    assert text.startswith("Your image photos/My Café.JPG was processed.\n")
    assert "Original: JPEG 4000 x 3000, 2.4 MB" in text
    assert "Result: JPEG 800 x 600, 120.3 kB\n" in text  # the unnamed rendition is not called "default"
    assert (
        f"https://s3.console.aws.amazon.com/s3/object/{DESTINATION}?region=eu-west-1"
        "&prefix=resized%2Fphotos%2FMy%20Caf%C3%A9.JPG" in text
    )
    assert "{" not in text  # no JSON for a person to read


def test_success_email_links_every_rendition_on_the_cdn_when_there_is_one():
    renditions = [
        {
            "name": "large",
            "key": "resized/large/a b.jpg.webp",
            "size": [1600, 1200],
            "bytes": 300_000,
            "format": "webp",
        },
        {"name": "thumb", "key": "resized/thumb/a b.jpg", "size": [200, 200], "bytes": 9_000, "format": "jpeg"},
    ]
    text = email_text({**SUCCESS, "renditions": renditions}, cdn_domain="d1.cloudfront.net")
    assert "Result large: WEBP 1600 x 1200, 300.0 kB\n  https://d1.cloudfront.net/resized/large/a%20b.jpg.webp" in text
    assert "Result thumb: JPEG 200 x 200, 9.0 kB\n  https://d1.cloudfront.net/resized/thumb/a%20b.jpg" in text
    assert "console" not in text


def test_failure_email_says_what_went_wrong_and_what_to_do():
    text = email_text(FAILURE)
    assert text.startswith("Your image photos/My Café.JPG could not be processed.\n")
    assert "What went wrong (corrupt): image file is truncated" in text
    assert f"What to do: {notify.ADVICE['corrupt']}" in text
    assert f"https://s3.console.aws.amazon.com/s3/object/{SOURCE}?prefix=photos%2FMy%20Caf%C3%A9.JPG" in text
    assert "Request id (for the operator's logs): req-1" in text


# mutmut's instrumented copy of app.py holds every mutant's strings ("XXforeign_bucketXX", "FOREIGN_BUCKET"...).
@pytest.mark.skipif("mutants" in Path(app.__file__).parts, reason="reads the source as written, not mutmut's copy")
def test_every_error_type_the_handler_reports_has_advice():
    # GIVEN every error type a failure outcome can carry: the engine's refusals and the handler's own
    engine = {kind.reason for kind in _subclasses(imaging.ImageRejected)}
    handler = set(re.findall(r'failed\(\s*"(\w+)"', inspect.getsource(app)))
    assert {"timeout", "foreign_bucket", "storage_refused", "processing_error"} <= engine | handler
    # THEN each has advice of its own, not the default
    assert engine | handler <= notify.ADVICE.keys()


def _subclasses(kind: type) -> set[type]:
    return {child for sub in kind.__subclasses__() for child in {sub, *_subclasses(sub)}}


def test_every_documented_error_type_has_its_own_advice_and_unknown_ones_a_default():
    advice = {kind: email_text({**FAILURE, "error_type": kind}) for kind in notify.ADVICE}
    assert len({text for text in advice.values()}) == len(notify.ADVICE)
    assert notify.DEFAULT_ADVICE in email_text({**FAILURE, "error_type": "something_new"})


def test_publish_sends_email_text_to_people_and_the_versioned_document_to_machines(pipeline):
    # GIVEN the topic with an SQS subscriber, WHEN an outcome is published
    assert notify.publish(pipeline.topic_arn, SUCCESS, region=REGION) is True
    # THEN the machine subscriber gets the JSON document with a version, the status attribute and the subject
    (received,) = pipeline.notifications()
    assert json.loads(received["Message"]) == {**SUCCESS, "version": notify.DOCUMENT_VERSION}
    assert received["MessageAttributes"]["status"]["Value"] == "success"
    assert received["Subject"] == subject(SUCCESS)
    # AND the e-mail protocol gets the text written for a person
    structure = json.loads(notify.message(SUCCESS, region=REGION))
    assert structure["email"] == email_text(SUCCESS, region=REGION)
    for protocol in ("default", "sqs", "lambda", "https"):
        assert json.loads(structure[protocol]) == {**SUCCESS, "version": 1}


def test_publish_failure_is_logged_and_reported_not_raised(pipeline, caplog):
    missing_topic = pipeline.topic_arn + "-gone"
    log.bind("req-9")
    assert notify.publish(missing_topic, FAILURE) is False
    # THEN the function's one logger says so, on a JSON line with the invocation's request id
    (line,) = [json.loads(record.getMessage()) for record in caplog.records if "not sent" in record.getMessage()]
    assert (line["level"], line["message"], line["request_id"]) == ("ERROR", "notification not sent", "req-9")
    assert line["source_key"] == FAILURE["source_key"]
    assert boto3.client("sns", region_name=REGION).list_topics()["Topics"]  # the real topic is untouched
