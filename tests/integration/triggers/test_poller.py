"""The poller against the moto S3 server: a new object starts one run, once."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from nats.js import JetStreamContext

from runner.bus import NatsBus
from runner.config import StoreSettings
from runner.store.listing import S3BucketLister
from runner.triggers import PollSource, TriggerService, trigger_definitions
from tests.fixtures.s3 import S3Server
from tests.integration.triggers.conftest import run_requests
from tests.unit.triggers.helpers import make_trigger
from tests.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


async def test_poller_picks_up_a_new_object_once(
    bus: NatsBus,
    jetstream: JetStreamContext,
    s3_server: S3Server,
    s3_client: Any,
    s3_bucket: str,
    s3_settings: StoreSettings,
) -> None:
    # Sync boto3 calls run in a thread: the moto server lives in this process,
    # and the event loop must keep serving the poller meanwhile.
    put = functools.partial(asyncio.to_thread, s3_client.put_object, Bucket=s3_bucket)
    await put(Key="incoming/old.csv", Body=b"already here")
    source = PollSource(interval_seconds=0.2, endpoint_url=s3_server.endpoint_url)
    trigger = make_trigger("polled", bucket=s3_bucket, source=source)
    await (await trigger_definitions(bus)).add(trigger.name, trigger)
    async with TriggerService(bus, store_settings=s3_settings, reload_seconds=3600) as service:
        poller = service.pollers["polled"]
        await until(lambda: poller.stats["polls"] >= 1, what="the first poll", timeout=20)
        await put(Key="incoming/day=1/new part.csv", Body=b"x")
        await put(Key="other/ignored.csv", Body=b"x")
        await until(lambda: poller.stats["fired"] == 1, what="the new object", timeout=20)
        polls = poller.stats["polls"]
        await until(lambda: poller.stats["polls"] >= polls + 3, what="three more polls", timeout=20)
        assert poller.stats["fired"] == 1
        assert poller.stats["errors"] == 0
    assert await run_requests(jetstream, bus) == 1


async def test_a_missing_bucket_is_an_error_the_poller_survives(
    bus: NatsBus, s3_server: S3Server, s3_settings: StoreSettings
) -> None:
    source = PollSource(interval_seconds=0.2, endpoint_url=s3_server.endpoint_url)
    trigger = make_trigger("polled", bucket="no-such-bucket-here", source=source)
    await (await trigger_definitions(bus)).add(trigger.name, trigger)
    async with TriggerService(bus, store_settings=s3_settings, reload_seconds=3600) as service:
        poller = service.pollers["polled"]
        await until(lambda: poller.stats["errors"] >= 2, what="two failed polls", timeout=20)


async def test_s3_lister_returns_raw_keys(
    s3_client: Any, s3_bucket: str, s3_settings: StoreSettings
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="a/b c=1.csv", Body=b"12345")
    lister = S3BucketLister(s3_settings)
    try:
        (listed,) = [o async for o in lister.list(s3_bucket, "a/")]
    finally:
        await lister.close()
    assert listed.key == "a/b c=1.csv"
    assert listed.size == 5
    assert listed.etag == "827ccb0eea8a706c4c34a16891f84e7b"
