"""The load run: concurrent workers, injected faults, and a reconciliation that finds every upload."""

from __future__ import annotations

import argparse

import pytest

from local import load
from local.load import Faults, Report


def test_every_upload_is_accounted_for_under_write_faults_and_sns_outage(capsys):
    # GIVEN 30% of destination writes failing and SNS down, WHEN 40 uploads run through 2 workers
    status = load.main(["--count", "40", "--workers", "2", "--fault", "put=0.3", "--fault", "sns"])
    table = capsys.readouterr().out
    # THEN nothing is lost: retries happened, and every upload has exactly one outcome
    assert status == 0
    assert "unaccounted                  0" in table
    assert "failed (notified or logged)  1" in table  # upload 24 is the bad file
    retried = int(next(line for line in table.splitlines() if line.startswith("handler raised")).split()[-1])
    assert retried > 0


def test_reconciliation_flags_missing_and_duplicate_outcomes():
    report = Report(uploads={"a": 0.0, "b": 0.0, "c": 0.0})
    report.outcomes = {"a": ["success"], "b": ["success", "success"]}
    assert report.unaccounted() == ["b", "c"]


def test_generated_uploads_mix_formats_and_include_bad_files():
    uploads = load.generated_uploads(50)
    extensions = {key.rsplit(".", 1)[1] for key, _ in uploads}
    assert {"jpg", "png", "webp", "gif"} <= extensions
    assert [key for key, _ in uploads if "bad" in key] == ["load/00024-bad.jpg", "load/00049-bad.jpg"]


def test_fault_specs_are_parsed_and_checked():
    assert Faults.parse(["put=0.25", "sns"]) == Faults(0.25, True)
    with pytest.raises(argparse.ArgumentTypeError):
        Faults.parse(["put=2"])
    with pytest.raises(argparse.ArgumentTypeError):
        Faults.parse(["disk"])
