"""Rollouts, retries and schedules with several nodes on one PostgreSQL schema (issue 13):
each node has its own test clock (`serve --test-clock`) and its own background sweep;
a rollout step is taken once (`FOR UPDATE SKIP LOCKED` on the job row) by whichever
node's clock reaches it first, a node that is killed leaves the rest of the rollout to
the others, and a new execution made by one node (a rollout step, a retry) reaches a
device connected to another (PostgreSQL LISTEN/NOTIFY → notify-next).

"Time" for the cluster: both clocks are set to the same epochSeconds (each node's clock
starts at the real time of its start, so they are first aligned on the later one).

Needs the PostgreSQL of the suite (IOTJOBS_TEST_PG_URL); each test uses a schema of its
own (`fresh_schema` of test_mqtt_multinode).
"""

from __future__ import annotations

import json
import time

import pytest

from conftest import Server
from iotjobs_helpers import DOC, make_job
from mqtt_device import DeserializationFailure, Device
from test_mqtt_multinode import fresh_schema, listen_pids, psql, wait_for


# --- the cluster ------------------------------------------------------------------------


@pytest.fixture
def cluster(iotjobs_bin, tmp_path):
    """cluster(mqtt=False) -> (node A, node B, schema): two `--test-clock` nodes on one
    fresh schema; with mqtt=True node B also serves devices (`--mqtt-listen`)."""
    made: list[Server] = []
    schemas: list[str] = []

    def make(mqtt: bool = False):
        schema, url = fresh_schema()
        schemas.append(schema)
        nodes = []
        for name, args in (("a", ("--test-clock",)),
                           ("b", ("--test-clock",) + (("--mqtt-listen", "127.0.0.1:0") if mqtt else ()))):
            workdir = tmp_path / name
            workdir.mkdir()
            srv = Server(iotjobs_bin, workdir, args)
            srv.database_url = url
            srv.start()
            made.append(srv)
            nodes.append(srv)
        print(f"schema {schema}; node A {nodes[0].endpoint} log {nodes[0].log_path}; "
              f"node B {nodes[1].endpoint} log {nodes[1].log_path}")
        return nodes[0], nodes[1], schema

    try:
        yield make
    finally:
        for srv in made:
            srv.stop()
        for schema in schemas:
            psql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def clock(node: Server, **body) -> float:
    """POST /iotjobs-api/clock: answers (after everything due was applied) the new time."""
    status, _, data = node.raw("POST", "/iotjobs-api/clock", body=body)
    assert status == 200, f"clock {body} on {node.endpoint}: {status} {data!r}"
    return json.loads(data)["epochSeconds"]


def now(node: Server) -> float:
    return clock(node, advanceSeconds=0)


def align(*nodes: Server) -> int:
    """Set every node's clock to the same whole second (the latest of them, rounded up);
    returns it."""
    t = int(max(now(n) for n in nodes)) + 1
    for n in nodes:
        assert clock(n, epochSeconds=t) == t
    return t


def logs(*nodes: Server) -> str:
    return "\n".join(f"--- node {i} log ({n.log_path}) ---\n{n.log()}"
                     for i, n in enumerate(nodes))


def process(node: Server, job_id: str) -> tuple[str, dict]:
    j = node.client("iot").describe_job(jobId=job_id)["job"]
    return j["status"], j["jobProcessDetails"]


def executions_for_job(node: Server, job_id: str, page_size: int = 7) -> list[dict]:
    """Every ListJobExecutionsForJob summary, page by page (nextToken) with a small
    page, as {thing, executionNumber, status, retryAttempt}."""
    iot = node.client("iot")
    out, token = [], None
    for _ in range(1000):
        kw = {"nextToken": token} if token else {}
        page = iot.list_job_executions_for_job(jobId=job_id, maxResults=page_size, **kw)
        for s in page.get("executionSummaries", []):
            e = s["jobExecutionSummary"]
            out.append({"thing": s["thingArn"].rsplit("/", 1)[1],
                        "executionNumber": e["executionNumber"],
                        "status": e["status"],
                        "retryAttempt": e.get("retryAttempt")})
        token = page.get("nextToken")
        if not token:
            return out
    raise AssertionError("ListJobExecutionsForJob never ended")


def assert_no_duplicates(execs: list[dict]) -> None:
    things = [e["thing"] for e in execs]
    dup = sorted({t for t in things if things.count(t) > 1})
    assert not dup, f"things with more than one execution: {dup}: {execs}"


def queued_settles(node: Server, job_id: str, want: int, *, others=(), timeout: float = 3.0):
    """numberOfQueuedThings must be `want`; never above it. The clock answered after its
    own sweep, but the other node's periodic sweep may hold the job row (SKIP LOCKED), so
    a step made there is waited for briefly; more than `want` fails at once."""
    deadline = time.monotonic() + timeout
    while True:
        _, p = process(node, job_id)
        got = p["numberOfQueuedThings"]
        assert got <= want, (f"{job_id}: {got} queued executions, at most {want} expected "
                             f"(a rollout step taken twice?): {p}\n{logs(node, *others)}")
        if got == want:
            return p
        if time.monotonic() > deadline:
            raise AssertionError(f"{job_id}: {got} queued executions, {want} expected: {p}\n"
                                 f"{logs(node, *others)}")
        time.sleep(0.05)


def next_event_for(log, job_id: str, *, since: int, status: str | None = None,
                   timeout: float = 5.0):
    """The first notify-next event at index >= since naming `job_id` (with `status`)."""

    def match(ev):
        if isinstance(ev, DeserializationFailure) or ev.execution is None:
            return False
        return ev.execution.job_id == job_id and (status is None or ev.execution.status == status)

    return log.wait_for(match, since=since, timeout=timeout,
                        what=f"notify-next naming {job_id} ({status or 'any status'})")


def events_naming(log, job_id: str) -> list:
    return [ev for ev in log.items
            if not isinstance(ev, DeserializationFailure)
            and ev.execution is not None and ev.execution.job_id == job_id]


# --- 1. one rollout, two sweeps, each step once ----------------------------------------


def test_a_rollout_across_two_nodes_takes_each_minute_step_once(cluster):
    node_a, node_b, _ = cluster()
    things = [f"t{i:02d}" for i in range(30)]
    t0 = align(node_a, node_b)
    make_job(node_a.client("iot"), "roll", things,
             jobExecutionsRolloutConfig={"maximumPerMinute": 5})
    queued_settles(node_a, "roll", 5, others=(node_b,))
    assert_no_duplicates(executions_for_job(node_b, "roll"))

    for minute in range(1, 7):
        want = min(5 * (minute + 1), 30)
        first, second = (node_a, node_b) if minute % 2 else (node_b, node_a)
        t = t0 + 60 * minute
        assert clock(first, epochSeconds=t) == t
        queued_settles(second, "roll", want, others=(first,))
        assert clock(second, epochSeconds=t) == t
        # The second node's clock reached the same minute: nothing more for it to do.
        describe_on = node_a if minute % 3 else node_b
        p = queued_settles(describe_on, "roll", want, others=(node_a, node_b))
        execs = executions_for_job(node_a if minute % 2 else node_b, "roll")
        assert_no_duplicates(execs)
        assert len(execs) == want, execs
        assert {e["executionNumber"] for e in execs} == {1}
        assert {e["status"] for e in execs} == {"QUEUED"}
        # the rollout goes in target order
        assert sorted(e["thing"] for e in execs) == things[:want]
        assert p["numberOfQueuedThings"] == want

    status, p = process(node_b, "roll")
    assert p["numberOfQueuedThings"] == 30
    assert status == "IN_PROGRESS"  # every execution still queued
    # A later minute on both nodes makes nothing more.
    for n in (node_b, node_a):
        clock(n, epochSeconds=t0 + 60 * 8)
    queued_settles(node_a, "roll", 30, others=(node_b,))
    assert len(executions_for_job(node_a, "roll")) == 30


# --- 2. a rollout step made by node A reaches a device on node B ----------------------


def test_a_rollout_step_on_node_a_notifies_a_device_connected_to_node_b(cluster):
    node_a, node_b, schema = cluster(mqtt=True)
    iot_a = node_a.client("iot")
    things = [f"t{i}" for i in range(6)]
    for t in things:
        iot_a.create_thing(thingName=t)
    wait_for(lambda: len(listen_pids(schema)) == 1, "node B's LISTEN connection")
    t0 = align(node_a, node_b)
    with Device("v2-mqtt5", node_b.mqtt_port, "t3") as device:
        nn = device.subscribe_notify_next()
        make_job(iot_a, "step", things, create_things=False,
                 jobExecutionsRolloutConfig={"maximumPerMinute": 2})
        queued_settles(node_a, "step", 2, others=(node_b,))
        assert [e["thing"] for e in executions_for_job(node_a, "step")] == ["t0", "t1"]
        # t3 is not reached in minute 0: its device hears nothing of the job.
        time.sleep(0.7)
        assert events_naming(nn, "step") == [], nn.items
        mark = len(nn)

        # Minute 1 on node A only (node B's clock stays): t2 and t3 get their execution,
        # made by A's sweep; B hears of it through PostgreSQL and tells the device.
        clock(node_a, advanceSeconds=60)
        ev = next_event_for(nn, "step", since=mark, status="QUEUED")
        assert ev.execution.thing_name == "t3"
        assert ev.execution.job_document == DOC
        assert ev.execution.execution_number == 1
        queued_settles(node_b, "step", 4, others=(node_a,))
        assert sorted(e["thing"] for e in executions_for_job(node_b, "step")) == things[:4]
        assert len(events_naming(nn, "step")) == 1, nn.items
        assert now(node_b) == t0, "node B's clock was not moved: the step was node A's"


# --- 3. a retry made by node A reaches a device on node B -----------------------------


def test_a_retry_on_node_a_notifies_the_device_on_node_b_again(cluster):
    node_a, node_b, schema = cluster(mqtt=True)
    iot_a = node_a.client("iot")
    data_a = node_a.client("iot-jobs-data")
    iot_a.create_thing(thingName="r0")
    wait_for(lambda: len(listen_pids(schema)) == 1, "node B's LISTEN connection")
    with Device("v2-mqtt5", node_b.mqtt_port, "r0") as device:
        nn = device.subscribe_notify_next()
        make_job(iot_a, "retry", ["r0"], create_things=False,
                 jobExecutionsRetryConfig={"criteriaList": [
                     {"failureType": "FAILED", "numberOfRetries": 1}]})
        ev = next_event_for(nn, "retry", since=0, status="QUEUED")
        assert ev.execution.execution_number == 1

        # The device starts it over MQTT (node B) ...
        started = device.start_next()
        assert started.execution.job_id == "retry"
        assert started.execution.status == "IN_PROGRESS"
        mark, raw_mark = len(nn), len(device.raw)
        # ... and reports the failure through node A's data plane: node A queues the
        # execution again (same executionNumber, retryAttempt 1).
        data_a.update_job_execution(thingName="r0", jobId="retry", status="FAILED")
        (s,) = executions_for_job(node_b, "retry")
        assert (s["thing"], s["executionNumber"], s["status"], s["retryAttempt"]) == (
            "r0", 1, "QUEUED", 1), s
        e = node_b.client("iot").describe_job_execution(jobId="retry", thingName="r0")["execution"]
        assert e["status"] == "QUEUED"

        # The retry is a change of the thing's pending list: the device on node B is told
        # (through PostgreSQL) that the job is next again, QUEUED.
        try:
            ev = next_event_for(nn, "retry", since=mark, status="QUEUED")
        except AssertionError as e:
            raise AssertionError(
                f"{e}\nthe device received after its FAILED (raw publishes): "
                f"{device.raw.items[raw_mark:]!r}\n{logs(node_a, node_b)}") from None
        assert ev.execution.execution_number == 1
        assert ev.execution.thing_name == "r0"
        # The device sees the same job pending again.
        pending = device.get_pending()
        assert [j.job_id for j in pending.queued_jobs or []] == ["retry"]
        assert not pending.in_progress_jobs

        # The second failure is final: no more retries, the device hears the list empty.
        device.start_next()
        mark = len(nn)
        device.update("retry", "FAILED")
        nn.wait_for(lambda ev: not isinstance(ev, DeserializationFailure) and ev.execution is None,
                    since=mark, what="notify-next without an execution")
        (s,) = executions_for_job(node_a, "retry")
        assert (s["status"], s["retryAttempt"]) == ("FAILED", 1), s
        assert process(node_a, "retry")[0] == "COMPLETED"


# --- 4. a schedule started by the node whose clock reaches it -------------------------


def test_a_scheduled_job_starts_on_the_node_whose_clock_passes_its_start(cluster):
    node_a, node_b, _ = cluster()
    iot_a = node_a.client("iot")
    t0 = align(node_a, node_b)
    start = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(t0 + 40 * 60))
    things = ["s0", "s1", "s2"]
    make_job(iot_a, "sched", things, schedulingConfig={"startTime": start})
    status, p = process(node_a, "sched")
    assert status == "SCHEDULED"
    assert p["numberOfQueuedThings"] == 0
    assert executions_for_job(node_a, "sched") == []

    # Only node B's clock passes the start: B's sweep starts the job.
    clock(node_b, epochSeconds=t0 + 45 * 60)
    status, p = process(node_a, "sched")
    assert status == "IN_PROGRESS", logs(node_a, node_b)
    assert p["numberOfQueuedThings"] == 3, p
    execs = executions_for_job(node_a, "sched")
    assert sorted(e["thing"] for e in execs) == things
    assert_no_duplicates(execs)
    before = node_a.client("iot").describe_job(jobId="sched")["job"]

    # Node A's clock passing the start afterwards changes nothing.
    clock(node_a, epochSeconds=t0 + 45 * 60)
    clock(node_a, advanceSeconds=10 * 60)
    after = node_a.client("iot").describe_job(jobId="sched")["job"]
    assert after["status"] == "IN_PROGRESS"
    assert after["jobProcessDetails"] == before["jobProcessDetails"]
    assert after["lastUpdatedAt"] == before["lastUpdatedAt"]
    execs = executions_for_job(node_b, "sched")
    assert len(execs) == 3 and {e["executionNumber"] for e in execs} == {1}
    assert_no_duplicates(execs)


# --- 5. a node that dies mid-rollout: another finishes it -----------------------------


def test_a_rollout_left_by_a_killed_node_is_finished_by_the_other(cluster):
    node_a, node_b, _ = cluster()
    things = [f"k{i:02d}" for i in range(12)]
    t0 = align(node_a, node_b)
    make_job(node_a.client("iot"), "crash", things,
             jobExecutionsRolloutConfig={"maximumPerMinute": 3})
    queued_settles(node_a, "crash", 3, others=(node_b,))
    clock(node_a, epochSeconds=t0 + 60)
    queued_settles(node_a, "crash", 6, others=(node_b,))

    # Node A dies like a crash (SIGKILL): no shutdown of any kind.
    node_a.proc.kill()
    node_a.proc.wait()

    # Node B's clock goes through the remaining minutes.
    clock(node_b, epochSeconds=t0 + 60)
    queued_settles(node_b, "crash", 6, others=(node_a,))
    for minute, want in ((2, 9), (3, 12)):
        clock(node_b, epochSeconds=t0 + 60 * minute)
        queued_settles(node_b, "crash", want, others=(node_a,))
    clock(node_b, epochSeconds=t0 + 60 * 10)
    status, p = process(node_b, "crash")
    assert p["numberOfQueuedThings"] == 12, p
    assert status == "IN_PROGRESS"
    execs = executions_for_job(node_b, "crash")
    assert_no_duplicates(execs)
    assert sorted(e["thing"] for e in execs) == things
    assert {e["executionNumber"] for e in execs} == {1}
