"""image-processor: config -> archive -> ProcessedBucketPair -> NotifyingFunction (-> UploadApi, BackfillWorkflow)
-> AlarmSet -> stack outputs."""

import dataclasses

import pulumi
import pulumi_aws as aws

from components import packaging
from components.alarm_set import AlarmSet, AlarmSpec
from components.backfill_workflow import BackfillWorkflow
from components.notifying_function import NotifyingFunction
from components.processed_bucket_pair import ProcessedBucketPair
from components.stack_config import StackConfig
from components.upload_api import UploadApi


def function_code(runtime: str, architecture: str) -> pulumi.Archive:
    """The deployment archive: the handler, the API and a Pillow built for the Lambda platform."""
    for warning in packaging.runtime_warnings(runtime):
        pulumi.log.warn(warning)
    return pulumi.FileArchive(str(packaging.build_archive(runtime, architecture)))


config = StackConfig(stack=pulumi.get_stack(), config=pulumi.Config())
account_id = aws.get_caller_identity().account_id
region = aws.get_region().region

buckets = ProcessedBucketPair("images", config.bucket_args(account_id))
function_args = config.function_args(account_id, region, buckets, function_code)
processor = NotifyingFunction("processor", function_args)
# The API runs from the image function's archive, which holds the api package too.
api = UploadApi("api", config.api_args(region, buckets, processor, function_args)) if config.api_enabled else None
backfill_args = config.backfill_args(account_id, region, buckets, processor)
backfill = BackfillWorkflow("backfill", backfill_args) if backfill_args is not None else None

alarm_args = config.alarm_args(account_id, region, buckets, processor, function_args.timeout_seconds)
watched = [part for part in (api, backfill) if part is not None]
alarm_args = dataclasses.replace(
    alarm_args,
    extra_alarms=[*alarm_args.extra_alarms, *(AlarmSpec(**spec) for part in watched for spec in part.alarm_specs)],
    extra_widgets=[*alarm_args.extra_widgets, *(widget for part in watched for widget in part.dashboard_widgets)],
)
alarms = AlarmSet("alarms", alarm_args)

pulumi.export("sourceBucketName", buckets.source_bucket_name)
pulumi.export("destinationBucketName", buckets.destination_bucket_name)
pulumi.export("accessLogBucketName", buckets.log_bucket.bucket)
pulumi.export("functionName", processor.function.name)
pulumi.export("functionArn", processor.function.arn)
pulumi.export("notificationTopicArn", processor.topic.arn)
pulumi.export("alarmTopicArn", alarms.topic.arn)
pulumi.export("logGroupName", processor.log_group.name)
pulumi.export("deadLetterQueueUrl", processor.dead_letter_queue.url)
pulumi.export("dashboardUrl", alarms.dashboard_url)
if buckets.distribution is not None:
    pulumi.export("cdnDomainName", buckets.distribution.domain_name)
    pulumi.export("cdnDistributionId", buckets.distribution.id)
if processor.history_table is not None:
    pulumi.export("historyTableName", processor.history_table.name)
if processor.trigger_queue is not None:
    pulumi.export("triggerQueueUrl", processor.trigger_queue.url)
if backfill is not None:
    pulumi.export("backfillStateMachineArn", backfill.state_machine.arn)
if api is not None:
    pulumi.export("apiUrl", api.url)
