"""Notifications: ASCII subjects that tell uploads apart, e-mail a person can read, JSON for machines."""

from __future__ import annotations

import dataclasses
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
from handler.notify import SUBJECT_LIMIT, middle_ellipsis, readable_bytes, subject
from handler.outcome import SKIPPED, Outcome, RenditionMade
from tests.conftest import DESTINATION, REGION, SOURCE

KEY = "photos/My Café.JPG"
# The documents the handler publishes (Outcome.document()): a deployment without RENDITIONS makes one
# rendition named "default"; a failure keeps what was known before it failed.
BASE = Outcome(SKIPPED, SOURCE, KEY, DESTINATION, "req-1", bytes_in=2_400_000, duration_ms=230)
DEFAULT = RenditionMade("default", f"resized/{KEY}", (800, 600), 120_345, "jpeg")
SUCCESS: dict[str, Any] = dataclasses.replace(
    BASE,
    status="success",
    destination_key=DEFAULT.key,
    bytes_out=DEFAULT.bytes,
    source_format="JPEG",
    original_size=(4000, 3000),
    new_size=DEFAULT.size,
    renditions=(DEFAULT,),
).document()
FAILURE: dict[str, Any] = BASE.failed("corrupt", "image file is truncated").document()


def email_text(document: dict[str, Any], *, region: str = "", cdn_domain: str = "") -> str:
    return notify.email_text(document, region=region, cdn_domain=cdn_domain)


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


def test_subjects_are_spelled_as_the_readme_shows():
    assert notify.ascii_text("写真/犬.jpg") == "~9c32/~1e82.jpg"
    assert notify.ascii_text("Фото/отпуск.png") == "Foto/otpusk.png"
    assert subject_of("photos/My Café.JPG") == "Image processed: photos/My Cafe.JPG [43c841]"


def test_capitals_signs_and_letters_nfkd_cannot_reduce_are_spelled_as_a_reader_would():
    # GIVEN capitals (spelled with one capital), the hard sign (silent), and Latin and Greek letters without
    # a decomposition; WHEN spelled in ASCII THEN each reads as its language's readers type it
    assert notify.ascii_text("Щука и Ёжик, подъезд, ЯЮЇЄҐЎ") == "Shchuka i Ezhik, podezd, YaYuYiYeGU"
    assert notify.ascii_text("Straße Łódź Æsir Øre Œuvre Þór Đak") == "Strasse Lodz Aesir Ore Oeuvre Thor Dak"
    assert notify.ascii_text("Αθήνα ΨΩ") == "Athina PsO"


def test_a_run_of_unspellable_letters_is_hashed_as_a_whole():
    # GIVEN names that differ only in the first of two Chinese characters THEN their spellings differ
    assert notify.ascii_text("犬猫.jpg") != notify.ascii_text("猫猫.jpg")
    assert re.fullmatch(r"~[0-9a-f]{4}\.jpg", notify.ascii_text("犬猫.jpg"))


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


def test_middle_ellipsis_at_its_edges():
    # a file name that fits with the ellipsis before it keeps the whole name, even with no directory left
    assert middle_ellipsis("abcdef/ghij.jpg", 12) == ".../ghij.jpg"
    # one character less and the name itself loses its middle (never more than the limit)
    assert middle_ellipsis("abcdef/ghij.jpg", 11) == "ghij....jpg"
    assert middle_ellipsis("abcdefgh/0123456789", 10) == "0123...789"


def test_middle_ellipsis_leaves_short_paths_alone():
    assert middle_ellipsis("a/b.jpg", 7) == "a/b.jpg"
    assert middle_ellipsis("abc/def/g.jpg", 11) == "ab.../g.jpg"


@given(st.text(max_size=400), st.sampled_from(["success", "failure", "skipped"]))
def test_every_subject_is_printable_ascii_within_the_limit(key, status):
    text = subject_of(key, status)
    assert len(text) <= SUBJECT_LIMIT
    assert text.isascii() and text.isprintable()


def test_sizes_change_unit_where_one_decimal_would_read_1000():
    assert [readable_bytes(n) for n in (999_949, 999_950, 999_949_999, 999_950_000, 2 * 10**12)] == [
        "999.9 kB",
        "1.0 MB",
        "999.9 MB",
        "1.0 GB",
        "2000.0 GB",  # there is no larger unit
    ]


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


def test_success_email_reads_as_the_readme_shows():
    # GIVEN a success in eu-west-1 WHEN its e-mail is written THEN it is the README's example, word for word
    # (the unnamed rendition is not called "default"; no JSON for a person to read)
    assert email_text(SUCCESS, region="eu-west-1") == (
        "Your image photos/My Café.JPG was processed.\n"
        "\n"
        "Original: JPEG 4000 x 3000, 2.4 MB\n"
        "Result: JPEG 800 x 600, 120.3 kB\n"
        f"  https://s3.console.aws.amazon.com/s3/object/{DESTINATION}?region=eu-west-1"
        "&prefix=resized%2Fphotos%2FMy%20Caf%C3%A9.JPG\n"
        "\n"
        "Took 230 ms. Request id (for the operator's logs): req-1\n"
    )


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


def test_failure_email_says_what_went_wrong_what_to_do_and_where_the_upload_is():
    # GIVEN a failure in eu-west-1 on a deployment with a CDN WHEN its e-mail is written
    text = email_text(FAILURE, region="eu-west-1", cdn_domain="d1.cloudfront.net")
    # THEN it names the error, gives its advice and links the upload in the console (uploads are not on the CDN)
    assert text == (
        "Your image photos/My Café.JPG could not be processed.\n"
        "\n"
        "What went wrong (corrupt): image file is truncated\n"
        "\n"
        f"What to do: {notify.ADVICE['corrupt']}\n"
        "\n"
        "The uploaded file:\n"
        f"  https://s3.console.aws.amazon.com/s3/object/{SOURCE}?region=eu-west-1&prefix=photos%2FMy%20Caf%C3%A9.JPG\n"
        "\n"
        "Took 230 ms. Request id (for the operator's logs): req-1\n"
    )


def test_a_failure_without_detail_or_request_id_still_reads_as_sentences():
    # GIVEN a failure whose error said nothing, in a run without a request id
    document = {**FAILURE, "error_message": "", "request_id": ""}
    text = email_text(document)
    # THEN the e-mail says so instead of leaving blanks
    assert "What went wrong (corrupt): no detail\n" in text
    # AND without a region, the console link leaves it to the console
    assert f"  https://s3.console.aws.amazon.com/s3/object/{SOURCE}?prefix=photos%2FMy%20Caf%C3%A9.JPG\n" in text
    assert text.endswith("Request id (for the operator's logs): -\n")


def test_renditions_of_a_failure_or_of_a_document_without_them_are_none():
    assert notify.renditions(FAILURE) == []
    assert notify.renditions({"status": "dead-lettered"}) == []
    assert notify.renditions(SUCCESS) == [DEFAULT.document()]


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
    # GIVEN the topic with an SQS subscriber, WHEN a success on a CDN and a failure are published
    assert notify.publish(pipeline.topic_arn, SUCCESS, region=REGION, cdn_domain="d1.cloudfront.net") is True
    assert notify.publish(pipeline.topic_arn, FAILURE, region=REGION, cdn_domain="d1.cloudfront.net") is True
    # THEN machines get the handler's document as it is (with its version), the status attribute and the subject
    received = pipeline.notifications()
    assert [json.loads(notification["Message"]) for notification in received] == [SUCCESS, FAILURE]
    assert SUCCESS["version"] == 1
    assert [notification["MessageAttributes"]["status"]["Value"] for notification in received] == ["success", "failure"]
    assert [notification["Subject"] for notification in received] == [
        "Image processed: photos/My Cafe.JPG [43c841]",
        "Image FAILED: photos/My Cafe.JPG [43c841]",
    ]
    # AND people get the e-mail text, with the rendition on the CDN and the upload in its region's console
    success_email, failure_email = pipeline.emails()
    assert "  https://d1.cloudfront.net/resized/photos/My%20Caf%C3%A9.JPG\n" in success_email
    assert f"  https://s3.console.aws.amazon.com/s3/object/{SOURCE}?region={REGION}&prefix=photos" in failure_email


def test_publish_failure_is_logged_and_reported_not_raised(pipeline, caplog):
    missing_topic = pipeline.topic_arn + "-gone"
    log.bind("req-9")
    assert notify.publish(missing_topic, FAILURE, region=REGION, cdn_domain="") is False
    # THEN the function's one logger says so, on a JSON line with the invocation's request id, SNS's error and
    # the outcome it could not send
    (line,) = [json.loads(record.getMessage()) for record in caplog.records if "not sent" in record.getMessage()]
    assert (line["level"], line["message"], line["request_id"]) == ("ERROR", "notification not sent", "req-9")
    assert "NotFound" in line["error"]
    assert (line["status"], line["source_key"]) == ("failure", KEY)
    assert boto3.client("sns", region_name=REGION).list_topics()["Topics"]  # the real topic is untouched
