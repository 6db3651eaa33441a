"""The pack as the Pulumi CLI runs it: `python policy/` serves the analyzer over gRPC; we ask it what the CLI asks."""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from policy import rules
from tests.infra.conftest import PROJECT_ROOT


@pytest.fixture
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """Start the pack like the CLI's Python host (`python <pack dir>`), connect to the port it prints, stop it."""
    process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "policy")],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready and process.stdout is not None, "the pack printed no port within 60 s"
        port = process.stdout.readline().strip()
        assert port.isdigit(), (
            f"expected a port, got {port!r}; stderr: {process.stderr.read() if process.stderr else ''}"
        )
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_entry_point_serves_every_policy_as_mandatory(analyzer):
    # GIVEN the pack started as the CLI starts it WHEN asked for its policies
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    # THEN it is the image-processor pack, with every policy of policy/rules.py, all mandatory
    assert info.name == "image-processor"
    assert sorted(policy.name for policy in info.policies) == sorted(policy.name for policy in rules.POLICIES)
    assert {policy.enforcementLevel for policy in info.policies} == {proto.MANDATORY}


def test_the_entry_point_blocks_a_log_group_without_retention(analyzer):
    # GIVEN a log group without retention, sent as the engine sends a resource to analyze
    properties = struct_pb2.Struct()
    properties.update({"name": "/aws/lambda/forever"})
    request = proto.AnalyzeRequest(
        type=rules.LOG_GROUP, properties=properties, urn="urn:pulumi:dev::image-processor::logs", name="logs"
    )
    # WHEN analyzed THEN log-retention reports it as a mandatory violation
    response = analyzer.Analyze(request, timeout=30)
    assert [(d.policyName, d.enforcementLevel) for d in response.diagnostics] == [("log-retention", proto.MANDATORY)]
