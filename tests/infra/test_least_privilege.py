"""Least privilege, proven: the real handler under moto with IAM enforcement, holding only the program's grants.

The program (__main__.py) runs under the recording mocks with a CDN, processing history and a watermark. Its
role's trust and permission documents are put on a moto IAM role unchanged, the test assumes that role, and
the handler runs with the role's credentials and the function's environment variables exactly as the program
sets them, with `moto.core.enable_iam_authentication()` on: every call is checked against those documents.

Where moto does not enforce like AWS, and what is done about it:
- moto passes Resource "*" for SNS, DynamoDB and CloudFront calls, so a grant scoped to an ARN would never
  match. The test teaches moto the resource AWS authorizes (`TopicArn`, the table ARN, the distribution ARN),
  so topic, table and distribution scoping is really checked.
- moto authorizes DeleteObjects (multi-object delete) on the bucket ARN; AWS authorizes s3:DeleteObject per
  key. The test makes moto authorize each key, as AWS does.
- The mocks give DynamoDB and CloudFront ARNs not shaped like AWS's; those two granted ARNs are replaced by
  the ARNs of their moto twins. Every other ARN (buckets, topic, queue) is used exactly as generated.
- Not enforced by moto at all, so asserted on the documents instead: Condition keys (kms:ViaService and
  kms:EncryptionContext on the bucket key, aws:SourceArn/aws:SourceAccount in resource policies), resource
  policies (TLS-only bucket/topic/queue policies, CloudFront's read of the bucket), the trust policy (the test
  assumes the role directly), KMS calls S3 makes on the caller's behalf, and the CloudWatch Logs writes the
  Lambda runtime makes (not the handler).
- The on-failure destination is written by Lambda with the function's role, not by the handler: the test
  sends to it (and to another queue) with the role's credentials directly.
- With a CDN the handler never reads the destination to decide what to invalidate: it lists the source's
  versions (s3:ListBucketVersions); without that grant the listing is refused and every write is invalidated.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import xmltodict
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.cloudfront.responses import CloudFrontResponse
from moto.core import enable_iam_authentication
from moto.core.authorization import ActionAuthenticatorMixin
from moto.dynamodb.responses import DynamoHandler
from moto.s3.responses import S3Response
from moto.sns.responses import SNSResponse
from PIL import Image

from handler import app
from tests.conftest import LambdaContext, clear_caches, s3_event
from tests.infra.conftest import ACCOUNT_ID, REGION, Deployment, Runner

EMAIL = "ops@photos.test"
WATERMARK = "watermarks/logo.png"
RENDITIONS = [{"name": "thumb", "width": 64, "height": 64}, {"name": "marked", "watermark": {"image_key": WATERMARK}}]
ADMIN = {"region_name": REGION, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
NO_IDENTITY = {"OriginAccessIdentity": ""}
# What S3, SNS/SQS and DynamoDB/CloudFront answer when IAM refuses.
DENIED = {"AccessDenied", "AuthorizationError", "AccessDeniedException"}


def statements(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in document["Statement"] if "Sid" in statement}


def granting(document: dict[str, Any], action: str) -> str:
    """The one resource the document grants `action` on."""
    (resource,) = [s["Resource"] for s in document["Statement"] if action in _as_list(s["Action"])]
    return str(resource)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def jpeg(size: tuple[int, int] = (120, 80)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def png(size: tuple[int, int] = (20, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (255, 255, 255, 128)).save(out, "PNG")
    return out.getvalue()


def _teach_moto_the_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give moto the resource AWS authorizes where moto would pass '*' or the bucket (see the docstring)."""

    def topic(self: SNSResponse) -> str:
        return str(self._get_param("TopicArn") or self._get_param("TargetArn") or "*")

    def table(self: DynamoHandler) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{self.body.get('TableName', '*')}"

    def distribution(self: CloudFrontResponse) -> str:
        found = re.search(r"/distribution/([^/]+)", self.path)
        return f"arn:aws:cloudfront::{self.current_account}:distribution/{found.group(1) if found else '*'}"

    monkeypatch.setattr(SNSResponse, "_determine_resource", topic, raising=False)
    monkeypatch.setattr(DynamoHandler, "_determine_resource", table, raising=False)
    monkeypatch.setattr(CloudFrontResponse, "_determine_resource", distribution, raising=False)
    bucket_level = ActionAuthenticatorMixin._authenticate_and_authorize_s3_action

    def per_key(self: S3Response, bucket_name: str | None = None, key_name: str | None = None) -> None:
        if key_name is None and self.data.get("Action") == "DeleteObject" and self.is_delete_keys():
            objects = xmltodict.parse(self.body)["Delete"].get("Object", [])
            for entry in objects if isinstance(objects, list) else [objects]:
                bucket_level(self, bucket_name=bucket_name, key_name=entry["Key"])
            return
        bucket_level(self, bucket_name=bucket_name, key_name=key_name)

    monkeypatch.setattr(S3Response, "_authenticate_and_authorize_s3_action", per_key)


def denied(call: Callable[[], Any]) -> bool:
    """True if `call` (made with the role's credentials) is refused by IAM under enforcement."""
    with enable_iam_authentication():
        try:
            call()
        except ClientError as error:
            # moto answers in IAM's XML: JSON services show Code "403" with it in the message, and
            # CloudFront's parser finds no code at all (HTTP 403 only).
            code, message = error.response["Error"].get("Code", ""), error.response["Error"].get("Message", "")
            status = error.response["ResponseMetadata"]["HTTPStatusCode"]
            if code in DENIED or any(f"<Code>{d}</Code>" in message for d in DENIED) or (status, code) == (403, ""):
                return True
            raise
    return False


@dataclass
class Enforced:
    """The pipeline in moto, the role's clients, and the program's documents and environment."""

    deployment: Deployment
    permissions: dict[str, Any]
    environment: dict[str, str]
    role_session: boto3.Session
    notifications_url: str
    distribution_id: str
    other_topic_arn: str
    other_queue_url: str
    dead_letter_queue_url: str

    @property
    def source(self) -> str:
        return self.environment["SOURCE_BUCKET"]

    @property
    def destination(self) -> str:
        return self.environment["DESTINATION_BUCKET"]

    def admin(self, service: str) -> Any:
        return boto3.client(service, **ADMIN)

    def role(self, service: str) -> Any:
        return self.role_session.client(service)

    def event(self, key: str, *, removed: bool = False) -> dict[str, Any]:
        """The S3 event for `key` in the program's source bucket (uploaded first by the admin unless removed)."""
        head = {} if removed else self.admin("s3").head_object(Bucket=self.source, Key=key)
        event = s3_event(
            key,
            size=head.get("ContentLength"),
            etag=head.get("ETag", "").strip('"') or None,
            version_id=head.get("VersionId"),
            name="ObjectRemoved:Delete" if removed else "ObjectCreated:Put",
        )
        for record in event["Records"]:
            record["s3"]["bucket"].update(name=self.source, arn=f"arn:aws:s3:::{self.source}")
        return event

    def run_handler(self, event: dict[str, Any]) -> dict[str, Any]:
        """The real handler, with the role's credentials, under IAM enforcement."""
        clear_caches()
        with enable_iam_authentication():
            return app.lambda_handler(event, LambdaContext())

    def notifications(self) -> list[dict[str, Any]]:
        sqs = self.admin("sqs")
        messages = sqs.receive_message(QueueUrl=self.notifications_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    def keys(self, bucket: str) -> set[str]:
        return {o["Key"] for o in self.admin("s3").list_objects_v2(Bucket=bucket).get("Contents", [])}


@pytest.fixture
def enforced(run_pulumi: Runner, monkeypatch: pytest.MonkeyPatch) -> Iterator[Enforced]:
    """The pipeline with history and a watermark, without CDN."""
    yield from _pipeline(run_pulumi, monkeypatch, cdn=False)


@pytest.fixture
def enforced_cdn(run_pulumi: Runner, monkeypatch: pytest.MonkeyPatch) -> Iterator[Enforced]:
    """The same pipeline with `cdn`: the function also invalidates its distribution."""
    yield from _pipeline(run_pulumi, monkeypatch, cdn=True)


def _pipeline(run_pulumi: Runner, monkeypatch: pytest.MonkeyPatch, *, cdn: bool) -> Iterator[Enforced]:
    """The program's role and pipeline in moto; the handler's environment is the function's, from the mocks."""
    config = {"cdn": "true"} if cdn else {}
    deployment = run_pulumi(
        notificationEmail=EMAIL, processingHistory="true", renditions=json.dumps(RENDITIONS), **config
    )
    function = deployment.one("aws:lambda/function:Function")
    environment = {key: str(value) for key, value in function["environment"]["variables"].items()}
    granted = deployment.policy(ROLE_POLICY)
    trust = deployment.policy("aws:iam/role:Role", key="assumeRolePolicy")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    _teach_moto_the_resources(monkeypatch)
    with mock_aws():
        admin = {service: boto3.client(service, **ADMIN) for service in ("s3", "sns", "sqs", "dynamodb", "iam", "sts")}
        for bucket in (environment["SOURCE_BUCKET"], environment["DESTINATION_BUCKET"]):
            admin["s3"].create_bucket(Bucket=bucket)
        admin["s3"].put_bucket_versioning(
            Bucket=environment["SOURCE_BUCKET"], VersioningConfiguration={"Status": "Enabled"}
        )
        admin["s3"].put_object(Bucket=environment["DESTINATION_BUCKET"], Key=WATERMARK, Body=png())
        topic_arn = admin["sns"].create_topic(Name=environment["SNS_TOPIC_ARN"].rsplit(":", 1)[1])["TopicArn"]
        assert topic_arn == environment["SNS_TOPIC_ARN"] == granting(granted, "sns:Publish")
        other_topic_arn = admin["sns"].create_topic(Name="someone-elses-topic")["TopicArn"]
        notifications_url = admin["sqs"].create_queue(QueueName="notifications")["QueueUrl"]
        admin["sns"].subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:notifications"
        )
        dead_letter_arn = granting(granted, "sqs:SendMessage")
        dead_letter_url = admin["sqs"].create_queue(QueueName=dead_letter_arn.rsplit(":", 1)[1])["QueueUrl"]
        other_queue_url = admin["sqs"].create_queue(QueueName="someone-elses-queue")["QueueUrl"]
        for table in (environment["HISTORY_TABLE"], "someone-elses-table"):
            admin["dynamodb"].create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "source_key", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "source_key", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        table_arn = admin["dynamodb"].describe_table(TableName=environment["HISTORY_TABLE"])["Table"]["TableArn"]
        twins = {granting(granted, "dynamodb:PutItem"): table_arn}
        distribution_id = ""
        if cdn:
            distribution_id, distribution_arn = _distribution(environment["DESTINATION_BUCKET"])
            _distribution(environment["DESTINATION_BUCKET"])  # someone else's distribution
            twins[granting(granted, "cloudfront:CreateInvalidation")] = distribution_arn
        document = json.dumps(granted)
        for generated, twin in twins.items():
            document = document.replace(json.dumps(generated), json.dumps(twin))
        role_env = assume_role(trust, document)
        # As Lambda does: the role's credentials and the function's variables in the environment.
        for name, value in {
            **environment,
            **role_env,
            **({"CDN_DISTRIBUTION_ID": distribution_id} if cdn else {}),
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_SECURITY_TOKEN")
        yield Enforced(
            deployment,
            json.loads(document),
            environment,
            session(role_env),
            notifications_url,
            distribution_id,
            other_topic_arn,
            other_queue_url,
            dead_letter_url,
        )
    clear_caches()


def assume_role(trust: dict[str, Any], permissions: str) -> dict[str, str]:
    """A moto role with exactly these documents, assumed: its credentials as Lambda puts them in the environment."""
    iam, sts = boto3.client("iam", **ADMIN), boto3.client("sts", **ADMIN)
    role = iam.create_role(RoleName="processor", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(RoleName="processor", PolicyName="permissions", PolicyDocument=permissions)
    credentials = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="processor")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


def session(credentials: dict[str, str]) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )


def _distribution(bucket: str) -> tuple[str, str]:
    created = boto3.client("cloudfront", **ADMIN).create_distribution(
        DistributionConfig={
            "CallerReference": str(uuid.uuid4()),
            "Comment": "",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "renditions",
                        "DomainName": f"{bucket}.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {"TargetOriginId": "renditions", "ViewerProtocolPolicy": "redirect-to-https"},
        }
    )["Distribution"]
    return created["Id"], created["ARN"]


def test_an_upload_becomes_renditions_with_a_watermark_a_notification_and_history(enforced: Enforced):
    # GIVEN a JPEG uploaded to the program's source bucket
    enforced.admin("s3").put_object(Bucket=enforced.source, Key="photos/cat.jpg", Body=jpeg())
    # WHEN the real handler processes its event with only the program's grants
    result = enforced.run_handler(enforced.event("photos/cat.jpg"))
    # THEN both renditions (one watermarked) are written, the success is e-mailed and recorded in history
    assert [r["status"] for r in result["results"]] == ["success"]
    assert {"resized/thumb/photos/cat.jpg", "resized/marked/photos/cat.jpg"} <= enforced.keys(enforced.destination)
    (notification,) = enforced.notifications()
    assert notification["MessageAttributes"]["status"]["Value"] == "success"
    item = enforced.admin("dynamodb").get_item(
        TableName=enforced.environment["HISTORY_TABLE"], Key={"source_key": {"S": "photos/cat.jpg"}}
    )
    assert "Item" in item


def test_a_backfill_skips_a_rendered_object_reading_only_its_history_item(enforced: Enforced):
    # GIVEN a JPEG rendered by its upload event, its success recorded in history
    enforced.admin("s3").put_object(Bucket=enforced.source, Key="photos/cat.jpg", Body=jpeg())
    event = enforced.event("photos/cat.jpg")
    assert [r["status"] for r in enforced.run_handler(event)["results"]] == ["success"]
    enforced.notifications()
    # WHEN a backfill names it, with only the program's grants
    result = enforced.run_handler({**event, "notify": False})
    # THEN the role may read the item (a denied read would render it again): skipped as current, no e-mail
    assert [(r["status"], r["reason"]) for r in result["results"]] == [("skipped", "renditions current")]
    assert enforced.notifications() == []


def test_a_bad_upload_sends_a_failure_notification(enforced: Enforced):
    # GIVEN a file that is not an image
    enforced.admin("s3").put_object(Bucket=enforced.source, Key="photos/notes.jpg", Body=b"not an image")
    # WHEN the handler processes it under enforcement
    result = enforced.run_handler(enforced.event("photos/notes.jpg"))
    # THEN it fails cleanly: the failure notification goes out and nothing is written
    assert [r["status"] for r in result["results"]] == ["failure"]
    (notification,) = enforced.notifications()
    assert notification["MessageAttributes"]["status"]["Value"] == "failure"
    assert enforced.keys(enforced.destination) == {WATERMARK}


def test_a_deleted_source_deletes_its_renditions(enforced: Enforced):
    # GIVEN an image processed into renditions, then deleted from the source
    enforced.admin("s3").put_object(Bucket=enforced.source, Key="photos/dog.jpg", Body=jpeg())
    enforced.run_handler(enforced.event("photos/dog.jpg"))
    assert any(key.endswith("photos/dog.jpg") for key in enforced.keys(enforced.destination))
    enforced.admin("s3").delete_object(Bucket=enforced.source, Key="photos/dog.jpg")
    # WHEN the handler processes the ObjectRemoved event under enforcement
    enforced.run_handler(enforced.event("photos/dog.jpg", removed=True))
    # THEN the renditions are gone (DeleteObjects reports refusals in its body: a silent failure would show here)
    assert enforced.keys(enforced.destination) == {WATERMARK}


def invalidated_paths(enforced: Enforced) -> list[set[str]]:
    """The paths of each invalidation made on the program's distribution, oldest first."""
    cloudfront, distribution = enforced.admin("cloudfront"), enforced.distribution_id
    listed = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"].get("Items", [])
    batches = [
        cloudfront.get_invalidation(DistributionId=distribution, Id=item["Id"])["Invalidation"] for item in listed
    ]
    return [set(b["InvalidationBatch"]["Paths"]["Items"]) for b in sorted(batches, key=lambda b: b["CreateTime"])]


def test_with_a_cdn_overwritten_and_deleted_renditions_are_invalidated(enforced_cdn: Enforced):
    # GIVEN the pipeline with a CDN and a photo already processed
    enforced = enforced_cdn
    renditions = {"/resized/thumb/photos/cat.jpg", "/resized/marked/photos/cat.jpg"}
    enforced.admin("s3").put_object(Bucket=enforced.source, Key="photos/cat.jpg", Body=jpeg())
    first = enforced.run_handler(enforced.event("photos/cat.jpg"))
    assert [r["status"] for r in first["results"]] == ["success"], first["results"][0]["error_message"]
    # WHEN the photo is overwritten, then deleted, each processed with only the program's grants
    enforced.admin("s3").put_object(Bucket=enforced.source, Key="photos/cat.jpg", Body=jpeg((90, 60)))
    second = enforced.run_handler(enforced.event("photos/cat.jpg"))
    assert [r["status"] for r in second["results"]] == ["success"], second["results"][0]["error_message"]
    enforced.admin("s3").delete_object(Bucket=enforced.source, Key="photos/cat.jpg")
    enforced.run_handler(enforced.event("photos/cat.jpg", removed=True))
    # THEN the replaced, then the deleted renditions' paths are invalidated on the program's distribution;
    # the first upload's too unless the role may list the source's versions, the one way to tell that an
    # upload replaced nothing without reading the destination
    lists_versions = any("s3:ListBucketVersions" in _as_list(s["Action"]) for s in enforced.permissions["Statement"])
    expected = [True, True] if lists_versions else [True, True, True]
    assert [renditions <= paths for paths in invalidated_paths(enforced)] == expected


def test_the_role_may_invalidate_its_own_distribution_only(enforced_cdn: Enforced):
    enforced = enforced_cdn
    # GIVEN the role's CloudFront client and two distributions (the program's and another)
    cloudfront = enforced.role("cloudfront")
    others = [d["Id"] for d in enforced.admin("cloudfront").list_distributions()["DistributionList"]["Items"]]
    (other,) = [d for d in others if d != enforced.distribution_id]

    def invalidate(distribution_id: str) -> Any:
        batch = {"Paths": {"Quantity": 1, "Items": ["/resized/photos/cat.jpg"]}, "CallerReference": distribution_id}
        return cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch=batch)

    # WHEN each is invalidated with the role's credentials THEN only the program's distribution accepts
    assert not denied(lambda: invalidate(enforced.distribution_id))
    assert denied(lambda: invalidate(other))


@pytest.mark.parametrize(
    "attempt",
    [
        "write outside resized/",
        "overwrite a watermark",
        "read a rendition",
        "list the destination",
        "write to the source",
        "delete from the source",
        "publish to another topic",
        "send to another queue",
        "write another table",
        "read another table",
        "delete the history table",
    ],
)
def test_everything_else_is_denied(enforced: Enforced, attempt: str):
    # GIVEN the role's clients and an existing rendition
    s3, admin_s3 = enforced.role("s3"), enforced.admin("s3")
    admin_s3.put_object(Bucket=enforced.destination, Key="resized/photos/old.jpg", Body=jpeg())
    attempts: dict[str, Callable[[], Any]] = {
        "write outside resized/": lambda: s3.put_object(Bucket=enforced.destination, Key="public/x.jpg", Body=b"x"),
        "overwrite a watermark": lambda: s3.put_object(Bucket=enforced.destination, Key=WATERMARK, Body=b"x"),
        "read a rendition": lambda: s3.get_object(Bucket=enforced.destination, Key="resized/photos/old.jpg"),
        "list the destination": lambda: s3.list_objects_v2(Bucket=enforced.destination),
        "write to the source": lambda: s3.put_object(Bucket=enforced.source, Key="photos/x.jpg", Body=b"x"),
        "delete from the source": lambda: s3.delete_object(Bucket=enforced.source, Key="photos/x.jpg"),
        "publish to another topic": lambda: enforced.role("sns").publish(
            TopicArn=enforced.other_topic_arn, Message="x"
        ),
        "send to another queue": lambda: enforced.role("sqs").send_message(
            QueueUrl=enforced.other_queue_url, MessageBody="x"
        ),
        "write another table": lambda: enforced.role("dynamodb").put_item(
            TableName="someone-elses-table", Item={"source_key": {"S": "x"}}
        ),
        "read another table": lambda: enforced.role("dynamodb").get_item(
            TableName="someone-elses-table", Key={"source_key": {"S": "x"}}
        ),
        "delete the history table": lambda: enforced.role("dynamodb").delete_table(
            TableName=enforced.environment["HISTORY_TABLE"]
        ),
    }
    # WHEN the role attempts it under enforcement THEN IAM refuses
    assert denied(attempts[attempt])


def test_with_the_sqs_trigger_the_role_consumes_its_own_queue_only(run_pulumi: Runner, monkeypatch: pytest.MonkeyPatch):
    # GIVEN the program with trigger "sqs": its role, the trigger queue, the failure queue and another queue
    deployment = run_pulumi(notificationEmail=EMAIL, trigger="sqs")
    granted = deployment.policy(ROLE_POLICY)
    (trigger_arn,) = {granting(granted, action) for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage")}
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        admin = boto3.client("sqs", **ADMIN)
        urls = {
            name: admin.create_queue(QueueName=name)["QueueUrl"]
            for name in (trigger_arn.rsplit(":", 1)[1], granting(granted, "sqs:SendMessage").rsplit(":", 1)[1], "other")
        }
        for url in urls.values():
            admin.send_message(QueueUrl=url, MessageBody="{}")
        trigger, failures, other = urls.values()
        trust = deployment.policy("aws:iam/role:Role", key="assumeRolePolicy")
        role = session(assume_role(trust, json.dumps(granted))).client("sqs")
        # WHEN the role polls each queue as the event source mapping does
        # THEN only the trigger queue answers; the failure queue and others stay closed to it
        assert not denied(lambda: role.receive_message(QueueUrl=trigger))
        assert not denied(lambda: role.get_queue_attributes(QueueUrl=trigger, AttributeNames=["All"]))
        assert denied(lambda: role.receive_message(QueueUrl=failures))
        assert denied(lambda: role.receive_message(QueueUrl=other))
        assert denied(lambda: role.purge_queue(QueueUrl=trigger))


def test_what_the_role_needs_besides_the_handler_is_granted(enforced: Enforced):
    # GIVEN the role's clients WHEN Lambda's on-failure destination is written and a watermark read
    sqs, s3 = enforced.role("sqs"), enforced.role("s3")
    # THEN both are allowed (the handler's own calls are proven by the tests above)
    assert not denied(lambda: sqs.send_message(QueueUrl=enforced.dead_letter_queue_url, MessageBody="{}"))
    assert not denied(lambda: s3.get_object(Bucket=enforced.destination, Key=WATERMARK))


def test_the_documents_carry_what_moto_cannot_enforce(run_pulumi: Runner):
    # GIVEN the program with a customer-managed bucket key
    key = "arn:aws:kms:us-east-1:123456789012:key/abcd"
    deployment = run_pulumi(notificationEmail=EMAIL, kmsKeyArn=key)
    granted = statements(deployment.policy(ROLE_POLICY))
    # THEN the bucket key is usable only through S3 in this region, for these two buckets
    use_key = granted["UseBucketKey"]
    assert use_key["Resource"] == key
    assert sorted(use_key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert use_key["Condition"]["StringEquals"] == {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    buckets = [granting(deployment.policy(ROLE_POLICY), "s3:ListBucket"), _bucket(granted["WriteRenditions"])]
    assert sorted(use_key["Condition"]["ArnLike"]["kms:EncryptionContext:aws:s3:arn"]) == sorted(
        arn for bucket in buckets for arn in (bucket, f"{bucket}/*")
    )
    # AND only Lambda may assume the role
    trust = deployment.policy("aws:iam/role:Role", key="assumeRolePolicy")
    assert [(s["Effect"], s["Principal"], s["Action"]) for s in trust["Statement"]] == [
        ("Allow", {"Service": "lambda.amazonaws.com"}, "sts:AssumeRole")
    ]
    # AND logs go to the function's own log group only
    log_group = deployment.one("aws:cloudwatch/logGroup:LogGroup")["name"]
    assert granted["WriteOwnLogs"]["Resource"] == f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{log_group}:*"
    # AND no statement of the role leaves its action or resource open
    for statement in granted.values():
        assert "*" not in _as_list(statement["Resource"]) and not any(
            a == "*" or a.endswith(":*") for a in _as_list(statement["Action"])
        )


def _bucket(statement: dict[str, Any]) -> str:
    return str(statement["Resource"]).split("/", 1)[0]
