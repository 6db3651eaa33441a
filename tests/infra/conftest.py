"""Pulumi mocks that record every resource's inputs, and a runner for programs and components."""

from __future__ import annotations

import json
import logging
import runpy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks, settings

from components import packaging

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Code for a component under test: the real archive (wheels from PyPI) is tested by `make test-packaging`.
STUB_ARCHIVE = pulumi.AssetArchive({"handler/app.py": pulumi.StringAsset("def lambda_handler(event, context): ...\n")})
# ARNs whose shape the program relies on (service principals' aws:SourceArn conditions).
ARN_FORMATS = {
    "aws:cloudwatch/eventRule:EventRule": "arn:aws:events:{region}:{account}:rule/{name}",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
    "aws:cloudfront/distribution:Distribution": "arn:aws:cloudfront::{account}:distribution/{id}",
    "aws:sfn/stateMachine:StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "aws:dynamodb/table:Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "aws:apigatewayv2/api:Api": "arn:aws:apigateway:{region}::/apis/{id}",
}


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like AWS would (ARNs, names, URLs) and records every registration."""

    def __init__(self) -> None:
        self.registrations: list[mocks.MockResourceArgs] = []

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registrations.append(args)
        state = dict(args.inputs)
        service = args.typ.split(":")[1].split("/")[0]
        name = state.get("name") or state.get("bucket") or f"{args.name}-generated"
        state.setdefault("name", name)
        arn = {
            "s3": f"arn:aws:s3:::{name}",
            "logs": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}",
            "cloudwatch": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}",
            "iam": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}",
            "lambda": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
        }.get(service, f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{name}")
        resource_id = f"{args.name}-id"
        if args.typ in ARN_FORMATS:
            arn = ARN_FORMATS[args.typ].format(region=REGION, account=ACCOUNT_ID, name=name, id=resource_id)
        state.setdefault("arn", arn)
        if args.typ == "aws:s3/bucket:Bucket":
            state.setdefault("bucketRegionalDomainName", f"{name}.s3.{REGION}.amazonaws.com")
        if args.typ == "aws:cloudfront/distribution:Distribution":
            state.setdefault("domainName", "d111111abcdef8.cloudfront.net")
        if service == "sqs":
            state.setdefault("url", f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}")
        if args.typ == "aws:apigatewayv2/api:Api":
            state.setdefault("apiEndpoint", f"https://{resource_id}.execute-api.{REGION}.amazonaws.com")
            state.setdefault("executionArn", f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{resource_id}")
        if args.typ == "aws:lambda/function:Function":
            state.setdefault(
                "invokeArn", f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"
            )
        return resource_id, state

    def call(self, args: mocks.MockCallArgs) -> dict[str, Any]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/test", "userId": "AIDA"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": REGION, "name": REGION, "id": REGION}
        raise NotImplementedError(args.token)


@dataclass
class Deployment:
    """What a mocked run registered: resources by type and name, their URNs, and the stack outputs."""

    registrations: list[mocks.MockResourceArgs]
    urns: list[str]
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    depends_on: dict[str, list[str]] = field(default_factory=dict)
    returned: Any = None
    archives_built: list[tuple[str, str]] = field(default_factory=list)

    def of_type(self, typ: str) -> list[mocks.MockResourceArgs]:
        return [r for r in self.registrations if r.typ == typ]

    def one(self, typ: str, name: str | None = None) -> dict[str, Any]:
        matches = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(matches) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in matches]}"
        return matches[0].inputs

    def policy(self, typ: str, name: str | None = None, key: str = "policy") -> dict[str, Any]:
        return json.loads(self.one(typ, name)[key])


Runner = Callable[..., Deployment]


class _RecordingHandler(logging.Handler):
    """Keeps what the program logs to the engine (pulumi.log.warn), e.g. pulumi-aws deprecations."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def run_pulumi(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runner]:
    """Run `program` (a callable, or the project's __main__.py) under recording mocks with `config`.

    Hermetic: `packaging.build_archive` is replaced by a stub that records what was asked for.
    """

    archives_built: list[tuple[str, str]] = []

    def stub_build_archive(runtime: str, architecture: str) -> Path:
        archives_built.append((runtime, architecture))
        return Path(f"build/lambda/stub-{runtime}-{architecture}.zip")

    monkeypatch.setattr(packaging, "build_archive", stub_build_archive)

    def run(program: Callable[[], Any] | None = None, stack: str = "dev", **config: str) -> Deployment:
        archives_built.clear()
        recorder = RecordingMocks()
        monitor = mocks.MockMonitor(recorder)
        engine_log = _RecordingHandler()
        logger = logging.getLogger(f"pulumi-engine-{id(engine_log)}")
        logger.addHandler(engine_log)
        settings.ROOT.set(None)
        pulumi.runtime.set_mocks(
            recorder, project="image-processor", stack=stack, preview=False, monitor=monitor, logger=logger
        )
        pulumi.runtime.set_all_config({f"image-processor:{key}": value for key, value in config.items()})
        outputs: dict[str, Any] = {}
        depends_on: dict[str, list[str]] = {}

        def record_dependencies(args: pulumi.ResourceTransformationArgs) -> None:
            explicit = args.opts.depends_on if args.opts and isinstance(args.opts.depends_on, list) else []
            depends_on[args.name] = [dependency._name for dependency in explicit]  # type: ignore[union-attr]

        @pulumi.runtime.test
        def body() -> Any:
            pulumi.runtime.register_stack_transformation(record_dependencies)
            returned = None
            if program is None:
                runpy.run_path(str(PROJECT_ROOT / "__main__.py"), run_name="__main__")
            else:
                returned = program()
            root = settings.get_root_resource()
            exported = getattr(root, "outputs", {})
            return pulumi.Output.all(
                pulumi.Output.from_input(returned).apply(lambda value: outputs.update(returned=value)),
                pulumi.Output.all(**exported).apply(outputs.update),
            )

        body()
        returned = outputs.pop("returned", None)
        deployment = Deployment(
            recorder.registrations,
            list(monitor.resources),
            outputs,
            engine_log.messages,
            depends_on,
            returned,
            list(archives_built),
        )
        deprecated = [message for message in deployment.warnings if "deprecated" in message]
        assert not deprecated, f"deprecated pulumi-aws resources or properties used: {deprecated}"
        return deployment

    monkeypatch.chdir(PROJECT_ROOT)
    yield run
    settings.ROOT.set(None)
