"""The load run: concurrent workers, injected faults, and a reconciliation that finds every upload."""

from __future__ import annotations

import argparse

import pytest

from local import load
from local.load import Faults, Report


def row(table: str, name: str) -> str:
    """The value of one row of the summary table."""
    return next(line for line in table.splitlines() if line.startswith(name + "  ")).removeprefix(name).strip()


def test_every_upload_is_accounted_for_under_write_faults_and_sns_outage(capfd, tmp_path):
    # GIVEN 30% of destination writes failing and SNS down, WHEN 30 uploads run through 2 workers
    arguments = ["--count", "30", "--workers", "2", "--fault", "put=0.3", "--fault", "sns", "--log-dir", str(tmp_path)]
    status = load.main(arguments)
    captured = capfd.readouterr()  # the worker processes' output too
    table = captured.out
    # THEN nothing is lost: retries happened, and every upload has exactly one outcome
    assert status == 0
    assert row(table, "unaccounted") == "0"
    assert row(table, "failed (notified or logged)") == "1"  # upload 24 is the bad file
    # AND the terminal shows the table, not the handler's log lines, and latency says what it measures
    assert '"request_id"' not in captured.out + captured.err
    assert '"CloudWatchMetrics"' not in captured.out + captured.err
    assert '"request_id"' in (tmp_path / "load-worker-0.log").read_text()
    assert row(table, "processing (handler time)").startswith("p50 ")
    assert row(table, "queueing (waiting for a worker)").startswith("p50 ")
    assert int(row(table, "handler raised (retried)")) > 0


def test_reconciliation_flags_missing_and_duplicate_outcomes():
    report = Report(uploads={"a": 0.0, "b": 0.0, "c": 0.0})
    report.outcomes = {"a": ["success"], "b": ["success", "success"]}
    assert report.unaccounted() == ["b", "c"]


def test_generated_uploads_mix_formats_and_include_bad_files():
    uploads = load.generated_uploads(50)
    extensions = {key.rsplit(".", 1)[1] for key, _ in uploads}
    assert {"jpg", "png", "webp", "gif"} <= extensions
    assert [key for key, _ in uploads if "bad" in key] == ["load/00024-bad.jpg", "load/00049-bad.jpg"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--fault", "put=2"], "error: --fault put=RATE needs 0 <= RATE <= 1, got 2\n"),
        (["--fault", "disk"], "error: unknown fault 'disk': use put=RATE or sns\n"),
        (["--count", "0"], "error: argument --count: must be at least 1, got 0\n"),
    ],
)
def test_bad_arguments_are_one_line_errors(capsys, arguments, message):
    with pytest.raises(SystemExit) as exit_:
        load.main(arguments)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith(message)


def test_fault_specs_are_parsed_and_checked():
    assert Faults.parse(["put=0.25", "sns"]) == Faults(0.25, True)
    with pytest.raises(argparse.ArgumentTypeError):
        Faults.parse(["put=2"])
    with pytest.raises(argparse.ArgumentTypeError):
        Faults.parse(["disk"])
