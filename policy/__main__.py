"""Entry point the Pulumi CLI runs (`python policy/`): serves the project's policies, all mandatory."""

import sys
from pathlib import Path

# The CLI runs this directory as a script; the rules live in the `policy` package of the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.rules import POLICIES

PolicyPack(
    name="image-processor",
    policies=POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
    description="image-processor invariants: least-privilege IAM, TLS only, encryption, log retention, "
    "no public buckets (docs/compliance.md).",
)
