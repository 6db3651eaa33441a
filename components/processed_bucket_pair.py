"""ProcessedBucketPair: the private, encrypted source and destination buckets of an image pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import policies
from components.naming import validate_bucket_name

ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7
# AWS's managed "CachingOptimized" cache policy: long TTLs, compression, no cookies or query strings.
CACHING_OPTIMIZED_POLICY_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6"


@dataclass(frozen=True)
class ProcessedBucketPairArgs:
    """Names and options of the two buckets; names are checked against S3's rules up front."""

    source_bucket_name: str
    destination_bucket_name: str
    force_destroy: bool = False
    source_versioning: bool = True
    kms_key_arn: str | None = None
    cdn: bool = False

    def __post_init__(self) -> None:
        validate_bucket_name(self.source_bucket_name, "source_bucket_name")
        validate_bucket_name(self.destination_bucket_name, "destination_bucket_name")
        if self.source_bucket_name == self.destination_bucket_name:
            raise ValueError(
                "source_bucket_name and destination_bucket_name must differ: outputs never go to the source"
            )
        if self.kms_key_arn is not None and not self.kms_key_arn.startswith("arn:"):
            raise ValueError(f"kms_key_arn must be a KMS key ARN, got {self.kms_key_arn!r}")


class ProcessedBucketPair(pulumi.ComponentResource):
    """Source bucket for uploads and destination bucket for renditions, both locked down.

    Every bucket: all public access blocked, ACLs disabled (BucketOwnerEnforced), default encryption
    (SSE-S3, or SSE-KMS with `kms_key_arn`), TLS-only bucket policy, incomplete multipart uploads
    aborted. The source is versioned unless `source_versioning` is false. With `cdn`, a CloudFront
    distribution with origin access control serves the destination's `resized/` objects; the bucket
    stays private and its policy lets only that distribution read.
    """

    source: aws.s3.Bucket
    destination: aws.s3.Bucket
    source_bucket_name: pulumi.Output[str]
    source_bucket_arn: pulumi.Output[str]
    destination_bucket_name: pulumi.Output[str]
    destination_bucket_arn: pulumi.Output[str]
    distribution: aws.cloudfront.Distribution | None = None

    def __init__(self, name: str, args: ProcessedBucketPairArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-processor:storage:ProcessedBucketPair", name, None, opts)
        self._args = args
        self.source = self._bucket(
            f"{name}-source", args.source_bucket_name, versioned=args.source_versioning, cdn=False
        )
        self.destination = self._bucket(
            f"{name}-processed", args.destination_bucket_name, versioned=False, cdn=args.cdn
        )
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
                "cdn_domain_name": self.distribution.domain_name if self.distribution else None,
            }
        )

    def _bucket(self, name: str, bucket_name: str, *, versioned: bool, cdn: bool) -> aws.s3.Bucket:
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(name, bucket=bucket_name, force_destroy=self._args.force_destroy, opts=child)
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
        kms_key_arn = self._args.kms_key_arn
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
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket.id,
            policy=self._policy(name, bucket) if cdn else bucket.arn.apply(policies.bucket_policy),
            # S3 rejects policy writes racing the public access block on a new bucket.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        if versioned:
            aws.s3.BucketVersioning(
                f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    "id": "abort-incomplete-multipart-uploads",
                    "status": "Enabled",
                    "filter": {},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS},
                }
            ],
            opts=child,
        )
        return bucket

    def _policy(self, name: str, bucket: aws.s3.Bucket) -> pulumi.Output[str]:
        """Create the CDN in front of `bucket` and return the bucket policy that admits it."""
        child = pulumi.ResourceOptions(parent=self)
        access = aws.cloudfront.OriginAccessControl(
            f"{name}-cdn-access",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        self.distribution = aws.cloudfront.Distribution(
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
        return pulumi.Output.all(bucket.arn, self.distribution.arn).apply(
            lambda arns: policies.bucket_policy(arns[0], arns[1])
        )
