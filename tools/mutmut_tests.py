"""pytest plugin for `make mutate`: a mutant runs only the unit tests of its own module.

mutmut records, in a first pass over the whole selection ("stats"), which tests call each function, runs
that selection once more unmutated ("clean run"), then runs each mutant against the tests that called its
function. A function every handler test passes through (settings, log lines, rendition keys) would then
run the whole handler suite, end-to-end and property tests included, for each of its surviving mutants.

This plugin, loaded with `-p tools.mutmut_tests`, makes `TESTS` the mutation suite:
- the stats pass, the clean run and the forced failure run only the test files `TESTS` lists;
- a mutant's pytest is given only the node ids of its own module's files (before collection, so other test
  modules are not even collected). A module without a line is tested by whichever listed tests call it.
Outside mutmut (no MUTANT_UNDER_TEST) it changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pytest

H = "tests/handler/"
# The handler end to end: the files whose tests drive handler/app.py through each path.
APP = tuple(f"{H}test_{name}" for name in ("app", "triggers", "storage", "deletion", "backfill", "cdn"))
# Module -> test-file prefixes that must kill its mutants (unit tests of that module, fast: each mutant runs them).
TESTS: Mapping[str, tuple[str, ...]] = {
    "handler.settings": (f"{H}test_settings", f"{H}test_renditions"),
    "handler.renditions": (f"{H}test_renditions", f"{H}test_settings"),
    "handler.outcome": (f"{H}test_outcome", f"{H}test_log", f"{H}test_metrics", f"{H}test_history"),
    "handler.log": (f"{H}test_log",),
    "handler.metrics": (f"{H}test_metrics",),
    "handler.history": (f"{H}test_history",),
    "handler.events": (f"{H}test_events", f"{H}test_key_encoding"),
    "handler.storage": (f"{H}test_storage",),
    "handler.notify": (f"{H}test_notify",),
    "handler.app": APP,
    "handler.cdn": (f"{H}test_cdn",),
    "handler.imaging.png_strips": (f"{H}test_imaging_png",),
    "handler.imaging.tiff_strips": (f"{H}test_imaging_tiff",),
    "handler.imaging.bmp_strips": (f"{H}test_imaging_bmp",),
    "handler.imaging.webp_scaled": (f"{H}test_imaging_webp",),
    "handler.imaging": (f"{H}test_imaging_pipeline",),
    "handler.imaging.decode": (f"{H}test_imaging_decode",),
    "handler.imaging.memory": (f"{H}test_imaging_memory_model", f"{H}test_imaging_memory.py"),
    "handler.imaging.refusals": (f"{H}test_imaging_refusals",),
    "handler.imaging.limits": (f"{H}test_imaging_refusals",),
    "handler.imaging.errors": (f"{H}test_imaging_refusals",),
    "handler.imaging.results": (f"{H}test_imaging_pipeline",),
    "handler.imaging.heic": (f"{H}test_imaging_heic",),
    "handler.imaging.geometry": (f"{H}test_geometry",),
    "handler.imaging.colour": (f"{H}test_colour",),
    "handler.imaging.watermark": (f"{H}test_watermark",),
    "handler.imaging.encode": (f"{H}test_encode",),
    "handler.imaging.animation": (f"{H}test_animation",),
    "components.policies": ("tests/infra/test_policies",),
}
SUITE = tuple(sorted({prefix for prefixes in TESTS.values() for prefix in prefixes}))


def module_of(mutant: str) -> str | None:
    """`handler.settings` for `handler.settings.x_check_int__mutmut_3` (None outside a mutant run)."""
    if "__mutmut_" not in mutant:
        return None
    return mutant.rsplit(".", 1)[0]


def kept(mutant: str, nodeids: list[str]) -> list[str]:
    """The node ids to run: a mutant's own module's tests, in mutmut's other passes the tests `TESTS` lists;
    all of them when that would leave none or the module has no line."""
    module = module_of(mutant)
    prefixes = SUITE if module is None else TESTS.get(module, ())
    return [nodeid for nodeid in nodeids if nodeid.startswith(prefixes)] or nodeids


def arguments(mutant: str, args: list[str]) -> list[str]:
    """pytest's command line for `mutant`: mutmut's node ids (`path::name`) cut to `kept`, the rest as given."""
    keep = set(kept(mutant, [arg for arg in args if "::" in arg]))
    return [arg for arg in args if "::" not in arg or arg in keep]


def pytest_load_initial_conftests(args: list[str]) -> None:
    """Drop the node ids of other modules' tests before pytest collects their files."""
    if "MUTANT_UNDER_TEST" in os.environ:
        args[:] = arguments(os.environ["MUTANT_UNDER_TEST"], args)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect what `kept` leaves out (in the stats pass, the clean run and the forced failure: unlisted files)."""
    if "MUTANT_UNDER_TEST" not in os.environ:
        return
    keep = set(kept(os.environ["MUTANT_UNDER_TEST"], [item.nodeid for item in items]))
    dropped = [item for item in items if item.nodeid not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item.nodeid in keep]
