"""The Lambda handler: S3 ObjectCreated events in, resized images and notifications out."""
