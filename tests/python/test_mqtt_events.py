"""Jobs events over MQTT (issue 11, research note §2.7 and §8 item 10): with
`serve --mqtt-events`, the server publishes `$aws/events/job/{jobId}/{operation}` and
`$aws/events/jobExecution/{jobId}/{operation}` after each committed change, as AWS IoT
does once jobs events are enabled. Only operator and admin identities may subscribe:
on the embedded endpoint an operator connects with an access key id as MQTT user name and
its secret as password; devices (no password) are refused `$aws/events/...`.

Through an external broker (`--mqtt-broker`), iotjobs publishes the same events there and
the broker's ACL decides who reads them (docs/mqtt-broker.md).

Changes are made with boto3 (control plane) and the AWS IoT Device SDK v2 (device side);
event payloads are read raw off the wire.
"""

from __future__ import annotations

import json
import time

import pytest

from conftest import BROKER_OPERATOR, BROKER_OPERATOR_PASSWORD, BROKER_PASSWORD, BROKER_USER
from iotjobs_helpers import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, make_job, thing_arn
from mqtt_device import RAW_KINDS, Device, Devices, MqttTimeout, SubscribeRefused

raw_kinds = pytest.mark.parametrize("raw_kind", RAW_KINDS)

EVENTS_ARGS = ("--mqtt-listen", "127.0.0.1:0", "--mqtt-events", "--sweep-interval-ms", "100")


@pytest.fixture
def events_server(launch_server, tmp_path):
    srv = launch_server(tmp_path, *EVENTS_ARGS)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def iot(events_server):
    return events_server.client("iot")


@pytest.fixture
def devices(events_server):
    opened = Devices(lambda: events_server.mqtt_port)
    try:
        yield opened
    finally:
        opened.close_all()


def operator(devices, raw_kind, name="ops-console", *, key=ACCESS_KEY, secret=SECRET_KEY):
    """A raw connection that authenticates as an operator (access key as user name)."""
    return devices(raw_kind, name, username=key, password=secret)


def events_on(d, topic_prefix, n, timeout=5.0) -> list[tuple[str, dict]]:
    """The first n messages whose topic starts with topic_prefix, as (topic, payload)."""
    deadline = time.monotonic() + timeout
    while True:
        got = [(t, json.loads(p)) for t, p in d.raw.items if t.startswith(topic_prefix)]
        if len(got) >= n:
            return got[:n]
        if time.monotonic() > deadline:
            raise MqttTimeout(f"{n} events on {topic_prefix}: got {got!r}")
        time.sleep(0.02)


def assert_event_envelope(payload, event_type, operation):
    assert payload["eventType"] == event_type
    assert payload["operation"] == operation
    assert isinstance(payload["timestamp"], int) and abs(payload["timestamp"] - time.time()) < 60
    assert len(payload["eventId"]) == 36  # a UUID
    return payload


@raw_kinds
def test_events_operator_hears_a_canceled_job_execution_with_its_thing_arn(iot, devices,
                                                                            raw_kind):
    """§8 item 10: an operator subscribed to `$aws/events/jobExecution/+/canceled` gets a
    JOB_EXECUTION event with `thingArn` after a cancel."""
    make_job(iot, "job-1", ["t1", "t2"])
    ops = operator(devices, raw_kind)
    assert ops.subscribe_raw("$aws/events/jobExecution/+/canceled", 1) == 1
    iot.cancel_job_execution(jobId="job-1", thingName="t1")
    [(topic, payload)] = events_on(ops, "$aws/events/", 1)
    assert topic == "$aws/events/jobExecution/job-1/canceled"
    assert_event_envelope(payload, "JOB_EXECUTION", "canceled")
    assert payload["jobId"] == "job-1"
    assert payload["thingArn"] == thing_arn("t1")
    assert payload["status"] == "CANCELED"
    # nothing else: t2 was not touched, and only `canceled` was subscribed
    time.sleep(0.3)
    assert [t for t, _ in ops.raw.items] == [topic]


def test_events_a_device_run_to_success_completes_the_job(iot, devices):
    """A device (the SDK's V2 jobs client) runs the only execution to SUCCEEDED: a
    `succeeded` execution event with its status details, then the job's `completed` event
    with its counters, in commit order."""
    make_job(iot, "job-1", ["t1"], description="firmware 2.1")
    ops = operator(devices, "mqtt5")
    assert ops.subscribe_raw("$aws/events/#", 1) == 1
    d = devices("v2-mqtt5", "t1")
    d.start_next()
    d.update("job-1", "SUCCEEDED", status_details={"progress": "done"})
    (t1, e1), (t2, e2) = events_on(ops, "$aws/events/", 2)
    assert t1 == "$aws/events/jobExecution/job-1/succeeded"
    assert_event_envelope(e1, "JOB_EXECUTION", "succeeded")
    assert (e1["status"], e1["statusDetails"]) == ("SUCCEEDED", {"progress": "done"})
    assert t2 == "$aws/events/job/job-1/completed"
    assert_event_envelope(e2, "JOB", "completed")
    assert e2["status"] == "COMPLETED"
    assert e2["jobId"] == "job-1"
    assert e2["targetSelection"] == "SNAPSHOT"
    assert e2["targets"] == [thing_arn("t1")]
    assert e2["description"] == "firmware 2.1"
    assert e2["jobProcessDetails"]["numberOfSucceededThings"] == 1
    assert e2["jobProcessDetails"]["numberOfQueuedThings"] == 0
    described = iot.describe_job(jobId="job-1")["job"]
    # the job's own times in milliseconds, as in AWS's examples of this payload
    assert e2["createdAt"] == int(described["createdAt"].timestamp() * 1000)
    assert e2["completedAt"] == int(described["completedAt"].timestamp() * 1000)


def test_events_cancel_job_then_delete_job(iot, devices):
    """CancelJob: the job's `canceled` event and one `canceled` per execution it canceled;
    DeleteJob: `deletion_in_progress`, then `deleted` once the sweep removed it."""
    make_job(iot, "job-1", ["t1", "t2"])
    ops = operator(devices, "mqtt3")
    assert ops.subscribe_raw("$aws/events/job/job-1/#", 1) == 1
    assert ops.subscribe_raw("$aws/events/jobExecution/job-1/#", 1) == 1
    iot.cancel_job(jobId="job-1", reasonCode="BAD_FIRMWARE", comment="stop")
    got = events_on(ops, "$aws/events/", 3)
    assert got[0][0] == "$aws/events/job/job-1/canceled"
    assert_event_envelope(got[0][1], "JOB", "canceled")
    assert got[0][1]["status"] == "CANCELED"
    assert sorted((t, e["thingArn"]) for t, e in got[1:]) == [
        ("$aws/events/jobExecution/job-1/canceled", thing_arn("t1")),
        ("$aws/events/jobExecution/job-1/canceled", thing_arn("t2")),
    ]
    iot.delete_job(jobId="job-1")
    got = events_on(ops, "$aws/events/job/job-1/d", 2)
    assert [t for t, _ in got] == ["$aws/events/job/job-1/deletion_in_progress",
                                   "$aws/events/job/job-1/deleted"]
    assert got[0][1]["status"] == "DELETION_IN_PROGRESS"
    assert got[0][1]["comment"] == "stop"
    assert got[1][1]["status"] == "DELETED"


@raw_kinds
def test_events_devices_may_not_subscribe_to_events(iot, devices, raw_kind):
    """A device (no password: identified by its client id) is refused `$aws/events/...`."""
    iot.create_thing(thingName="t1")
    d = devices(raw_kind, "t1")
    for topic in ("$aws/events/jobExecution/+/canceled", "$aws/events/#"):
        with pytest.raises(SubscribeRefused):
            d.subscribe_raw(topic, 1)


@raw_kinds
def test_events_operators_may_not_subscribe_to_device_topics_or_publish(iot, devices,
                                                                          raw_kind):
    make_job(iot, "job-1", ["t1"])
    ops = operator(devices, raw_kind)
    with pytest.raises(SubscribeRefused):
        ops.subscribe_raw("$aws/things/t1/jobs/notify-next", 1)
    # a forged request as an operator is refused, never run
    try:
        ops.publish_raw("$aws/things/t1/jobs/start-next", b"{}", 1)
    except Exception:
        pass  # MQTT 3.1.1: the server closes the connection
    time.sleep(0.3)
    assert iot.describe_job_execution(jobId="job-1", thingName="t1")["execution"][
        "status"] == "QUEUED"


@raw_kinds
def test_events_wrong_operator_secret_is_refused_at_connect(events_server, raw_kind):
    d = Device(raw_kind, events_server.mqtt_port, "ops-console", username=ACCESS_KEY,
               password="not-the-secret")
    try:
        with pytest.raises(Exception):
            d.connect()
    finally:
        d.close()


def test_events_off_by_default(mqtt_server):
    """Without --mqtt-events an operator may subscribe, and nothing is published."""
    iot = mqtt_server.client("iot")
    opened = Devices(lambda: mqtt_server.mqtt_port)
    try:
        make_job(iot, "job-1", ["t1"])
        ops = opened("mqtt3", "ops-console", username=ACCESS_KEY, password=SECRET_KEY)
        assert ops.subscribe_raw("$aws/events/#", 1) == 1
        d = opened("mqtt3", "t1")
        assert d.subscribe_raw("$aws/things/t1/jobs/notify-next", 1) == 1
        iot.cancel_job_execution(jobId="job-1", thingName="t1")
        # the device hears of the cancel; the operator, after the same commit, hears nothing
        d.raw.json("$aws/things/t1/jobs/notify-next")
        time.sleep(0.5)
        assert ops.raw.items == []
    finally:
        opened.close_all()


# --- roles: only operator and admin keys of the served account ---------------------------


def test_events_only_operator_and_admin_keys_of_the_account(server_factory, tmp_path):
    from test_security import ACCT1, ADMIN1, DEV_A, KEYS, OP1, OP2, credentials_toml

    path = tmp_path / "credentials.toml"
    path.write_text(credentials_toml(KEYS))
    srv = server_factory("--credentials", str(path), "--account-id", ACCT1, *EVENTS_ARGS)
    opened = Devices(lambda: srv.mqtt_port)
    try:
        for key in (OP1, ADMIN1):
            ops = opened("mqtt3", f"ops-{key.access_key_id}", username=key.access_key_id,
                         password=key.secret_access_key)
            assert ops.subscribe_raw("$aws/events/#", 1) == 1
        # a device key, and an operator of another account, cannot connect as operators
        for key in (DEV_A, OP2):
            with pytest.raises(Exception):
                opened("mqtt3", f"ops-{key.access_key_id}", username=key.access_key_id,
                       password=key.secret_access_key)
    finally:
        opened.close_all()


# --- through an external broker ----------------------------------------------------------


def test_events_published_to_the_broker_for_its_acl_to_deliver(mosquitto, launch_server,
                                                               tmp_path):
    srv = launch_server(
        tmp_path / "iotjobs",
        "--mqtt-broker", mosquitto.url,
        "--mqtt-broker-username", BROKER_USER,
        "--mqtt-events",
        env={"IOTJOBS_MQTT_BROKER_PASSWORD": BROKER_PASSWORD},
    )
    opened = Devices(lambda: mosquitto.service_port)
    try:
        iot = srv.client("iot")
        make_job(iot, "job-1", ["t1"])
        ops = opened("mqtt3", "ops-console", username=BROKER_OPERATOR,
                     password=BROKER_OPERATOR_PASSWORD, metrics=False)
        assert ops.subscribe_raw("$aws/events/jobExecution/+/canceled", 1) == 1
        iot.cancel_job_execution(jobId="job-1", thingName="t1")
        [(topic, payload)] = events_on(ops, "$aws/events/", 1)
        assert topic == "$aws/events/jobExecution/job-1/canceled"
        assert payload["thingArn"] == f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/t1"
        # a device on the devices' listener may not read events (the ACL of the docs)
        devs = Devices(lambda: mosquitto.port)
        try:
            d = devs("mqtt3", "t1")
            try:
                granted = d.subscribe_raw("$aws/events/#", 1)
            except SubscribeRefused:
                granted = None
            iot.create_job(jobId="job-2", targets=[thing_arn("t1")], document="{}")
            iot.cancel_job_execution(jobId="job-2", thingName="t1")
            events_on(ops, "$aws/events/", 2)  # the operator got job-2's event
            assert granted is None or not [t for t, _ in d.raw.items
                                           if t.startswith("$aws/events/")]
        finally:
            devs.close_all()
    finally:
        opened.close_all()
        srv.stop()
