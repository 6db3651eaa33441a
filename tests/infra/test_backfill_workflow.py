"""The backfill workflow under Pulumi mocks: definition wired to the deployed names, scoped role, locked results."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pulumi
import pytest

from components.args import ArgError
from components.backfill_workflow import (
    RESULTS_PREFIX,
    TRANSIENT_LAMBDA_ERRORS,
    BackfillWorkflow,
    BackfillWorkflowArgs,
    alarm_specs,
)
from components.stack_config import StackConfigError
from tests.infra.conftest import ACCOUNT_ID, REGION, Deployment, Runner

EMAIL = "ops@photos.test"
SOURCE = f"image-processor-source-dev-{ACCOUNT_ID}"
RESULTS = f"image-processor-backfill-results-dev-{ACCOUNT_ID}"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:image-processor-dev"
STATE_MACHINE = "image-processor-dev-backfill"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{STATE_MACHINE}"
LOG_GROUP = f"/aws/vendedlogs/states/{STATE_MACHINE}"
STATE_MACHINE_TYPE = "aws:sfn/stateMachine:StateMachine"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
WORKFLOW = BackfillWorkflowArgs(
    state_machine_name="team-backfill",
    function_arn="arn:aws:lambda:eu-west-1:123456789012:function:thumbs",
    source_bucket_name="team-uploads",
    source_bucket_arn="arn:aws:s3:::team-uploads",
    results_bucket_name="team-backfill-results",
    region=REGION,
)


@pytest.fixture
def deployment(run_pulumi: Runner) -> Deployment:
    return run_pulumi(
        notificationEmail=EMAIL,
        backfillWorkflow="true",
        backfillMaxConcurrency="250",
        backfillToleratedFailurePercent="2.5",
    )


def definition(deployment: Deployment) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(deployment.one(STATE_MACHINE_TYPE)["definition"])
    return document


def workflow_policy(deployment: Deployment, name: str) -> dict[str, Any]:
    return deployment.policy(ROLE_POLICY, name)


def test_without_the_config_key_there_is_no_workflow(run_pulumi: Runner):
    deployment = run_pulumi(notificationEmail=EMAIL)
    assert deployment.of_type(STATE_MACHINE_TYPE) == []
    assert "backfillStateMachineArn" not in deployment.outputs


def test_state_machine_is_standard_named_for_the_stack_and_exported(deployment):
    machine = deployment.one(STATE_MACHINE_TYPE)
    assert (machine["name"], machine["type"]) == (STATE_MACHINE, "STANDARD")
    assert deployment.outputs["backfillStateMachineArn"] == STATE_MACHINE_ARN


def test_definition_references_resolve_to_the_deployed_names(deployment):
    states = definition(deployment)["States"]
    listing = states["ProcessListing"]
    assert listing["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:listObjectsV2",
        "Parameters": {"Bucket": SOURCE, "Prefix.$": "$.prefix"},
    }
    assert listing["ItemSelector"]["s3"]["bucket"] == {"name": SOURCE, "arn": f"arn:aws:s3:::{SOURCE}"}
    invoke = listing["ItemProcessor"]["States"]["ProcessBatch"]
    assert invoke["Resource"] == "arn:aws:states:::lambda:invoke"
    assert invoke["Parameters"]["FunctionName"] == deployment.outputs["functionArn"] == FUNCTION_ARN
    assert listing["ResultWriter"]["Parameters"] == {"Bucket": RESULTS, "Prefix": RESULTS_PREFIX}
    assert RESULTS in [r.inputs["bucket"] for r in deployment.of_type("aws:s3/bucket:Bucket")]
    logging = deployment.one(STATE_MACHINE_TYPE)["loggingConfiguration"]
    assert (logging["level"], logging["includeExecutionData"]) == ("ERROR", True)
    assert logging["logDestination"] == f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{LOG_GROUP}:*"
    assert deployment.one("aws:cloudwatch/logGroup:LogGroup", "backfill-logs")["name"] == LOG_GROUP


def test_distributed_map_batches_throttles_and_tolerates_as_configured(deployment):
    listing = definition(deployment)["States"]["ProcessListing"]
    assert listing["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert listing["MaxConcurrency"] == 250
    assert listing["ToleratedFailurePercentage"] == 2.5
    assert listing["ItemBatcher"] == {"MaxItemsPerBatch": 10}
    invoke = listing["ItemProcessor"]["States"]["ProcessBatch"]
    # listed keys are raw (JSONPath cannot URL-encode), so the function is told not to decode them
    assert invoke["Parameters"]["Payload"] == {"Records.$": "$.Items", "notify": False, "keyEncoding": "none"}
    throttling, function_error = invoke["Retry"]
    assert throttling["ErrorEquals"] == list(TRANSIENT_LAMBDA_ERRORS)
    assert throttling["BackoffRate"] > 1 and throttling["MaxAttempts"] > 1
    assert (function_error["ErrorEquals"], function_error["MaxAttempts"]) == (["States.TaskFailed"], 1)
    assert "Catch" not in listing  # above tolerance the Map state itself fails, so a redrive can resume it


def test_input_chooses_the_reader_and_inventory_needs_its_bucket(deployment, run_pulumi: Runner):
    choose = definition(deployment)["States"]["ChooseReader"]
    assert [(c["Variable"], c["Next"]) for c in choose["Choices"]] == [
        ("$.manifest", "ProcessInventory"),
        ("$.prefix", "ProcessListing"),
    ]
    assert definition(deployment)["States"]["ProcessInventory"]["Type"] == "Fail"  # no inventory bucket configured

    with_inventory = run_pulumi(
        notificationEmail=EMAIL, backfillWorkflow="true", backfillInventoryBucket="my-inventories"
    )
    inventory = definition(with_inventory)["States"]["ProcessInventory"]
    assert inventory["ItemReader"]["ReaderConfig"] == {"InputType": "MANIFEST"}
    assert inventory["ItemSelector"]["s3"]["bucket"] == {"name.$": "$$.Map.Item.Value.Bucket"}
    assert inventory["ItemSelector"]["s3"]["object"] == {"key.$": "$$.Map.Item.Value.Key"}  # Size is optional there
    # S3 Inventory writes keys URL-encoded, as S3 events do
    payload = inventory["ItemProcessor"]["States"]["ProcessBatch"]["Parameters"]["Payload"]
    assert payload["keyEncoding"] == "url"
    statement = next(
        s
        for s in workflow_policy(with_inventory, "backfill-permissions")["Statement"]
        if s["Sid"] == "ReadInventoryManifests"
    )
    assert (statement["Action"], statement["Resource"]) == ("s3:GetObject", "arn:aws:s3:::my-inventories/*")


def test_role_policy_is_scoped_to_this_source_function_results_and_state_machine(deployment):
    executions = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:{STATE_MACHINE}"
    assert workflow_policy(deployment, "backfill-permissions") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListSourceObjects",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{SOURCE}",
            },
            {
                "Sid": "InvokeImageFunction",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": FUNCTION_ARN,
            },
            {
                "Sid": "WriteResults",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                "Resource": f"arn:aws:s3:::{RESULTS}/{RESULTS_PREFIX}*",
            },
            {
                "Sid": "RunOwnChildExecutions",
                "Effect": "Allow",
                "Action": "states:StartExecution",
                "Resource": STATE_MACHINE_ARN,
            },
            {
                "Sid": "WatchOwnChildExecutions",
                "Effect": "Allow",
                "Action": ["states:DescribeExecution", "states:RedriveExecution", "states:StopExecution"],
                "Resource": [f"{executions}:*", f"{executions}/*"],
            },
        ],
    }


def test_only_log_delivery_has_a_wildcard_resource_and_it_exists_before_the_state_machine(deployment):
    trust = deployment.policy("aws:iam/role:Role", "backfill-role", key="assumeRolePolicy")
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    (delivery,) = workflow_policy(deployment, "backfill-log-delivery")["Statement"]
    assert delivery["Resource"] == "*" and all(action.startswith("logs:") for action in delivery["Action"])
    assert "logs:CreateLogDelivery" in delivery["Action"]
    assert "backfill-log-delivery" in deployment.depends_on["backfill-state-machine"]


def test_image_function_role_cannot_touch_the_results(deployment):
    function_policy = json.dumps(workflow_policy(deployment, "processor-permissions"))
    assert RESULTS not in function_policy


def test_results_bucket_has_the_same_controls_as_the_image_buckets_and_expires(deployment):
    block = deployment.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "backfill-results-public-access")
    assert all(
        block[flag] is True
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    ownership = deployment.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "backfill-results-ownership")
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    encryption = deployment.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "backfill-results-encryption",
    )
    assert encryption["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    (tls,) = deployment.policy("aws:s3/bucketPolicy:BucketPolicy", "backfill-results-tls-only")["Statement"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert tls["Resource"] == [f"arn:aws:s3:::{RESULTS}", f"arn:aws:s3:::{RESULTS}/*"]
    (rule,) = deployment.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "backfill-results-lifecycle"
    )["rules"]
    assert rule["expiration"] == {"days": 90}
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}


def test_log_group_keeps_its_retention_and_a_filter_counts_runs_above_tolerance(deployment):
    assert deployment.one("aws:cloudwatch/logGroup:LogGroup", "backfill-logs")["retentionInDays"] == 30
    metric_filter = deployment.one("aws:cloudwatch/logMetricFilter:LogMetricFilter")
    assert metric_filter["logGroupName"] == LOG_GROUP
    assert metric_filter["pattern"] == '"States.ExceedToleratedFailureThreshold"'


def test_alarm_specs_and_widget_name_this_state_machine(run_pulumi: Runner):
    def program() -> pulumi.Output[Any]:
        workflow = BackfillWorkflow("bf", WORKFLOW)
        return pulumi.Output.all(workflow.alarm_specs[0]["dimensions"]["StateMachineArn"], *workflow.dashboard_widgets)

    deployment = run_pulumi(program)
    arn, widget = deployment.returned
    assert arn == f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:team-backfill"
    metrics = widget["properties"]["metrics"]
    assert ["AWS/States", "ExecutionsFailed", "StateMachineArn", arn] in metrics
    assert ["ImageProcessor/Backfill", "team-backfill-FailuresAboveTolerance"] in metrics
    assert all(r.name.startswith("bf") for r in deployment.registrations)
    specs = alarm_specs("arn:x", "team-backfill")
    assert [(s["namespace"], s["metric"]) for s in specs] == [
        ("AWS/States", "ExecutionsFailed"),
        ("ImageProcessor/Backfill", "team-backfill-FailuresAboveTolerance"),
    ]
    assert {field.name for field in dataclasses.fields(SpecFields)} == set(specs[0])


@dataclasses.dataclass
class SpecFields:
    """The fields of AlarmSet's AlarmSpec (interfaces item 4), which the specs must match exactly."""

    suffix: str
    namespace: str
    metric: str
    dimensions: dict[str, Any]
    statistic: str
    threshold: float
    comparison: str
    description: str


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("backfillMaxConcurrency", "0"),
        ("backfillMaxConcurrency", "10001"),
        ("backfillToleratedFailurePercent", "101"),
        ("backfillToleratedFailurePercent", "-1"),
    ],
)
def test_bad_config_is_an_error_naming_the_key(run_pulumi: Runner, key, value):
    # GIVEN the workflow switched on with one bad value WHEN the program runs
    with pytest.raises(StackConfigError) as error:
        run_pulumi(notificationEmail=EMAIL, backfillWorkflow="true", **{key: value})
    # THEN the error is the config error of that key, its message starting with the key
    assert error.value.key == key
    assert str(error.value).startswith(f"image-processor:{key} ")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("state_machine_name", "has spaces"),
        ("results_bucket_name", "Bad_Name"),
        ("max_concurrency", 0),
        ("tolerated_failure_percent", 100.5),
        ("batch_size", 101),
        ("log_retention_days", 8),
        ("results_retention_days", 0),
        ("retry_interval_seconds", 13),
        ("kms_key_arn", "alias/mine"),
    ],
)
def test_bad_args_are_refused_naming_the_field(field, value):
    # GIVEN valid args WHEN one is changed to a bad value
    with pytest.raises(ArgError) as error:
        dataclasses.replace(WORKFLOW, **{field: value})
    # THEN the one config-error type carries the field, its text starting with it
    assert error.value.field == field
    assert str(error.value).startswith(f"{field} ")
