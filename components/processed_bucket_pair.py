"""ProcessedBucketPair: the private, encrypted source and destination buckets of an image pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import policies
from components.args import ArgError, between
from components.naming import REQUEST_METRICS_FILTER, validate_bucket_name

ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7
MAX_LIFECYCLE_DAYS = 3650  # ten years: beyond that a typo is likelier than a retention policy
# AWS's managed "CachingOptimized" cache policy: long TTLs, compression, no cookies or query strings.
CACHING_OPTIMIZED_POLICY_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6"
# Where each bucket's server access logs go inside the log bucket.
ACCESS_LOG_PREFIXES = {"source": "source/", "processed": "processed/"}
ABORT_INCOMPLETE_UPLOADS: aws.s3.BucketLifecycleConfigurationRuleArgsDict = {
    "id": "abort-incomplete-multipart-uploads",
    "status": "Enabled",
    "filter": {},
    "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS},
}


@dataclass(frozen=True)
class ProcessedBucketPairArgs:
    """Names and options of the buckets; names are checked against S3's rules up front."""

    source_bucket_name: str
    destination_bucket_name: str
    log_bucket_name: str
    account_id: pulumi.Input[str]
    force_destroy: bool = False
    source_versioning: bool = True
    kms_key_arn: str | None = None
    cdn: bool = False
    noncurrent_version_days: int = 30
    access_log_days: int = 90

    def __post_init__(self) -> None:
        names = ("source_bucket_name", "destination_bucket_name", "log_bucket_name")
        for field in names:
            validate_bucket_name(getattr(self, field), field)
        if len({getattr(self, field) for field in names}) < len(names):
            raise ArgError(
                "destination_bucket_name",
                "and the source and log bucket names must differ: outputs never go to the source, "
                "and logs never mix with images",
            )
        if self.kms_key_arn is not None and not self.kms_key_arn.startswith("arn:"):
            raise ArgError("kms_key_arn", f"must be a KMS key ARN, got {self.kms_key_arn!r}")
        if self.cdn and self.kms_key_arn:
            raise ArgError(
                "cdn",
                "cannot be combined with kms_key_arn: CloudFront's origin access control cannot decrypt objects "
                "under a key this component does not manage, so every rendition would answer 403",
            )
        between("noncurrent_version_days", self.noncurrent_version_days, 1, MAX_LIFECYCLE_DAYS)
        between("access_log_days", self.access_log_days, 1, MAX_LIFECYCLE_DAYS)


class ProcessedBucketPair(pulumi.ComponentResource):
    """Source bucket for uploads and destination bucket for renditions, both locked down, with access logs.

    Every bucket: all public access blocked, ACLs disabled (BucketOwnerEnforced), default encryption
    (SSE-S3, or SSE-KMS with `kms_key_arn`), TLS-only bucket policy, incomplete multipart uploads
    aborted. The source is versioned unless `source_versioning` is false; its noncurrent versions
    expire after `noncurrent_version_days`. Both log their requests to a third bucket with the same
    controls (SSE-S3 always: S3 cannot deliver access logs to an SSE-KMS bucket) where logs expire after
    `access_log_days`, and both have a request-metrics configuration (the AllRequests metric). With
    `cdn`, a CloudFront distribution with origin access control serves the destination's `resized/`
    objects; the bucket stays private and its policy lets only that distribution read.
    """

    source: aws.s3.Bucket
    destination: aws.s3.Bucket
    log_bucket: aws.s3.Bucket
    source_bucket_name: pulumi.Output[str]
    source_bucket_arn: pulumi.Output[str]
    destination_bucket_name: pulumi.Output[str]
    destination_bucket_arn: pulumi.Output[str]
    distribution: aws.cloudfront.Distribution | None

    def __init__(self, name: str, args: ProcessedBucketPairArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-processor:storage:ProcessedBucketPair", name, None, opts)
        self._args = args
        self.log_bucket, log_access = self._bucket(f"{name}-logs", args.log_bucket_name, _expire_logs(args))
        self.source, source_access = self._bucket(
            f"{name}-source",
            args.source_bucket_name,
            _expire_noncurrent_versions(args),
            args.kms_key_arn,
            versioned=args.source_versioning,
        )
        self.destination, destination_access = self._bucket(
            f"{name}-processed", args.destination_bucket_name, [], args.kms_key_arn
        )
        self.distribution = self._cdn(f"{name}-processed", self.destination) if args.cdn else None
        log_policy = tls_only_policy(self, f"{name}-logs", self.log_bucket, log_access, self._log_policy())
        source_policy = self.source.arn.apply(policies.bucket_policy)
        tls_only_policy(self, f"{name}-source", self.source, source_access, source_policy)
        tls_only_policy(self, f"{name}-processed", self.destination, destination_access, self._destination_policy())
        for role, bucket in (("source", self.source), ("processed", self.destination)):
            self._log_requests(f"{name}-{role}", bucket, ACCESS_LOG_PREFIXES[role], log_policy)
            self._request_metrics(f"{name}-{role}", bucket)
        self.source_bucket_name = self.source.bucket
        self.source_bucket_arn = self.source.arn
        self.destination_bucket_name = self.destination.bucket
        self.destination_bucket_arn = self.destination.arn
        self.register_outputs(
            {
                "source_bucket_name": self.source_bucket_name,
                "source_bucket_arn": self.source_bucket_arn,
                "destination_bucket_name": self.destination_bucket_name,
                "destination_bucket_arn": self.destination_bucket_arn,
                "log_bucket_name": self.log_bucket.bucket,
                "cdn_domain_name": self.distribution.domain_name if self.distribution else None,
            }
        )

    def _bucket(
        self,
        name: str,
        bucket_name: str,
        lifecycle_rules: list[aws.s3.BucketLifecycleConfigurationRuleArgsDict],
        kms_key_arn: str | None = None,
        *,
        versioned: bool = False,
    ) -> tuple[aws.s3.Bucket, aws.s3.BucketPublicAccessBlock]:
        return private_bucket(
            self,
            name,
            bucket_name,
            lifecycle_rules=[ABORT_INCOMPLETE_UPLOADS, *lifecycle_rules],
            force_destroy=self._args.force_destroy,
            kms_key_arn=kms_key_arn,
            versioned=versioned,
        )

    def _log_policy(self) -> pulumi.Output[str]:
        return pulumi.Output.all(
            self.log_bucket.arn, self.source.arn, self.destination.arn, self._args.account_id
        ).apply(lambda values: policies.log_bucket_policy(values[0], values[1:3], values[3]))

    def _destination_policy(self) -> pulumi.Output[str]:
        if self.distribution is None:
            return self.destination.arn.apply(policies.bucket_policy)
        return pulumi.Output.all(self.destination.arn, self.distribution.arn).apply(
            lambda arns: policies.bucket_policy(arns[0], arns[1])
        )

    def _log_requests(self, name: str, bucket: aws.s3.Bucket, prefix: str, log_policy: aws.s3.BucketPolicy) -> None:
        aws.s3.BucketLogging(
            f"{name}-access-logs",
            bucket=bucket.id,
            target_bucket=self.log_bucket.id,
            target_prefix=prefix,
            # Log delivery is allowed by the log bucket's policy, so that comes first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_policy]),
        )

    def _request_metrics(self, name: str, bucket: aws.s3.Bucket) -> None:
        aws.s3.BucketMetric(
            f"{name}-request-metrics",
            bucket=bucket.id,
            name=REQUEST_METRICS_FILTER,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _cdn(self, name: str, bucket: aws.s3.Bucket) -> aws.cloudfront.Distribution:
        """A CloudFront distribution reading `bucket` through origin access control."""
        child = pulumi.ResourceOptions(parent=self)
        access = aws.cloudfront.OriginAccessControl(
            f"{name}-cdn-access",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        return aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            is_ipv6_enabled=True,
            price_class="PriceClass_100",
            origins=[
                {
                    "origin_id": "renditions",
                    "domain_name": bucket.bucket_regional_domain_name,
                    "origin_access_control_id": access.id,
                }
            ],
            default_cache_behavior={
                "target_origin_id": "renditions",
                "viewer_protocol_policy": "redirect-to-https",
                "allowed_methods": ["GET", "HEAD"],
                "cached_methods": ["GET", "HEAD"],
                "cache_policy_id": CACHING_OPTIMIZED_POLICY_ID,
                "compress": True,
            },
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate={"cloudfront_default_certificate": True},
            opts=child,
        )


def private_bucket(
    parent: pulumi.Resource,
    name: str,
    bucket_name: str,
    *,
    lifecycle_rules: list[aws.s3.BucketLifecycleConfigurationRuleArgsDict],
    force_destroy: bool = False,
    kms_key_arn: str | None = None,
    versioned: bool = False,
) -> tuple[aws.s3.Bucket, aws.s3.BucketPublicAccessBlock]:
    """A private bucket (public access blocked, no ACLs), encrypted (SSE-S3, or SSE-KMS with `kms_key_arn`),
    with `lifecycle_rules`; also returns its public access block, which its policy must wait for."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(name, bucket=bucket_name, force_destroy=force_destroy, opts=child)
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[
            {
                "apply_server_side_encryption_by_default": (
                    {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn}
                    if kms_key_arn
                    else {"sse_algorithm": "AES256"}
                ),
                "bucket_key_enabled": bool(kms_key_arn),
            }
        ],
        opts=child,
    )
    versioning = (
        aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
        )
        if versioned
        else None
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=lifecycle_rules,
        # Noncurrent-version rules apply to a bucket that is already versioned.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[versioning] if versioning else []),
    )
    return bucket, public_access


def tls_only_policy(
    parent: pulumi.Resource,
    name: str,
    bucket: aws.s3.Bucket,
    public_access: aws.s3.BucketPublicAccessBlock,
    policy: pulumi.Input[str],
) -> aws.s3.BucketPolicy:
    """The bucket's policy (`<name>-tls-only`), written after its public access block."""
    return aws.s3.BucketPolicy(
        f"{name}-tls-only",
        bucket=bucket.id,
        policy=policy,
        # S3 rejects policy writes racing the public access block on a new bucket.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[public_access]),
    )


def _expire_logs(args: ProcessedBucketPairArgs) -> list[aws.s3.BucketLifecycleConfigurationRuleArgsDict]:
    return [
        {"id": "expire-access-logs", "status": "Enabled", "filter": {}, "expiration": {"days": args.access_log_days}}
    ]


def _expire_noncurrent_versions(args: ProcessedBucketPairArgs) -> list[aws.s3.BucketLifecycleConfigurationRuleArgsDict]:
    if not args.source_versioning:
        return []
    return [
        {
            # Overwritten or deleted photos do not stay forever (privacy, cost); lone delete markers go too.
            "id": "expire-noncurrent-versions",
            "status": "Enabled",
            "filter": {},
            "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_version_days},
            "expiration": {"expired_object_delete_marker": True},
        }
    ]
