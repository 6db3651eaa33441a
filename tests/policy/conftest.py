"""Run the policy pack the way the CLI would, on hand-made resources or on the program under the recording mocks."""

from __future__ import annotations

import runpy
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy.rules import POLICIES
from tests.infra import conftest as infra

# The program runner of tests/infra, re-used as a fixture here.
run_pulumi = infra.run_pulumi

OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


@dataclass(frozen=True)
class Violation:
    """One report of the pack: which policy, on which resource (name), and why."""

    policy: str
    resource: str
    message: str


def resource(typ: str, name: str, props: Mapping[str, Any], urn: str = "", **links: PolicyResource) -> PolicyResource:
    """A stack resource as the engine gives it to a policy; `links` are its property dependencies."""
    return PolicyResource(
        typ,
        unknown_checking_proxy(dict(props)),
        urn or f"urn:pulumi:dev::image-processor::{typ}::{name}",
        name,
        OPTIONS,
        None,
        None,
        list(links.values()),
        {key: [target] for key, target in links.items()},
    )


def evaluate(resources: Sequence[PolicyResource]) -> list[Violation]:
    """Every violation the pack reports: each resource policy on each resource, then each stack policy."""
    names = {r.urn: r.name for r in resources}
    found: list[Violation] = []
    for policy in POLICIES:
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, OPTIONS, None)
                policy.validate(
                    args, lambda message, _urn=None, p=policy.name, n=r.name: found.append(Violation(p, n, message))
                )
        elif isinstance(policy, StackValidationPolicy):
            policy.validate(
                StackValidationArgs(list(resources)),
                lambda message, urn=None, p=policy.name: found.append(Violation(p, names.get(urn or "", ""), message)),
            )
    return found


Transformation = Callable[[pulumi.ResourceTransformationArgs], pulumi.ResourceTransformationResult | None]
StackRunner = Callable[..., list[PolicyResource]]


@pytest.fixture
def program_resources(run_pulumi: infra.Runner, monkeypatch: pytest.MonkeyPatch) -> Iterator[StackRunner]:
    """Run __main__.py under the recording mocks; return its resources with the SDK's property dependencies.

    `change` (a stack transformation) edits resources before registration, to show the pack notices.
    """
    urns: dict[tuple[str, str], str] = {}
    links: dict[str, dict[str, list[str]]] = {}
    register = mocks.MockMonitor.RegisterResource

    def recording_register(self: mocks.MockMonitor, request: Any) -> Any:
        response = register(self, request)
        urns[(request.type, request.name)] = response.urn
        links[response.urn] = {key: list(value.urns) for key, value in request.propertyDependencies.items()}
        return response

    monkeypatch.setattr(mocks.MockMonitor, "RegisterResource", recording_register)

    def run(change: Transformation | None = None, **config: str) -> list[PolicyResource]:
        def program() -> None:
            if change is not None:
                pulumi.runtime.register_stack_transformation(change)
            runpy.run_path(str(infra.PROJECT_ROOT / "__main__.py"), run_name="__main__")

        urns.clear()
        links.clear()
        deployment = run_pulumi(program, **config)
        by_urn = {
            urns[(r.typ, r.name)]: resource(r.typ, r.name, r.inputs, urn=urns[(r.typ, r.name)])
            for r in deployment.registrations
        }
        for urn, target in by_urn.items():
            target.property_dependencies = {
                key: [by_urn[dependency] for dependency in dependencies if dependency in by_urn]
                for key, dependencies in links[urn].items()
            }
            target.dependencies = [d for ds in target.property_dependencies.values() for d in ds]
        return list(by_urn.values())

    yield run
