"""image-processor: config -> ProcessedBucketPair -> NotifyingFunction -> AlarmSet -> stack outputs."""

import pulumi
import pulumi_aws as aws

from components import packaging
from components.alarm_set import AlarmSet
from components.notifying_function import NotifyingFunction
from components.processed_bucket_pair import ProcessedBucketPair
from components.stack_config import StackConfig
from components.upload_api import UploadApi

config = StackConfig(stack=pulumi.get_stack(), config=pulumi.Config())
account_id = aws.get_caller_identity().account_id
region = aws.get_region().region

buckets = ProcessedBucketPair("images", config.bucket_args(account_id))
function_args = config.function_args(account_id, buckets)
processor = NotifyingFunction("processor", function_args)
api = None
if config.api_enabled:
    # The API runs from the image function's archive (packaging must include the api package).
    code = pulumi.FileArchive(str(packaging.build_archive(function_args.runtime, function_args.architecture)))
    api = UploadApi("api", config.api_args(region, buckets, processor, function_args, code))
alarms = AlarmSet("alarms", config.alarm_args(account_id, region, processor, function_args.timeout_seconds))

pulumi.export("sourceBucketName", buckets.source_bucket_name)
pulumi.export("destinationBucketName", buckets.destination_bucket_name)
pulumi.export("functionName", processor.function.name)
pulumi.export("functionArn", processor.function.arn)
pulumi.export("notificationTopicArn", processor.topic.arn)
pulumi.export("alarmTopicArn", alarms.topic.arn)
pulumi.export("logGroupName", processor.log_group.name)
pulumi.export("deadLetterQueueUrl", processor.dead_letter_queue.url)
pulumi.export("dashboardUrl", alarms.dashboard_url)
if buckets.distribution is not None:
    pulumi.export("cdnDomainName", buckets.distribution.domain_name)
if processor.history_table is not None:
    pulumi.export("historyTableName", processor.history_table.name)
if api is not None:
    pulumi.export("apiUrl", api.url)
