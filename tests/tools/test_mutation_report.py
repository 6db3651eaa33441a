"""`make mutate`'s summary: per-file and total kill rates from mutmut's result files."""

from __future__ import annotations

import json
from pathlib import Path

from tools.mutation_report import file_scores, main, report
from tools.mutmut_tests import kept, module_of


def _meta(root: Path, source: str, codes: dict[str, int | None]) -> None:
    path = root / f"{source}.meta"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exit_code_by_key": codes}))


def test_kills_timeouts_and_type_check_rejections_count_as_killed(tmp_path: Path) -> None:
    # GIVEN one file whose mutants were killed, timed out, rejected by mypy, survived, had no tests, or never ran
    _meta(tmp_path, "handler/a.py", {"m1": 1, "m2": 36, "m3": 37, "m4": 0, "m5": 33, "m6": None})
    # WHEN it is scored
    scores = file_scores(tmp_path)
    # THEN three of six are kills
    assert scores == {"handler/a.py": (3, 6)}


def test_report_prints_one_line_per_file_then_the_total(tmp_path: Path) -> None:
    # GIVEN two files
    _meta(tmp_path, "handler/b.py", {"m1": 1, "m2": 1, "m3": 1, "m4": 0})
    _meta(tmp_path, "components/policies.py", {"m1": 1})
    # WHEN the report is made
    lines = list(report(file_scores(tmp_path)))
    # THEN each file has its own rate and the total comes last
    assert lines == ["components/policies.py: 100% (1/1)", "handler/b.py: 75% (3/4)", "mutation: 80% killed (4/5)"]


def test_missing_results_folder_is_a_one_line_error(tmp_path: Path) -> None:
    # GIVEN no mutmut run WHEN the report is asked for THEN it exits 2 with a hint
    assert main([str(tmp_path / "mutants")]) == 2


def test_a_mutant_runs_only_its_own_modules_tests() -> None:
    # GIVEN the tests mutmut chose for a mutant of handler/log.py, from several files
    chosen = [
        "tests/handler/test_app.py::test_a",
        "tests/handler/test_log.py::test_b",
        "tests/handler/test_log_mutants.py::c",
    ]
    # WHEN the plugin filters them
    # THEN only the log module's files are left
    assert kept("handler.log.x_line__mutmut_3", chosen) == chosen[1:]
    assert module_of("handler.imaging.decode.x\u01c1Decoder\u01c1open__mutmut_1") == "handler.imaging.decode"


def test_outside_a_mutant_run_or_without_a_rule_nothing_is_dropped() -> None:
    chosen = ["tests/handler/test_app.py::test_a", "tests/handler/test_storage.py::test_b"]
    # stats and clean runs, forced failure, a module without a rule, a rule that would leave nothing
    for mutant in ("", "fail", "handler.app.x_handle__mutmut_1", "handler.log.x_line__mutmut_1"):
        assert kept(mutant, chosen) == chosen
