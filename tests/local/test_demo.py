"""The local pipeline: the demo end to end on moto's server, and the pump's Lambda-like retries."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PIL import Image

from handler import app
from local import demo
from local.emulator import provision, start_emulator
from local.pump import EventPump
from local.samples import encode, photo


def test_demo_processes_every_sample_and_writes_the_gallery(tmp_path, capsys):
    assert demo.main(["--out", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert "All 9 uploads accounted for as promised." in output
    assert "[failure] Image FAILED: uploads/not-really.jpg" in output
    assert Image.open(tmp_path / "resized/photos/rotated-exif-6.jpg").size == (450, 600)
    assert Image.open(tmp_path / "resized/uploads/My Café photo.JPEG").size == (800, 600)
    page = (tmp_path / "index.html").read_text()
    assert page.count("<tr>") == 10  # header + 9 uploads
    assert "resized/web/banner.webp.jpg" in page


def test_demo_with_user_images_fails_when_one_is_bad(tmp_path, capsys):
    images = tmp_path / "mine"
    images.mkdir()
    (images / "good.png").write_bytes(encode(photo(300, 200), "PNG"))
    (images / "bad.jpg").write_bytes(b"not an image")
    assert demo.main([str(images), "--out", str(tmp_path / "out")]) == 1
    assert "bad.jpg: failure" in capsys.readouterr().err
    assert (tmp_path / "out/resized/good.png.jpg").exists()


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


def test_demo_shows_every_rendition_side_by_side(tmp_path, capsys):
    example = Path(__file__).resolve().parents[2] / "local" / "renditions.example.json"
    assert demo.main(["--out", str(tmp_path), "--renditions", str(example)]) == 0
    page = (tmp_path / "index.html").read_text()
    for name in ("large", "medium", "square", "card", "animated"):
        assert f'alt="{name}"' in page
    assert Image.open(tmp_path / "resized/square/photos/landscape.jpg").size == (240, 240)
    assert Image.open(tmp_path / "resized/animated/animations/spinner.gif.webp").n_frames == 3
    assert "5 renditions" in capsys.readouterr().out
