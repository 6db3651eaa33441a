"""Summarise a mutmut run: one line per mutated file, `PATH: P% (K/M)`, then `mutation: P% killed (K/M)`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path

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


def _percent(killed: int, total: int) -> str:
    return f"{100 * killed / total:.0f}%" if total else "n/a"


def main(argv: list[str]) -> int:
    """Print the report for the `mutants/` folder (or the one given)."""
    mutants_dir = Path(argv[0]) if argv else Path("mutants")
    if not mutants_dir.is_dir():
        print(f"no {mutants_dir}/ folder: run `make mutate` first", file=sys.stderr)
        return 2
    for line in report(file_scores(mutants_dir)):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
