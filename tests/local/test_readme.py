"""The README tells the truth about what the program reads and exports, and where its links lead."""

from __future__ import annotations

import re
from pathlib import Path

from components.stack_config import KEYS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The README's text from the heading `title` to the next heading of any level."""
    start = README.index(f"\n{title}\n")
    end = README.find("\n#", start + len(title) + 2)
    return README[start:end]


def test_the_configuration_table_lists_exactly_the_keys_the_program_reads():
    # GIVEN the rows of the README's configuration table, WHEN their first cells' keys are collected
    rows = [line for line in section("## Configuration").splitlines() if line.startswith("| `")]
    documented = {key for row in rows for key in re.findall(r"`(\w+)`", row.split(" | ")[0])}
    # THEN they are the keys of components/stack_config.py, no more and no fewer
    assert documented == {key.name for key in KEYS}


def test_the_stack_outputs_are_exactly_the_programs_exports():
    exported = set(re.findall(r'pulumi\.export\("(\w+)"', (ROOT / "__main__.py").read_text()))
    listed = set(re.findall(r"`(\w+)`", section("### Stack outputs")))
    # every export is listed, and anything else named there is a config key (the switch beside an output)
    assert exported <= listed
    assert listed - exported <= {key.name for key in KEYS} | {"sqs"}


def test_every_make_target_the_readme_names_exists():
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"\bmake ([a-z][a-z-]*)", README))
    assert named <= targets


def test_every_local_link_leads_to_a_file_and_heading_that_exist():
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = document.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", text):
            path, anchor = target
            if path.startswith(("http://", "https://")):
                continue
            linked = (document.parent / path).resolve() if path else document
            assert linked.exists(), f"{document.name} links {path}"
            if anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
                slugs = {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}
                assert anchor in slugs, f"{document.name} links {path}#{anchor}"
