"""Feeds the emulator's S3 events to the real handler the way Lambda's async invocation does."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from handler.events import s3_objects
from local.emulator import FUNCTION_NAME, LocalPipeline

Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]
RETRY_DELAY_SECONDS = 1


@dataclass(frozen=True)
class LambdaContext:
    """The parts of the Lambda context the handler reads."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = FUNCTION_NAME
    memory_limit_in_mb: int = 512


@dataclass
class PumpStats:
    """What the pump saw: handler results by source key and invocation errors."""

    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class EventPump:
    """Receives S3 events from the queue and invokes the handler with each.

    A message is deleted only after the handler returns. When the handler raises, the message
    becomes visible again after a short delay; after the first attempt and two retries the queue's
    redrive policy moves it to the dead-letter queue, as Lambda's on-failure destination would.
    """

    def __init__(
        self,
        pipeline: LocalPipeline,
        handler: Handler,
        on_result: Callable[[dict[str, Any]], None] = lambda result: None,
    ) -> None:
        self.pipeline = pipeline
        self.handler = handler
        self.on_result = on_result
        self.stats = PumpStats()
        self._sqs = pipeline.sqs()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Handle one batch of events; return how many messages were received."""
        messages = self._sqs.receive_message(
            QueueUrl=self.pipeline.events_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        ).get("Messages", [])
        for message in messages:
            self._invoke(message)
        return len(messages)

    def _invoke(self, message: Mapping[str, Any]) -> None:
        event = json.loads(message["Body"])
        if event.get("Event") == "s3:TestEvent":
            # S3 posts this to a queue when notifications are configured; Lambda never receives it.
            self._delete(message)
            return
        try:
            response = self.handler(event, LambdaContext())
        except Exception as error:
            with self.stats.lock:
                self.stats.errors.append(f"{type(error).__name__}: {error}")
            self._sqs.change_message_visibility(
                QueueUrl=self.pipeline.events_queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=RETRY_DELAY_SECONDS,
            )
            return
        self._delete(message)
        for result in response.get("results", []):
            with self.stats.lock:
                self.stats.results.append(result)
            self.on_result(result)

    def _delete(self, message: Mapping[str, Any]) -> None:
        self._sqs.delete_message(QueueUrl=self.pipeline.events_queue_url, ReceiptHandle=message["ReceiptHandle"])

    def run(self) -> None:
        """Poll until stop() is called."""
        while not self._stop.is_set():
            self.poll_once()

    def start(self, workers: int = 1) -> None:
        """Run `workers` polling threads in the background, like concurrent Lambda instances."""
        self._threads = [threading.Thread(target=self.run, daemon=True, name=f"pump-{n}") for n in range(workers)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Let the polling threads finish their current batch, and wait for them."""
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def drain_dead_letters(self) -> list[str]:
        """Remove and return the source keys of events that exhausted their retries."""
        keys: list[str] = []
        while True:
            messages = self._sqs.receive_message(
                QueueUrl=self.pipeline.dead_letter_queue_url, MaxNumberOfMessages=10
            ).get("Messages", [])
            if not messages:
                return keys
            for message in messages:
                keys.extend(source.key for source in s3_objects(json.loads(message["Body"])))
                self._sqs.delete_message(
                    QueueUrl=self.pipeline.dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
