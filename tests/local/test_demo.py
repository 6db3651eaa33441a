"""The local pipeline: the demo end to end on moto's server, its verdicts, and the pump's Lambda-like retries."""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from handler import app, imaging
from local import demo
from local.demo import not_as_documented
from local.emulator import Email, provision, start_emulator
from local.pump import EventPump
from local.samples import encode, photo
from tools import backfill

EXAMPLE_RENDITIONS = Path(__file__).resolve().parents[2] / "local" / "renditions.example.json"


def page_entries(out: Path) -> dict[str, dict[str, Any]]:
    """The entries the gallery page shows, by key."""
    page = (out / "index.html").read_text()
    data = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert data is not None
    return {entry["key"]: entry for entry in json.loads(data.group(1))["entries"]}


def test_demo_prints_every_email_and_writes_a_gallery_the_browser_can_show(tmp_path, capsys):
    # GIVEN the generated samples, WHEN the demo runs
    assert demo.main(["--out", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    # THEN every upload ended as documented, and each e-mail is printed as its recipient reads it
    assert "All 9 uploads ended as documented." in output
    assert "    Subject: Image FAILED: uploads/not-really.jpg [" in output
    assert "    What to do: The file is not an image the pipeline reads" in output
    assert "    Subject: Image processed: uploads/My Cafe photo.JPEG [" in output
    assert re.search(r"\n    Original: JPEG 1024 x 768, \d+\.\d kB\n    Result: JPEG 800 x 600, \d+\.\d kB\n", output)
    assert Image.open(tmp_path / "resized/photos/rotated-exif-6.jpg").size == (450, 600)
    # AND the gallery shows a PNG preview of the TIFF, each rendition at its true size, and each e-mail
    entries = page_entries(tmp_path)
    assert len(entries) == 9
    tiff = entries["scans/print-cmyk.tiff"]
    assert tiff["original"]["path"] == "originals/scans/print-cmyk.tiff.preview.png"
    assert Image.open(tmp_path / tiff["original"]["path"]).format == "PNG"
    (rotated,) = entries["photos/rotated-exif-6.jpg"]["renditions"]
    assert (rotated["width"], rotated["height"]) == (450, 600)
    assert entries["uploads/not-really.jpg"]["email"]["subject"].startswith("Image FAILED: uploads/not-really.jpg")
    assert entries["uploads/not-really.jpg"]["original"]["path"] == ""  # not viewable, and the page says so


def test_demo_accepts_documented_refusals_and_skips_in_a_users_folder(tmp_path, capsys):
    # GIVEN a folder with a good image, a corrupt one and a .DS_Store
    images = tmp_path / "mine"
    images.mkdir()
    (images / "good.png").write_bytes(encode(photo(300, 200), "PNG"))
    (images / "bad.jpg").write_bytes(b"not an image")
    (images / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    # WHEN the demo runs on it
    status = demo.main([str(images), "--out", str(tmp_path / "out")])
    output = capsys.readouterr().out
    # THEN the refusal and the skip are the documented outcomes: exit 0, and each is explained
    assert status == 0
    assert "All 3 uploads ended as documented." in output
    assert "--- .DS_Store\n    (no e-mail: skipped, not an image:" in output
    assert "    Subject: Image FAILED: bad.jpg [" in output
    assert (tmp_path / "out/resized/good.png.jpg").exists()


def test_demo_fails_when_an_outcome_is_not_the_documented_one(tmp_path, capsys, monkeypatch):
    # GIVEN an engine defect: every render raises
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine defect")

    monkeypatch.setattr(imaging, "render_all", broken)
    images = tmp_path / "mine"
    images.mkdir()
    (images / "good.png").write_bytes(encode(photo(300, 200), "PNG"))
    # WHEN the demo runs, THEN it exits 1 naming the file and the error
    assert demo.main([str(images), "--out", str(tmp_path / "out")]) == 1
    assert "good.png: processing_error: RuntimeError: engine defect" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["does-not-exist"], "error: no such file or folder: does-not-exist\n"),
        (["empty"], "error: no files in empty: nothing to upload\n"),
        (["--renditions", "missing.json"], "error: cannot read the renditions file missing.json: No such file"),
        (
            ["--renditions", "bad.json"],
            "error: bad.json: RENDITIONS entry 0 (thumb): fit must be one of inside, cover, contain\n",
        ),
    ],
)
def test_user_mistakes_are_one_line_errors_and_the_previous_results_stay(
    tmp_path, capsys, monkeypatch, arguments, message
):
    # GIVEN a previous run's results, an empty folder and a renditions file with a bad entry
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out/resized").mkdir(parents=True)
    (tmp_path / "out/resized/kept.jpg").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.json").write_text('[{"name": "thumb", "fit": "squash"}]')
    # WHEN the demo is called wrongly
    status = demo.main(arguments)
    error = capsys.readouterr().err
    # THEN one line says what is wrong, the exit status is 2, and nothing was wiped
    assert status == 2
    assert error.startswith(message) and error.count("\n") == 1
    assert (tmp_path / "out/resized/kept.jpg").exists()


def email(document: dict[str, Any]) -> Email:
    return Email("subject", "body", document)


@pytest.mark.parametrize(
    ("key", "outcome", "sent", "verdict"),
    [
        ("a.jpg", {"status": "success"}, True, None),
        ("a.jpg", {"status": "success"}, False, "a.jpg: processed, but no e-mail was sent"),
        ("a.jpg", {"status": "failure", "error_type": "corrupt"}, True, None),
        ("a.jpg", {"status": "failure", "error_type": "corrupt"}, False, "a.jpg: refused, but no e-mail was sent"),
        (
            "a.jpg",
            {"status": "failure", "error_type": "processing_error", "error_message": "boom"},
            True,
            "a.jpg: processing_error: boom",
        ),
        (".DS_Store", {"status": "skipped", "reason": "not an image"}, False, None),
        (
            "a.jpg",
            {"status": "skipped", "reason": "object no longer exists"},
            False,
            "a.jpg: skipped (object no longer exists)",
        ),
        ("a.jpg", {"status": "dead-lettered"}, False, "a.jpg: dead-lettered"),
        ("a.jpg", None, False, "a.jpg: no outcome"),
    ],
)
def test_outcomes_are_judged_against_the_documented_behaviour(key, outcome, sent, verdict):
    assert not_as_documented(key, outcome, email({}) if sent else None, {}) == verdict


def test_a_pinned_status_must_match():
    assert not_as_documented("bad.jpg", {"status": "success"}, email({}), {"bad.jpg": "failure"}) == (
        "bad.jpg: success, expected failure"
    )


def test_pump_retries_twice_then_dead_letters():
    server, endpoint = start_emulator()
    try:
        pipeline = provision(endpoint)
        os.environ.update(pipeline.handler_environment())
        calls: list[str] = []

        def always_failing(event: Any, context: Any) -> dict[str, Any]:
            calls.append(context.aws_request_id)
            raise RuntimeError("destination unavailable")

        pump = EventPump(pipeline, always_failing)
        pipeline.s3().put_object(Bucket=pipeline.source_bucket, Key="a.jpg", Body=b"x")
        dead: list[str] = []
        for _ in range(20):
            pump.poll_once(wait_seconds=1)
            dead += pump.drain_dead_letters()
            if dead:
                break
        assert dead == ["a.jpg"]
        assert len(calls) == 3  # the first attempt and two retries
        assert len(pump.stats.errors) == 3
    finally:
        server.stop()


def test_pump_deletes_the_event_only_after_the_handler_returns():
    server, endpoint = start_emulator()
    try:
        pipeline = provision(endpoint)
        os.environ.update(pipeline.handler_environment())
        pump = EventPump(pipeline, app.lambda_handler)
        pipeline.s3().put_object(Bucket=pipeline.source_bucket, Key="a.png", Body=encode(photo(100, 100), "PNG"))
        while not pump.stats.results:
            assert pump.poll_once(wait_seconds=2) or pump.stats.results, "the event never arrived"
        assert pump.stats.results[0]["status"] == "success"
        assert pump.poll_once(wait_seconds=2) == 0  # deleted, not redelivered
        assert pump.drain_dead_letters() == []
    finally:
        server.stop()


def test_files_from_keys_paths_relative_to_the_folder(tmp_path: Path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c.jpg").write_bytes(b"1")
    (tmp_path / "d.png").write_bytes(b"2")
    assert demo.files_from([tmp_path / "a", tmp_path / "d.png"]) == [("b/c.jpg", b"1"), ("d.png", b"2")]


def test_demo_shows_every_rendition_side_by_side_at_its_true_size(tmp_path, capsys):
    assert demo.main(["--out", str(tmp_path), "--renditions", str(EXAMPLE_RENDITIONS)]) == 0
    renditions = {
        item["caption"].split(":")[0]: item for item in page_entries(tmp_path)["photos/landscape.jpg"]["renditions"]
    }
    assert sorted(renditions) == ["animated", "card", "large", "medium", "square"]
    assert (renditions["large"]["width"], renditions["large"]["height"]) == (1600, 1200)
    assert (renditions["square"]["width"], renditions["square"]["height"]) == (240, 240)
    assert Image.open(tmp_path / "resized/square/photos/landscape.jpg").size == (240, 240)
    assert Image.open(tmp_path / "resized/animated/animations/spinner.gif.webp").n_frames == 3
    output = capsys.readouterr().out
    assert "5 renditions" in output
    assert "    Result square: JPEG 240 x 240," in output


def test_the_printed_local_backfill_command_revisits_what_is_in_the_emulator(tmp_path):
    # GIVEN the local pipeline with one processed upload
    with demo.running(tmp_path, "", None) as run:
        pipeline = run.pipeline
        pipeline.s3().put_object(Bucket=pipeline.source_bucket, Key="a.png", Body=encode(photo(200, 100), "PNG"))
        demo.wait_for_outcomes(run.pump, {"a.png"})
        # WHEN the command `make serve` prints is run (its ARGS, through the same module `make backfill` runs)
        command = demo.local_backfill_command(pipeline, tmp_path)
        arguments = re.search(r'make backfill ARGS="(.*)"$', command)
        assert arguments is not None and command.startswith("AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local ")
        assert backfill.main([*shlex.split(arguments.group(1)), "--state", str(tmp_path / "state")]) == 0
        # THEN the object reaches the function a second time, which finds its renditions current (history is on)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(run.pump.stats.results) < 2:
            time.sleep(0.2)
        assert [result["source_key"] for result in run.pump.stats.results] == ["a.png", "a.png"]
        assert (run.pump.stats.results[-1]["status"], run.pump.stats.results[-1]["reason"]) == (
            "skipped",
            "renditions current",
        )
