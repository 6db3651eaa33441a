"""Notification text: SNS accepts only short ASCII subjects; the body is readable and parseable."""

from __future__ import annotations

import json

from handler.notify import SUBJECT_LIMIT, body, subject


def test_subject_is_ascii_and_at_most_100_characters():
    text = subject("success", "photos/" + "é" * 40 + "/Ünïcødé 猫 " + "x" * 200 + ".jpg")
    assert len(text) <= SUBJECT_LIMIT == 100
    assert text.isascii() and text.isprintable()
    assert text.startswith("Image processed: photos/eeee") and text.endswith("...")


def test_subject_drops_control_characters():
    assert subject("failure", "a\nb\tc.jpg") == "Image FAILED: a?b?c.jpg"


def test_body_is_readable_lines_then_json():
    summary = {"status": "failure", "source_key": "a.jpg", "error_type": "corrupt", "destination_key": None}
    readable, document = body(summary).split("\n\n")
    assert readable.splitlines() == ["status: failure", "source_key: a.jpg", "error_type: corrupt"]
    assert json.loads(document) == summary
