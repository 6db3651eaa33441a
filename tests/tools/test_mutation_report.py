"""`make mutate`'s summary: per-file and total kill rates from mutmut's result files."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tools.mutation_report import costs, estimate, file_scores, main, report
from tools.mutmut_tests import SUITE, arguments, kept, module_of


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


def test_the_estimate_counts_only_the_tests_a_mutant_would_run(tmp_path: Path) -> None:
    # GIVEN a stats pass where handler/log.py's `line` was called by a log test (0.5 s) and an app test (9 s)
    log_test, app_test = "tests/handler/test_log.py::test_line", "tests/handler/test_app.py::test_upload"
    stats = {"tests_by_mangled_function_name": {"handler.log.x_line": [log_test, app_test]}}
    (tmp_path / "mutmut-stats.json").write_text(json.dumps({**stats, "duration_by_test": {log_test: 0.5, app_test: 9}}))
    # and two mutants of it, one of which ran for 1.5 s
    codes = {"handler.log.x_line__mutmut_1": 1, "handler.log.x_line__mutmut_2": None}
    (tmp_path / "handler").mkdir()
    (tmp_path / "handler/log.py.meta").write_text(
        json.dumps({"exit_code_by_key": codes, "durations_by_key": {"handler.log.x_line__mutmut_1": 1.5}})
    )
    # WHEN their cost is estimated
    lines = list(estimate(costs(tmp_path)))
    # THEN a surviving mutant would run only the log test, and the measured time is summed
    assert lines == [
        "handler.log: 2 mutants, 0.50 s of tests each if it survives, ran 2 s",
        "all: 0.0 min of tests if every mutant survived, 0.0 min measured (one worker)",
    ]


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


def test_pytest_is_given_only_the_mutants_own_node_ids_and_every_option() -> None:
    # GIVEN mutmut's pytest command line for a mutant of handler/log.py
    options = ["--rootdir=.", "-x", "-p", "no:randomly"]
    args = [*options, "tests/handler/test_app.py::test_a", "tests/handler/test_log.py::b"]
    # WHEN the plugin rewrites it before collection
    # THEN the options stay and test_app.py is not even collected
    assert arguments("handler.log.x_line__mutmut_3", args) == [*options, "tests/handler/test_log.py::b"]


def test_mutmuts_own_passes_run_only_the_listed_test_files() -> None:
    # GIVEN a slow end-to-end test no module lists, and a listed unit test
    chosen = ["tests/handler/test_convergence.py::test_slow", "tests/handler/test_log.py::test_b"]
    # WHEN the stats pass ("stats"), the clean run ("") or the forced failure ("fail") collects them
    # THEN only the listed file runs
    for phase in ("stats", "", "fail"):
        assert kept(phase, chosen) == chosen[1:]


def test_without_a_rule_or_with_nothing_left_nothing_is_dropped() -> None:
    chosen = ["tests/handler/test_nowhere.py::test_a", "tests/handler/test_elsewhere.py::test_b"]
    # a module without a line, a line that would leave nothing, a pass where no listed file was collected
    for mutant in ("handler.nowhere.x_f__mutmut_1", "handler.log.x_line__mutmut_1", "stats"):
        assert kept(mutant, chosen) == chosen


def test_every_listed_prefix_names_test_files_that_exist_and_mutmut_runs() -> None:
    # GIVEN the repository's test files
    root = Path(__file__).parents[2]
    files = [path.relative_to(root).as_posix() for path in root.glob("tests/**/test_*.py")]
    # THEN each prefix of TESTS selects some (a renamed file would silently leave its module mutmut's whole choice)
    missing = [prefix for prefix in SUITE if not any(name.startswith(prefix) for name in files)]
    assert missing == []
    # and mutmut's selection holds them all (the stats pass records only what it runs)
    selection = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]
    paths = tuple(selection["pytest_add_cli_args_test_selection"])
    assert [name for name in files if name.startswith(SUITE) and not name.startswith(paths)] == []
