"""What became of one record: a frozen value, serialised once for the notification, metric, history and log."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

VERSION = 1
# Statuses: success and failure are news for the uploader; the others are reported to operators only.
SUCCESS = "success"
FAILURE = "failure"
SKIPPED = "skipped"
DELETED = "deleted"
IGNORED = "ignored"  # a record that names no object of ours (malformed or an unknown shape)


@dataclass(frozen=True)
class RenditionMade:
    """One rendition written to the destination bucket."""

    name: str
    key: str
    size: tuple[int, int]
    bytes: int
    format: str

    def document(self) -> dict[str, Any]:
        """The JSON form of the rendition."""
        return {"name": self.name, "key": self.key, "size": list(self.size), "bytes": self.bytes, "format": self.format}


@dataclass(frozen=True)
class Outcome:
    """The result of one record, as every channel reports it."""

    status: str
    source_bucket: str
    source_key: str
    destination_bucket: str
    request_id: str
    destination_key: str | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None
    source_format: str | None = None
    original_size: tuple[int, int] | None = None
    new_size: tuple[int, int] | None = None
    renditions: tuple[RenditionMade, ...] = ()
    error_type: str | None = None
    error_message: str | None = None
    reason: str | None = None
    deleted_keys: tuple[str, ...] = ()
    source_version: str | None = None
    duration_ms: int = 0

    def failed(self, error_type: str, message: str) -> Outcome:
        """This outcome turned into a failure for `error_type`."""
        return replace(self, status=FAILURE, error_type=error_type, error_message=message)

    @property
    def notifies(self) -> bool:
        """Whether the uploader hears of it (a notification)."""
        return self.status in (SUCCESS, FAILURE)

    def document(self) -> dict[str, Any]:
        """The one JSON form of the outcome (`version` names this schema)."""
        return {
            "version": VERSION,
            "status": self.status,
            "source_bucket": self.source_bucket,
            "source_key": self.source_key,
            "source_version": self.source_version,
            "destination_bucket": self.destination_bucket,
            "destination_key": self.destination_key,
            "request_id": self.request_id,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "source_format": self.source_format,
            "original_size": list(self.original_size) if self.original_size else None,
            "new_size": list(self.new_size) if self.new_size else None,
            "renditions": [rendition.document() for rendition in self.renditions],
            "error_type": self.error_type,
            "error_message": self.error_message,
            "reason": self.reason,
            "deleted_keys": list(self.deleted_keys),
            "duration_ms": self.duration_ms,
        }
