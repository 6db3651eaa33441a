"""Convergence, as a stateful property on moto: whatever happens to the source and however its events
arrive (duplicated, reordered, delayed, interleaved with other events' work), once every event has been
handled the destination holds exactly the renditions of the objects now in the source, each made from
the current version.

The machine uploads, overwrites and deletes objects (and, when versioned, deletes specific versions,
delete markers included), queues the event S3 would send, and handles queued events in any order. While
one event is handled, the source can change, or another event can be handled to completion, at every
HEAD, GET, render and PUT of the handler (the hooks), which is how concurrent invocations interleave.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from moto import mock_aws
from PIL import Image

from handler import app, events, imaging, storage
from handler.settings import settings as handler_settings
from tests.conftest import DESTINATION, REGION, SOURCE, clear_caches

# cat.png renders to resized/cat.png.jpg: the very key cat.png.jpg would have had before the new scheme.
KEYS = ("cat.png", "cat.png.jpg")
ENVIRONMENT = {"RESIZE_WIDTH": "4", "RESIZE_HEIGHT": "4", "DESTINATION_BUCKET": DESTINATION, "SOURCE_BUCKET": SOURCE}
STEPS = ("head", "get", "render_all", "put")
# Where the handler can be interrupted: before its n-th call of a step (HEAD comes again after writing).
WHEN = (("head", 0), ("get", 0), ("render_all", 0), ("put", 0), ("head", 1))
# What can happen there, to the key being handled: a change whose event is still on its way, a change
# whose event another invocation handles at once, or another queued event handled meanwhile.
ACTIONS = ("upload", "delete", "upload, handled", "delete, handled", "other event handled")
# (when, action, which queued event)
INTERFERENCE = st.tuples(st.sampled_from(WHEN), st.sampled_from(ACTIONS), st.integers(0, 9))


def picture(shade: int) -> bytes:
    """A tiny PNG of one grey shade: its rendition tells which upload it was made from."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, shade, shade)).save(buffer, "PNG")
    return buffer.getvalue()


class Convergence(RuleBasedStateMachine):
    """The source, the queue of undelivered events, and the handler's steps with hooks between them."""

    versioned = False

    def __init__(self) -> None:
        super().__init__()
        self.aws = mock_aws()
        self.aws.start()
        self.s3 = boto3.client("s3", region_name=REGION)
        self.s3.create_bucket(Bucket=SOURCE)
        self.s3.create_bucket(Bucket=DESTINATION)
        if self.versioned:
            self.s3.put_bucket_versioning(Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"})
        topic = boto3.client("sns", region_name=REGION).create_topic(Name="notifications")["TopicArn"]
        os.environ["SNS_TOPIC_ARN"] = topic
        clear_caches()
        self.invocation = app.Invocation(handler_settings(), "request")
        self.queue: list[events.SourceObject] = []
        self.versions: dict[str, list[str]] = {}
        self.shades = iter(range(10, 250, 3))
        self.plan: list[tuple[tuple[str, int], str, int]] = []  # interferences while an event is handled
        self.key = KEYS[0]  # the key of the event being handled
        self.steps = dict.fromkeys(STEPS, 0)
        self._install_hooks()

    def teardown(self) -> None:
        try:
            self.settle_everything()
        finally:
            self.aws.stop()
            clear_caches()

    # --- the source, and the events S3 sends for it ---

    def upload_now(self, key: str, image: bool) -> None:
        body = picture(next(self.shades)) if image else b"not an image " + bytes([next(self.shades)])
        put = self.s3.put_object(Bucket=SOURCE, Key=key, Body=body)
        self._remember(key, put.get("VersionId"))
        self.queue.append(events.SourceObject(SOURCE, key, put["ETag"].strip('"'), put.get("VersionId")))

    def delete_now(self, key: str) -> None:
        deleted = self.s3.delete_object(Bucket=SOURCE, Key=key)
        self._remember(key, deleted.get("VersionId"))
        self.queue.append(events.SourceObject(SOURCE, key, None, deleted.get("VersionId"), removed=True))

    def delete_version_now(self, key: str, pick: int) -> None:
        versions = self.versions.setdefault(key, [])  # oldest first, delete markers included
        if not versions:
            return
        version = versions.pop(pick % len(versions))
        self.s3.delete_object(Bucket=SOURCE, Key=key, VersionId=version)
        self.queue.append(events.SourceObject(SOURCE, key, None, version, removed=True, version_removed=True))

    def _remember(self, key: str, version: str | None) -> None:
        if self.versioned and version:
            self.versions.setdefault(key, []).append(version)

    @rule(key=st.sampled_from(KEYS), image=st.booleans())
    def upload(self, key: str, image: bool) -> None:
        self.upload_now(key, image)

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key: str) -> None:
        self.delete_now(key)

    @precondition(lambda self: self.versioned)
    @rule(key=st.sampled_from(KEYS), pick=st.integers(0, 5))
    def delete_a_version(self, key: str, pick: int) -> None:
        self.delete_version_now(key, pick)

    # --- delivery: any order, duplicates, and work interleaved with the handler's steps ---

    @precondition(lambda self: self.queue)
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        self.queue.append(data.draw(st.sampled_from(self.queue), label="duplicated"))

    @precondition(lambda self: self.queue)
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        source = self.queue.pop(data.draw(st.integers(0, len(self.queue) - 1), label="event"))
        self.handle_with(source, data.draw(st.lists(INTERFERENCE, max_size=2), label="interferences"))

    def handle_with(self, source: events.SourceObject, plan: list[tuple[tuple[str, int], str, int]]) -> None:
        """Handle `source`, with the planned interferences before the handler's steps."""
        self.plan, self.key, self.steps = plan, source.key, dict.fromkeys(STEPS, 0)
        try:
            self.handle(source)
        finally:
            self.plan = []

    @rule()
    def settle(self) -> None:
        self.settle_everything()

    def handle(self, source: events.SourceObject) -> None:
        try:
            app.handle(source, self.invocation)
        except app.StillChanging:
            self.queue.append(source)  # handed back: Lambda or SQS delivers it again

    def settle_everything(self) -> None:
        """Deliver every queued event (oldest first, no interference), then check the destination."""
        while self.queue:
            self.handle(self.queue.pop(0))
        assert self.destination() == self.expected()

    def interfere(self, step: str) -> None:
        """Before a step of the handler: what the plan says happens there (a change, another invocation)."""
        if not self.plan:
            return
        self.steps[step] += 1
        for when, action, pick in self.plan:
            if when == (step, self.steps[step] - 1):
                self.perform(action, self.key, pick)

    def perform(self, action: str, key: str, pick: int) -> None:
        plan, self.plan = self.plan, []  # what runs meanwhile runs without interference of its own
        try:
            if action.startswith("upload"):
                self.upload_now(key, image=True)
            elif action.startswith("delete"):
                self.delete_now(key)
            if action.endswith("handled") and self.queue:
                # Another invocation handles the change just made (or another queued event) to completion.
                self.handle(self.queue.pop(-1 if action != "other event handled" else pick % len(self.queue)))
        finally:
            self.plan = plan

    def _install_hooks(self) -> None:
        self.patches = pytest.MonkeyPatch()
        for module, name in ((storage, "head"), (storage, "get"), (storage, "put"), (imaging, "render_all")):
            self.patches.setattr(module, name, self._hooked(name, getattr(module, name)))
        self.aws_stop = self.aws.stop
        self.aws.stop = self._stop  # type: ignore[method-assign]

    def _stop(self) -> None:
        self.patches.undo()
        self.aws_stop()

    def _hooked(self, step: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def hooked(*args: Any, **kwargs: Any) -> Any:
            self.interfere(step)
            return real(*args, **kwargs)

        return hooked

    # --- what the destination holds, and what it should hold ---

    def destination(self) -> dict[str, tuple[str, str, int]]:
        """Rendition key -> (source ETag, source version, grey shade) of every rendition."""
        held = {}
        for item in self.s3.list_objects_v2(Bucket=DESTINATION).get("Contents", []):
            response = self.s3.get_object(Bucket=DESTINATION, Key=item["Key"])
            shade = Image.open(io.BytesIO(response["Body"].read())).convert("L").getpixel((0, 0))
            metadata = response["Metadata"]
            held[item["Key"]] = (metadata["source-etag"], metadata["source-version"], round(shade / 3))
        return held

    def expected(self) -> dict[str, tuple[str, str, int]]:
        """The renditions of the objects now in the source: images only, each from its current version."""
        wanted = {}
        for key in KEYS:
            try:
                response = self.s3.get_object(Bucket=SOURCE, Key=key)
            except self.s3.exceptions.NoSuchKey:
                continue
            body = response["Body"].read()
            if body.startswith(b"not an image"):
                continue
            shade = Image.open(io.BytesIO(body)).getpixel((0, 0))[0]
            version = response.get("VersionId") if self.versioned else ""
            rendition = self.invocation.config.renditions[0].key(key, "jpeg")
            wanted[rendition] = (response["ETag"].strip('"'), version or "", round(shade / 3))
        return wanted

    @invariant()
    def destination_never_holds_foreign_keys(self) -> None:
        allowed = {spec_key for key in KEYS for spec_key in self.invocation.config.renditions[0].possible_keys(key)}
        listing = self.s3.list_objects_v2(Bucket=DESTINATION).get("Contents", [])
        assert {item["Key"] for item in listing} <= allowed


class VersionedConvergence(Convergence):
    versioned = True


SETTINGS = settings(
    max_examples=12,
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def environment(aws_credentials, monkeypatch):
    """The handler's variables, all restored after the test (the machine sets the topic it creates)."""
    for name, value in {**ENVIRONMENT, "SNS_TOPIC_ARN": "arn:unset"}.items():
        monkeypatch.setenv(name, value)


def test_unversioned_source_converges(environment):
    Convergence.TestCase.settings = SETTINGS
    Convergence.TestCase().runTest()


def test_versioned_source_converges(environment):
    VersionedConvergence.TestCase.settings = SETTINGS
    VersionedConvergence.TestCase().runTest()


@pytest.mark.parametrize("machine", [Convergence, VersionedConvergence], ids=["unversioned", "versioned"])
@pytest.mark.parametrize(
    ("when", "action"),
    [
        (("put", 0), "upload, handled"),  # overwritten while rendering, its event done before our write
        (("put", 0), "delete, handled"),  # deleted while rendering, its removal done before our write
        (("get", 0), "upload, handled"),  # overwritten between HEAD and GET
        (("render_all", 0), "delete"),  # deleted while decoding, its event still on its way
    ],
)
def test_a_change_during_handling_never_leaves_a_stale_rendition(environment, machine, when, action):
    # GIVEN an uploaded image and its event
    state = machine()
    state.upload_now("cat.png", image=True)
    # WHEN the source changes at that step of the handler
    state.handle_with(state.queue.pop(), [(when, action, 0)])
    # THEN once the remaining events are handled, the destination matches the source
    state.teardown()


def test_permanently_deleting_the_latest_version_brings_back_the_older_rendition(environment):
    # GIVEN two versions of an image, both handled
    state = VersionedConvergence()
    state.upload_now("cat.png", image=True)
    state.upload_now("cat.png", image=True)
    state.settle_everything()
    # WHEN the latest version is deleted for good (the older one is current again)
    state.delete_version_now("cat.png", pick=-1)
    # THEN its event renders the older version again
    state.teardown()
