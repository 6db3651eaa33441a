"""Summarise a mutmut run: one line per mutated file, `PATH: P% (K/M)`, then `mutation: P% killed (K/M)`.

`--estimate` prints instead, per module, what its mutants cost (see docs/mutation.md): the seconds of tests
one mutant runs if it survives (its module's tests that called the function in mutmut's stats pass, with
the durations measured there), and the wall seconds its mutants took when they ran.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from tools.mutmut_tests import kept

# mutmut's exit codes (mutmut/stats.py): the test run failed, timed out, crashed or the type checker
# rejected the mutant. Everything else (survived, no tests, suspicious, not checked) is not a kill.
KILLED_CODES = frozenset({1, 3, 24, -24, 36, 37, 152, 255, -9, -11})


def file_scores(mutants_dir: Path) -> dict[str, tuple[int, int]]:
    """Killed and total mutants per source file, read from mutmut's `.meta` files."""
    scores = {}
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"].values()
        source = meta.relative_to(mutants_dir).as_posix().removesuffix(".meta")
        scores[source] = (sum(code in KILLED_CODES for code in codes), len(codes))
    return scores


def report(scores: dict[str, tuple[int, int]]) -> Iterable[str]:
    """The per-file lines, then the total."""
    for path, (killed, total) in scores.items():
        yield f"{path}: {_percent(killed, total)} ({killed}/{total})"
    killed = sum(k for k, _ in scores.values())
    total = sum(t for _, t in scores.values())
    yield f"mutation: {_percent(killed, total)} killed ({killed}/{total})"


def costs(mutants_dir: Path) -> dict[str, tuple[int, float, float]]:
    """Per module: mutants, seconds of tests if all survive (from `mutmut-stats.json`), wall seconds measured."""
    stats = json.loads((mutants_dir / "mutmut-stats.json").read_text())
    tests_of, duration = stats["tests_by_mangled_function_name"], stats["duration_by_test"]
    count: dict[str, int] = defaultdict(int)
    worst: dict[str, float] = defaultdict(float)
    wall: dict[str, float] = defaultdict(float)
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        for mutant in data["exit_code_by_key"]:
            module = mutant.rsplit(".", 1)[0]
            tests = kept(mutant, sorted(tests_of.get(mutant.partition("__mutmut_")[0], [])))
            count[module] += 1
            worst[module] += sum(duration.get(test, 0.0) for test in tests)
            wall[module] += data.get("durations_by_key", {}).get(mutant, 0.0)
    return {module: (count[module], worst[module], wall[module]) for module in count}


def estimate(costs: dict[str, tuple[int, float, float]]) -> Iterable[str]:
    """One line per module, costliest first, then the totals in minutes (of one worker)."""
    for module, (count, worst, wall) in sorted(costs.items(), key=lambda item: -item[1][1]):
        yield f"{module}: {count} mutants, {worst / count:.2f} s of tests each if it survives, ran {wall:.0f} s"
    worst = sum(cost[1] for cost in costs.values()) / 60
    wall = sum(cost[2] for cost in costs.values()) / 60
    yield f"all: {worst:.1f} min of tests if every mutant survived, {wall:.1f} min measured (one worker)"


def _percent(killed: int, total: int) -> str:
    return f"{100 * killed / total:.0f}%" if total else "n/a"


def main(argv: list[str]) -> int:
    """Print the report (or with `--estimate` the costs) for the `mutants/` folder (or the one given)."""
    folders = [arg for arg in argv if arg != "--estimate"]
    mutants_dir = Path(folders[0]) if folders else Path("mutants")
    if not mutants_dir.is_dir():
        print(f"no {mutants_dir}/ folder: run `make mutate` first", file=sys.stderr)
        return 2
    lines = estimate(costs(mutants_dir)) if "--estimate" in argv else report(file_scores(mutants_dir))
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
