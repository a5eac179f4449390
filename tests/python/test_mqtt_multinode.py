"""Devices over MQTT with several nodes on PostgreSQL: a device connected to node B hears
(notify-next) a CancelJobExecution made through node A, also after node B's LISTEN
connection was killed (it reconnects and rechecks its devices). Through an external
broker (Mosquitto), two nodes elect one to serve it; when it is killed, the other takes
over (research note §8 item 11).

Needs the PostgreSQL of the suite (IOTJOBS_TEST_PG_URL, as the Rust tests; scripts/test
sets it); each test uses a schema of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse

import pytest

from conftest import BROKER_PASSWORD, BROKER_USER, MQTT_BROKER_CONNECTED, Server
from iotjobs_helpers import thing_arn
from mqtt_device import Device

PG_URL = os.environ.get("IOTJOBS_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")


def psql(sql: str) -> str:
    p = subprocess.run(["psql", PG_URL, "-tAc", sql], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def fresh_schema() -> tuple[str, str]:
    """A new PostgreSQL schema and the database URL whose search_path is it."""
    schema = f"iotjobs_mqtt_{os.getpid()}_{time.monotonic_ns()}"
    psql(f"CREATE SCHEMA {schema}")
    options = urllib.parse.quote(f"-c search_path={schema}")
    sep = "&" if "?" in PG_URL else "?"
    return schema, f"{PG_URL}{sep}options={options}"


@pytest.fixture
def two_nodes(iotjobs_bin, tmp_path):
    """Node A (HTTP only) and node B (HTTP + MQTT) on one fresh PostgreSQL schema."""
    schema, url = fresh_schema()
    nodes = []
    try:
        for name, args in (("a", ()), ("b", ("--mqtt-listen", "127.0.0.1:0"))):
            workdir = tmp_path / name
            workdir.mkdir()
            srv = Server(iotjobs_bin, workdir, args)
            srv.database_url = url
            srv.start()
            nodes.append(srv)
        yield nodes[0], nodes[1], schema
    finally:
        for srv in nodes:
            srv.stop()
        psql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def listen_pids(schema: str) -> list[str]:
    out = psql(
        "SELECT pid FROM pg_stat_activity "
        f"WHERE query LIKE 'LISTEN %' AND query LIKE '%{schema}%'"
    )
    return [line for line in out.splitlines() if line]


def wait_for(predicate, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_mqtt_notify_next_crosses_nodes_and_survives_a_lost_listen_connection(two_nodes):
    node_a, node_b, schema = two_nodes
    iot_a = node_a.client("iot")
    iot_a.create_thing(thingName="dev1")
    wait_for(lambda: len(listen_pids(schema)) == 1, "node B's LISTEN connection")
    with Device("v2-mqtt5", node_b.mqtt_port, "dev1") as device:
        nn = device.subscribe_notify_next()
        doc = json.dumps({"operation": "reboot"})
        iot_a.create_job(jobId="job-1", targets=[thing_arn("dev1")], document=doc)
        ev = nn.next(timeout=5)
        assert (ev.execution.job_id, ev.execution.status) == ("job-1", "QUEUED")

        # A cancel through node A reaches the device on node B within 1 s.
        started = time.monotonic()
        iot_a.cancel_job_execution(jobId="job-1", thingName="dev1")
        ev = nn.next(timeout=5)
        assert ev.execution is None
        assert time.monotonic() - started < 1.0, "notify-next took over 1 s across nodes"

        # Kill node B's LISTEN connection, change things through A meanwhile: B
        # reconnects, rechecks its devices and the device still hears of job-2.
        iot_a.create_job(jobId="job-2", targets=[thing_arn("dev1")], document=doc)
        ev = nn.next(timeout=5)
        assert ev.execution.job_id == "job-2"
        (pid,) = listen_pids(schema)
        psql(f"SELECT pg_terminate_backend({pid})")
        iot_a.cancel_job_execution(jobId="job-2", thingName="dev1")
        ev = nn.next(timeout=10)
        assert ev.execution is None
        wait_for(lambda: listen_pids(schema) not in ([], [pid]), "a new LISTEN connection")


@pytest.fixture
def two_broker_nodes(iotjobs_bin, tmp_path, mosquitto):
    """Nodes A and B, both `--mqtt-broker` on one private Mosquitto, on one fresh schema.
    A starts first and leads; B stands by (its `start` does not wait for the broker)."""
    schema, url = fresh_schema()
    nodes = []
    try:
        for name in ("a", "b"):
            workdir = tmp_path / name
            workdir.mkdir()
            srv = Server(iotjobs_bin, workdir,
                         ("--mqtt-broker", mosquitto.url, "--mqtt-broker-username", BROKER_USER),
                         extra_env={"IOTJOBS_MQTT_BROKER_PASSWORD": BROKER_PASSWORD})
            srv.database_url = url
            srv.await_broker = name == "a"
            srv.start()
            nodes.append(srv)
        yield nodes[0], nodes[1]
    finally:
        for srv in nodes:
            srv.stop()
        psql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def answers(device, token: str) -> int:
    return sum(1 for t, p in device.raw.items
               if t.endswith("/get/accepted") and json.loads(p).get("clientToken") == token)


def test_mqtt_broker_two_nodes_one_serves_and_the_other_takes_over_when_it_dies(
        two_broker_nodes, mosquitto):
    node_a, node_b = two_broker_nodes
    iot_b = node_b.client("iot")
    iot_b.create_thing(thingName="dev1")
    doc = json.dumps({"operation": "reboot"})
    iot_b.create_job(jobId="job-1", targets=[thing_arn("dev1")], document=doc)
    with Device("mqtt3", mosquitto.port, "dev1") as device:
        assert device.subscribe_raw("$aws/things/dev1/jobs/get/accepted", 1) == 1
        assert device.subscribe_raw("$aws/things/dev1/jobs/notify-next", 1) == 1
        # One node answers (two consumers would answer twice).
        device.publish_raw("$aws/things/dev1/jobs/get", b'{"clientToken":"one"}', 1)
        device.raw.for_token("$aws/things/dev1/jobs/get/accepted", "one")
        time.sleep(0.5)
        assert answers(device, "one") == 1
        assert not node_b.wait_for_stdout(MQTT_BROKER_CONNECTED, 0.1), "B connected too"

        # Kill the leader like a crash: B takes over within its retry period.
        node_a.proc.kill()
        node_a.proc.wait()
        started = time.monotonic()
        assert node_b.wait_for_stdout(MQTT_BROKER_CONNECTED, 15), node_b.log()
        print(f"takeover after {time.monotonic() - started:.2f} s")
        device.publish_raw("$aws/things/dev1/jobs/get", b'{"clientToken":"two"}', 1)
        got = device.raw.for_token("$aws/things/dev1/jobs/get/accepted", "two", timeout=10)
        assert [j["jobId"] for j in got["queuedJobs"]] == ["job-1"]
        # ... and notifies for changes made through it.
        mark = len(device.raw.items)
        iot_b.cancel_job_execution(jobId="job-1", thingName="dev1")
        device.raw.json("$aws/things/dev1/jobs/notify-next", since=mark)
