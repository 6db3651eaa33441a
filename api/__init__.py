"""The upload/status API's Lambda handler (API Gateway HTTP API, payload format 2.0)."""
