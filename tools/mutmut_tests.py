"""pytest plugin for `make mutate`: a mutant runs only the tests of its own module.

mutmut records which tests call each function and runs those against the function's mutants. A function
every handler test passes through (settings, log lines, rendition keys) would then run the whole handler
suite, including the slow end-to-end and property tests, for each of its surviving mutants. This plugin,
loaded with `-p tools.mutmut_tests`, keeps only the test files listed for the mutant's module in
`TESTS` (each module's `tests/handler/test_*_mutants.py` too); modules not listed keep mutmut's choice.
Outside a mutant run (stats, clean run, forced failure), or when nothing would be left, it changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pytest

H = "tests/handler/"
IMAGING = (f"{H}test_imaging", f"{H}test_renditions")
IMAGING_MODULES = "animation colour decode encode errors geometry heic limits memory png_strips refusals results"
# Module -> test-file prefixes that must kill its mutants (unit tests of that module).
TESTS: Mapping[str, tuple[str, ...]] = {
    "handler.settings": (f"{H}test_settings", f"{H}test_renditions"),
    "handler.renditions": (f"{H}test_renditions", f"{H}test_settings"),
    "handler.outcome": (f"{H}test_outcome", f"{H}test_log", f"{H}test_metrics", f"{H}test_history"),
    "handler.log": (f"{H}test_log",),
    "handler.metrics": (f"{H}test_metrics",),
    "handler.history": (f"{H}test_history",),
    "handler.imaging": (f"{H}test_imaging_pipeline",),
    **{f"handler.imaging.{name}": IMAGING for name in (*IMAGING_MODULES.split(), "tiff_strips", "watermark")},
    "handler.imaging.decode": (f"{H}test_imaging_decode",),
    "handler.imaging.memory": (f"{H}test_imaging_memory_model", f"{H}test_imaging_memory.py"),
    "handler.imaging.refusals": (f"{H}test_imaging_refusals",),
    "handler.imaging.limits": (f"{H}test_imaging_refusals",),
    "handler.imaging.errors": (f"{H}test_imaging_refusals",),
    "handler.imaging.results": (f"{H}test_imaging_pipeline",),
    "handler.imaging.heic": (f"{H}test_imaging_heic",),
    "components.policies": ("tests/infra/test_policies",),
}


def module_of(mutant: str) -> str | None:
    """`handler.settings` for `handler.settings.x_check_int__mutmut_3` (None outside a mutant run)."""
    if "__mutmut_" not in mutant:
        return None
    return mutant.rsplit(".", 1)[0]


def kept(mutant: str, nodeids: list[str]) -> list[str]:
    """The node ids the mutant runs: those of its module's test files, or all when none or no rule."""
    prefixes = TESTS.get(module_of(mutant) or "")
    if not prefixes:
        return nodeids
    chosen = [nodeid for nodeid in nodeids if nodeid.startswith(prefixes)]
    return chosen or nodeids


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the tests of other modules."""
    keep = set(kept(os.environ.get("MUTANT_UNDER_TEST", ""), [item.nodeid for item in items]))
    dropped = [item for item in items if item.nodeid not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item.nodeid in keep]
