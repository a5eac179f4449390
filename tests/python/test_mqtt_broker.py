"""Devices through an external MQTT broker: `iotjobs serve --mqtt-broker mqtt://…` as a
client of a private Mosquitto (conftest `mosquitto`: a free loopback port, the device ACL
of docs/mqtt-broker.md, a password for iotjobs' user), and the real AWS IoT Device SDK v2
devices connected to Mosquitto, not to iotjobs.

A representative subset of `test_mqtt_device.py` runs unchanged through the broker (the
same functions, with this module's `iot` and `devices` fixtures), then what only the
broker path has: the ACL keeps a device to its own thing's request topics, a device
cannot publish replies or notifications, a redelivered request (same clientToken) gets
the same reply and starts nothing twice, and requests published while iotjobs is down are
answered after it comes back (clean session off).
"""

from __future__ import annotations

import json
import time

import pytest

from conftest import BROKER_PASSWORD, BROKER_USER
from iotjobs_helpers import execution, make_job, snapshot
from mqtt_device import Devices, MqttTimeout, jobs_topic

# The subset of the device suite that runs through the broker (collected here too).
from test_mqtt_device import (  # noqa: F401
    test_mqtt_describe_job_execution_next_does_not_start_it,
    test_mqtt_describe_job_execution_next_with_nothing_pending,
    test_mqtt_get_pending_job_executions_client_token_verbatim_or_omitted,
    test_mqtt_get_pending_job_executions_in_creation_order,
    test_mqtt_notifications_cancel_job_notifies_every_target,
    test_mqtt_notifications_follow_the_pending_list,
    test_mqtt_request_not_json_is_invalid_json,
    test_mqtt_start_next_pending_job_execution_starts_the_oldest,
    test_mqtt_update_job_execution_after_forced_cancel_is_invalid_state_transition,
    test_mqtt_update_job_execution_succeeded,
)

raw_kinds = pytest.mark.parametrize("raw_kind", ["mqtt3", "mqtt5"])

# MQTT 5 PUBACK reason code: Not authorized
NOT_AUTHORIZED = 0x87


@pytest.fixture
def broker_server(mosquitto, launch_server, tmp_path):
    """iotjobs connected to `mosquitto` (and nothing else for devices)."""
    srv = launch_server(
        tmp_path / "iotjobs",
        "--mqtt-broker", mosquitto.url,
        "--mqtt-broker-username", BROKER_USER,
        env={"IOTJOBS_MQTT_BROKER_PASSWORD": BROKER_PASSWORD},
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def mqtt_server(broker_server):
    """For the imported tests that name it: the HTTP side of the broker-mode server."""
    return broker_server


@pytest.fixture
def iot(broker_server):
    return broker_server.client("iot")


@pytest.fixture
def devices(mosquitto, broker_server):
    """devices(kind, thing): devices connected to Mosquitto (client id = thing)."""
    opened = Devices(lambda: mosquitto.port)
    try:
        yield opened
    finally:
        opened.close_all()


def wait_answers(d, topic, token, n, timeout=5.0):
    """The first `n` raw payloads on `topic` carrying `token` (duplicates included),
    waiting up to `timeout` seconds for them."""
    deadline = time.monotonic() + timeout
    while True:
        got = [p for t, p in d.raw.items
               if t == topic and json.loads(p).get("clientToken") == token]
        if len(got) >= n:
            return got[:n]
        if time.monotonic() > deadline:
            raise MqttTimeout(f"{len(got)} of {n} answers on {topic} with {token!r}: {got!r}")
        time.sleep(0.02)


def test_broker_started_and_connected(broker_server, mosquitto):
    """The start-up line names the broker; iotjobs' session is in Mosquitto's log."""
    assert broker_server.mqtt_port is None  # no embedded endpoint
    assert "iotjobs-000000000000" in mosquitto.log()


# --- authorization is the broker's ACL ----------------------------------------------------


@raw_kinds
def test_broker_acl_device_cannot_publish_to_another_things_request_topic(
        iot, devices, mosquitto, raw_kind):
    """t1 publishes StartNext and an update on t2's topics: Mosquitto refuses the publish
    (MQTT 5: PUBACK 0x87; 3.1.1: acknowledged and dropped), iotjobs never sees it, and
    t2's execution does not move."""
    make_job(iot, "job-1", ["t2"])
    iot.create_thing(thingName="t1")
    before = snapshot(iot, "t2", "job-1")
    d = devices(raw_kind, "t1")
    for levels, payload in ((("start-next",), b'{"clientToken":"spoof-1"}'),
                            (("job-1", "update"), b'{"status":"SUCCEEDED","clientToken":"s2"}')):
        code = d.publish_raw(jobs_topic("t2", *levels), payload, 1)
        if raw_kind == "mqtt5":
            assert int(code) == NOT_AUTHORIZED, code
    # an honest request of t1 afterwards is answered: so the spoofed ones had their turn
    suffix, body = d.raw_request(jobs_topic("t1", "get"), b'{"clientToken":"own"}',
                                 answer="accepted")
    assert (suffix, body["clientToken"]) == ("accepted", "own")
    assert snapshot(iot, "t2", "job-1") == before
    log = mosquitto.log()
    assert "Denied PUBLISH from t1" in log and "'$aws/things/t2/jobs/start-next'" in log


def test_broker_acl_v2_device_for_another_thing_gets_nothing(iot, devices):
    """The SDK (V2, MQTT 5) of device t1 asking for thing t2: refused by the ACL (a
    subscribe or publish failure, or a timeout), and t2's execution is untouched."""
    make_job(iot, "job-1", ["t2"])
    before = snapshot(iot, "t2", "job-1")
    d = devices("v2-mqtt5", "t1")
    d.thing = "t2"  # the SDK requests name the thing; the connection stays t1's
    with pytest.raises(AssertionError):  # MqttTimeout or the SDK's failure, not an answer
        d.start_next()
    assert snapshot(iot, "t2", "job-1") == before


@raw_kinds
def test_broker_acl_device_cannot_publish_replies_or_notifications(iot, devices, raw_kind):
    """The stricter ACL (devices write only the four request topics): a device publishing
    on its own notify-next or an `…/accepted` topic is refused and nobody receives it,
    while iotjobs' own notifications still arrive."""
    iot.create_thing(thingName="t1")
    d = devices(raw_kind, "t1")
    for t in ("notify-next", "get/accepted"):
        d.subscribe_raw(jobs_topic("t1", *t.split("/")), 1)
    for t in ("notify-next", "get/accepted"):
        code = d.publish_raw(jobs_topic("t1", *t.split("/")), b'{"spoofed":true}', 1)
        if raw_kind == "mqtt5":
            assert int(code) == NOT_AUTHORIZED, code
    make_job(iot, "job-1", ["t1"], create_things=False)
    body = d.raw.json(jobs_topic("t1", "notify-next"))
    assert body["execution"]["jobId"] == "job-1"
    assert all(b"spoofed" not in p for _, p in d.raw.items), d.raw.items


# --- duplicates -----------------------------------------------------------------------------


def test_broker_duplicate_start_next_starts_one_execution_and_repeats_the_reply(iot, devices):
    """The same StartNext (same clientToken, same payload) published twice at once and
    once more after job-1 finished: the same reply three times, and job-2 never starts.
    Without the cache the late duplicate would start job-2."""
    make_job(iot, "job-1", ["t1"])
    make_job(iot, "job-2", ["t1"], create_things=False)
    d = devices("mqtt5", "t1")
    accepted = jobs_topic("t1", "start-next", "accepted")
    d.subscribe_raw(accepted, 1)
    d.subscribe_raw(jobs_topic("t1", "start-next", "rejected"), 1)
    request = b'{"clientToken":"dup-1","statusDetails":{"step":"1"}}'
    d.publish_raw(jobs_topic("t1", "start-next"), request, 1)
    d.publish_raw(jobs_topic("t1", "start-next"), request, 1)
    first, second = wait_answers(d, accepted, "dup-1", 2)
    assert first == second
    assert json.loads(first)["execution"]["jobId"] == "job-1"

    suffix, _ = d.raw_request(jobs_topic("t1", "job-1", "update"),
                              b'{"status":"SUCCEEDED","clientToken":"u1"}', answer="accepted")
    assert suffix == "accepted"
    d.publish_raw(jobs_topic("t1", "start-next"), request, 1)  # a late redelivery
    third = wait_answers(d, accepted, "dup-1", 3)[2]
    assert third == first
    assert execution(iot, "t1", "job-1")["status"] == "SUCCEEDED"
    assert execution(iot, "t1", "job-2")["status"] == "QUEUED"

    # a new token (or none) is a new request: job-2 starts
    mark = len(d.raw)
    d.publish_raw(jobs_topic("t1", "start-next"), b"{}", 1)
    body = d.raw.json(accepted, since=mark)
    assert body["execution"]["jobId"] == "job-2" and "clientToken" not in body
    assert execution(iot, "t1", "job-2")["status"] == "IN_PROGRESS"


def test_broker_same_token_with_another_payload_is_not_a_duplicate(iot, devices):
    """A device that reuses one clientToken for different requests is answered anew."""
    make_job(iot, "job-1", ["t1"])
    d = devices("mqtt3", "t1")
    topic = jobs_topic("t1", "job-1", "update")
    for status in ("IN_PROGRESS", "SUCCEEDED"):
        suffix, body = d.raw_request(
            topic, json.dumps({"status": status, "clientToken": "same",
                               "includeJobExecutionState": True}).encode(),
            answer="accepted")
        assert (suffix, body["executionState"]["status"]) == ("accepted", status)
    assert execution(iot, "t1", "job-1")["status"] == "SUCCEEDED"


# --- iotjobs restarts: the broker keeps its session ---------------------------------------------


def test_broker_request_published_while_iotjobs_is_down_is_answered_after_restart(
        iot, devices, broker_server):
    make_job(iot, "job-1", ["t1"])
    d = devices("mqtt5", "t1")
    d.subscribe_raw(jobs_topic("t1", "start-next", "accepted"), 1)
    broker_server.stop()
    d.publish_raw(jobs_topic("t1", "start-next"), b'{"clientToken":"while-down"}', 1)
    with pytest.raises(MqttTimeout):
        d.raw.for_token(jobs_topic("t1", "start-next", "accepted"), "while-down", timeout=0.5)
    broker_server.start()
    body = d.raw.for_token(jobs_topic("t1", "start-next", "accepted"), "while-down", timeout=10)
    assert body["execution"]["jobId"] == "job-1"
    assert execution(broker_server.client("iot"), "t1", "job-1")["status"] == "IN_PROGRESS"
