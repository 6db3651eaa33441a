"""docs/infrastructure.md states what the program does: its config table lists exactly the program's keys."""

from __future__ import annotations

import re

from components.stack_config import KEYS
from tests.infra.conftest import PROJECT_ROOT

DOC = (PROJECT_ROOT / "docs" / "infrastructure.md").read_text()


def test_the_config_table_lists_exactly_the_keys_the_program_reads():
    # GIVEN the configuration table of the docs WHEN its keys are collected
    section = DOC.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = {
        key
        for row in section.splitlines()
        if row.startswith("| `")
        for key in re.findall(r"`(\w+)`", row.split("|")[1])
    }
    # THEN they are exactly the keys of stack_config's table
    assert documented == {key.name for key in KEYS}
