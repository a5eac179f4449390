"""Safe rollouts (issue 13), end to end with the test clock: the rollout rate
(`jobExecutionsRolloutConfig`, constant and exponential), the abort criteria
(`abortConfig`), retries (`jobExecutionsRetryConfig`) and scheduling (`schedulingConfig`:
start and end times, end behaviours, maintenance windows), plus CreateJob's and
UpdateJob's validation of all four configs.

Every test runs its own `serve --test-clock`: the clock starts at the real time and
moves only through `POST /iotjobs-api/clock`, which stops at every rollout minute,
schedule boundary and timeout on the way before it answers.

Every test runs twice (the `server` fixture of this module): `sqlite`, one node on
SQLite; `pg2`, two nodes A and B on one fresh PostgreSQL schema (IOTJOBS_TEST_PG_URL, as
test_rollouts_multinode), where successive calls go to A and B in turn and the clock of
both nodes moves to the same time (`Cluster`). The validation tables share one cluster
on `pg2`, wiped before each case (`shares_a_cluster`).

A target that the rollout has not reached has no execution: not in the lists, not in
the thing's pending list (data plane), not in DescribeJob's counters.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest

from conftest import Server
from iotjobs_helpers import (
    all_pages,
    counters,
    exact_counters,
    job,
    make_job,
    raises_aws,
    thing_arn,
)
from test_mqtt_multinode import fresh_schema, psql

MINUTE = 60
HOUR = 3600
DAY = 86400
CLOCK_PATH = "/iotjobs-api/clock"


# ---------------------------------------------------------------------------
# The server: one SQLite node, or two PostgreSQL nodes in turn
# ---------------------------------------------------------------------------


class _Alternating:
    """A boto3 client of the cluster: every call (an operation, `get_paginator`, ...)
    goes to the next node's real client, A, B, A, ... (one turn shared by all the
    cluster's clients). Other attributes (`exceptions`, `meta`) are node A's."""

    def __init__(self, cluster: "Cluster", clients: list):
        self._cluster = cluster
        self._clients = clients

    def __getattr__(self, name):
        attr = getattr(self._clients[0], name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            return getattr(self._clients[self._cluster.next_index()], name)(*args, **kwargs)

        call.__name__ = name
        return call


class Cluster:
    """Nodes A and B (`serve --test-clock`) on one PostgreSQL schema, with the interface
    the tests use of a `Server`: `client` (calls alternate between the nodes), `raw`
    (alternates; the clock path moves both clocks) and `restart` (both nodes)."""

    def __init__(self, nodes: list[Server], schema: str):
        self.nodes = nodes
        self.schema = schema
        self._turn = itertools.count()
        self._clock_turn = itertools.count()

    def next_index(self) -> int:
        return next(self._turn) % len(self.nodes)

    @property
    def endpoint(self) -> str:
        return self.nodes[self.next_index()].endpoint

    def client(self, service: str, **kwargs):
        return _Alternating(self, [n.client(service, **kwargs) for n in self.nodes])

    def raw(self, method: str, path: str, service: str = "iot", body=None, headers=None):
        if method == "POST" and path == CLOCK_PATH:
            t = self.move_clocks(body or {})
            return 200, {}, json.dumps({"epochSeconds": t}).encode()
        return self.nodes[self.next_index()].raw(method, path, service, body, headers)

    def move_clocks(self, body: dict) -> float:
        """Move one node's clock as `body` asks, then the other's to the same
        epochSeconds (which node goes first alternates); the common time. The first
        node's clock request applies everything due on the way (each rollout minute at
        its time); the second's finds nothing left. Meanwhile the second node's own
        sweep, still at the old time, locks no job that is due at the new one."""
        k = next(self._clock_turn) % len(self.nodes)
        first, *others = self.nodes[k:] + self.nodes[:k]
        t = _node_clock(first, body)
        for n in others:
            got = _node_clock(n, {"epochSeconds": t})
            assert got == t, f"clock of {n.endpoint}: {got}, {t} expected\n{self.logs()}"
        return t

    def align(self) -> float:
        """Both clocks at the later of them (each starts at the real time of its start,
        and never goes back)."""
        t = max(_node_clock(n, {"advanceSeconds": 0}) for n in self.nodes)
        for n in self.nodes:
            assert _node_clock(n, {"epochSeconds": t}) == t
        return t

    def restart(self):
        """Stop both nodes, start both again on the schema, align their clocks."""
        codes = [n.stop() for n in self.nodes]
        for n in self.nodes:
            n.start()
        self.align()
        print(self.describe())
        return codes[0]

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()

    def describe(self) -> str:
        return f"schema {self.schema}; " + "; ".join(
            f"node {name} {n.endpoint} log {n.log_path}" for name, n in zip("AB", self.nodes))

    def logs(self) -> str:
        return "\n".join(f"--- node {name} log ({n.log_path}) ---\n{n.log()}"
                         for name, n in zip("AB", self.nodes))


def _node_clock(node: Server, body: dict) -> float:
    status, _, data = node.raw("POST", CLOCK_PATH, body=body)
    assert status == 200, f"clock {body} on {node.endpoint}: {status} {data!r}"
    return json.loads(data)["epochSeconds"]


def start_cluster(iotjobs_bin, workdir, *extra_args: str) -> Cluster:
    """Nodes A and B (`serve --test-clock`) on a fresh schema, clocks aligned. On a
    failure to start, what was started is stopped and the schema dropped."""
    schema, url = fresh_schema()
    nodes: list[Server] = []
    try:
        for name in ("a", "b"):
            node_dir = workdir / name
            node_dir.mkdir(parents=True)
            srv = Server(iotjobs_bin, node_dir, ("--test-clock", *extra_args))
            srv.database_url = url
            srv.start()
            nodes.append(srv)
        cluster = Cluster(nodes, schema)
        cluster.align()
    except BaseException:
        for srv in nodes:
            srv.stop()
        psql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        raise
    print(cluster.describe())  # shown with the test's output if it fails
    return cluster


def close_cluster(cluster: Cluster) -> None:
    cluster.stop()
    psql(f"DROP SCHEMA IF EXISTS {cluster.schema} CASCADE")


def shares_a_cluster(test):
    """For the validation tables (many cases, little state): on `pg2` every case runs on
    one cluster of the module, wiped (`/moto-api/reset`) before each case, instead of
    starting two nodes on a new schema per case."""
    test.shares_a_cluster = True
    return test


@pytest.fixture(scope="module")
def shared_cluster(iotjobs_bin, tmp_path_factory):
    cluster = start_cluster(iotjobs_bin, tmp_path_factory.mktemp("shared-pg2"),
                            "--enable-reset")
    try:
        yield cluster
    finally:
        close_cluster(cluster)


@pytest.fixture(params=["sqlite", "pg2"])
def server(request, launch_server, iotjobs_bin, tmp_path):
    """This module's server (overrides conftest's): one `serve --test-clock` on SQLite,
    or a `Cluster` of two on a fresh PostgreSQL schema, dropped afterwards."""
    if request.param == "sqlite":
        srv = launch_server(tmp_path, "--test-clock")
        try:
            yield srv
        finally:
            srv.stop()
    elif getattr(request.function, "shares_a_cluster", False):
        cluster = request.getfixturevalue("shared_cluster")
        status, _, data = cluster.raw("POST", "/moto-api/reset")
        assert status == 200, data
        print(cluster.describe())
        yield cluster
    else:
        cluster = start_cluster(iotjobs_bin, tmp_path)
        try:
            yield cluster
        finally:
            close_cluster(cluster)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def clock(server, **body) -> float:
    """Move the test clock (advanceSeconds=N or epochSeconds=T); the new time."""
    status, _, data = server.raw("POST", "/iotjobs-api/clock", body=body)
    assert status == 200, data
    return json.loads(data)["epochSeconds"]


def advance(server, seconds: float) -> float:
    return clock(server, advanceSeconds=seconds)


def now(server) -> float:
    return advance(server, 0)


def set_clock(server, epoch: float) -> float:
    t = clock(server, epochSeconds=epoch)
    assert t == epoch
    return t


def next_hour(server) -> int:
    """A whole hour at least an hour ahead of the server's clock."""
    return (int(now(server)) // HOUR + 2) * HOUR


def next_midnight(server) -> int:
    """00:00 UTC of a day at least a day ahead of the server's clock."""
    return (int(now(server)) // DAY + 2) * DAY


def sched(epoch: float) -> str:
    """A schedulingConfig time, YYYY-MM-DDTHH:MM (UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M", time.gmtime(epoch))


def things(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


def summaries(iot, job_id: str) -> dict:
    """{thing: JobExecutionSummary} from ListJobExecutionsForJob."""
    return {
        s["thingArn"].rsplit("/", 1)[1]: s["jobExecutionSummary"]
        for s in all_pages(iot, "list_job_executions_for_job", "executionSummaries",
                           jobId=job_id)
    }


def thing_summary(iot, thing: str, job_id: str) -> dict:
    """The thing's JobExecutionSummary for the job from ListJobExecutionsForThing."""
    found = [s["jobExecutionSummary"]
             for s in all_pages(iot, "list_job_executions_for_thing", "executionSummaries",
                                thingName=thing)
             if s["jobId"] == job_id]
    assert len(found) == 1, found
    return found[0]


def created(iot, job_id: str) -> int:
    """How many executions the job has, from ListJobExecutionsForJob; DescribeJob's
    counters must add up to the same number."""
    n = len(summaries(iot, job_id))
    assert sum(v for k, v in counters(iot, job_id).items() if k.startswith("numberOf")) == n
    return n


def pending(data, thing: str) -> dict:
    """{jobId: 'queued'|'inProgress'} of the thing's pending executions (data plane)."""
    r = data.get_pending_job_executions(thingName=thing)
    out = {s["jobId"]: "queued" for s in r.get("queuedJobs", [])}
    out.update({s["jobId"]: "inProgress" for s in r.get("inProgressJobs", [])})
    return out


def reached(data, names, job_id: str) -> set:
    """The things that see an execution of the job in their pending list."""
    return {t for t in names if job_id in pending(data, t)}


def status_of(iot, job_id: str) -> str:
    return job(iot, job_id)["status"]


def update(data, thing: str, job_id: str, status: str):
    return data.update_job_execution(thingName=thing, jobId=job_id, status=status)


def no_execution(iot, thing: str, job_id: str, data=None) -> None:
    """The thing has no execution of the job (control plane, and data plane if given)."""
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job_execution(jobId=job_id, thingName=thing)
    if data is not None:
        with raises_aws("ResourceNotFoundException", 404):
            data.describe_job_execution(jobId=job_id, thingName=thing)


# ---------------------------------------------------------------------------
# Rollout rates
# ---------------------------------------------------------------------------


def test_constant_rate_reaches_ten_things_a_minute(server):
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    names = things("t", 25)
    make_job(iot, "r", names, jobExecutionsRolloutConfig={"maximumPerMinute": 10})

    # CreateJob runs the first step at once.
    assert status_of(iot, "r") == "IN_PROGRESS"
    first = set(summaries(iot, "r"))
    assert len(first) == 10
    exact_counters(iot, "r", Queued=10)
    assert reached(data, names, "r") == first, "only rolled-out things see the job"
    waiting = sorted(set(names) - first)
    no_execution(iot, waiting[0], "r", data)
    r = data.get_pending_job_executions(thingName=waiting[0])
    assert (r.get("queuedJobs"), r.get("inProgressJobs")) == ([], [])

    # All ten succeed within the first minute: the job does not complete, 15 wait.
    for t in sorted(first):
        update(data, t, "r", "SUCCEEDED")
    advance(server, 59)
    assert created(iot, "r") == 10
    assert status_of(iot, "r") == "IN_PROGRESS"

    advance(server, 1)  # minute 1
    assert created(iot, "r") == 20
    exact_counters(iot, "r", Succeeded=10, Queued=10)
    second = set(summaries(iot, "r"))
    assert reached(data, names, "r") == second - first

    advance(server, 60)  # minute 2: the last 5
    assert created(iot, "r") == 25
    assert reached(data, names, "r") == set(names) - first
    advance(server, 600)
    assert created(iot, "r") == 25
    for t in sorted(set(names) - first):
        update(data, t, "r", "SUCCEEDED")
    exact_counters(iot, "r", Succeeded=25)
    assert status_of(iot, "r") == "COMPLETED"


def test_ten_minutes_at_once_give_ten_minutes_worth(server):
    """The clock stops at every rollout minute: one 10-minute advance rolls out what
    ten 1-minute advances do, for a constant and for an exponential rate."""
    iot = server.client("iot")
    names = things("t", 100)  # a job has at most 100 targets
    for t in names:
        iot.create_thing(thingName=t)
    constant = {"maximumPerMinute": 7}
    exponential = {"exponentialRate": {"baseRatePerMinute": 1, "incrementFactor": 2,
                                       "rateIncreaseCriteria": {"numberOfNotifiedThings": 2}},
                   "maximumPerMinute": 12}

    make_job(iot, "once-c", names, create_things=False, jobExecutionsRolloutConfig=constant)
    make_job(iot, "once-e", names, create_things=False,
             jobExecutionsRolloutConfig=exponential)
    advance(server, 600)
    once = (created(iot, "once-c"), created(iot, "once-e"))

    make_job(iot, "step-c", names, create_things=False, jobExecutionsRolloutConfig=constant)
    make_job(iot, "step-e", names, create_things=False,
             jobExecutionsRolloutConfig=exponential)
    steps_c, steps_e = [created(iot, "step-c")], [created(iot, "step-e")]
    for _ in range(10):
        advance(server, 60)
        steps_c.append(created(iot, "step-c"))
        steps_e.append(created(iot, "step-e"))

    # Minutes 0..10: 7 each; exponential (k = notified before // 2) 1, 1, 2, 4, then
    # 16 capped at 12 from minute 4 on.
    assert steps_c == [7 * (m + 1) for m in range(11)]
    assert steps_e == [1, 2, 4, 8, 20, 32, 44, 56, 68, 80, 92]
    assert once == (steps_c[-1], steps_e[-1]) == (77, 92)


def test_exponential_ramp_per_minute(server):
    """base 2, factor 2, every 4 notified things, capped at maximumPerMinute 20."""
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    names = things("t", 60)
    make_job(iot, "x", names, jobExecutionsRolloutConfig={
        "maximumPerMinute": 20,
        "exponentialRate": {"baseRatePerMinute": 2, "incrementFactor": 2.0,
                            "rateIncreaseCriteria": {"numberOfNotifiedThings": 4}}})
    totals = [created(iot, "x")]
    for _ in range(7):
        advance(server, 60)
        totals.append(created(iot, "x"))
    per_minute = [b - a for a, b in zip([0] + totals, totals)]
    # k = notified before the minute // 4: 0, 0, 1, 2, 4 (2*16=32, capped 20), ...
    assert per_minute == [2, 2, 4, 8, 20, 20, 4, 0]
    assert reached(data, names, "x") == set(names)


def test_exponential_rate_is_rounded_down_once(server):
    """base 3, factor 1.5, every 3 notified things, no maximumPerMinute (cap 1000): the
    rate is floor(3 * 1.5^k), rounded once (k=4 gives 15, not the 13 of rounding at
    every step, which would keep a base of 1 from ever growing)."""
    iot = server.client("iot")
    names = things("t", 40)
    make_job(iot, "x", names, jobExecutionsRolloutConfig={
        "exponentialRate": {"baseRatePerMinute": 3, "incrementFactor": 1.5,
                            "rateIncreaseCriteria": {"numberOfNotifiedThings": 3}}})
    totals = [created(iot, "x")]
    for _ in range(5):
        advance(server, 60)
        totals.append(created(iot, "x"))
    per_minute = [b - a for a, b in zip([0] + totals, totals)]
    # notified before: 0 (k0: 3), 3 (k1: 4.5 -> 4), 7 (k2: 6.75 -> 6), 13 (k4: 15.19 -> 15),
    # 28 (k9: 115 -> the 12 left)
    assert per_minute == [3, 4, 6, 15, 12, 0]


EXP_SUCCEEDED = {"exponentialRate": {"baseRatePerMinute": 2, "incrementFactor": 2,
                                     "rateIncreaseCriteria": {"numberOfSucceededThings": 3}}}


def succeed_some(iot, data, job_id: str, done: set, n: int) -> None:
    """n more of the job's executions SUCCEEDED (device side)."""
    for t in sorted(set(summaries(iot, job_id)) - done)[:n]:
        update(data, t, job_id, "SUCCEEDED")
        done.add(t)


def test_exponential_rate_grows_with_succeeded_things(server):
    """base 2, factor 2, every 3 succeeded things: a minute runs at the rate of the
    successes counted when it begins (as for notified things)."""
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    make_job(iot, "x", things("t", 30), jobExecutionsRolloutConfig=EXP_SUCCEEDED)
    assert created(iot, "x") == 2
    done: set = set()
    succeed_some(iot, data, "x", done, 2)  # succeeded 2: k = 0
    advance(server, 60)
    assert created(iot, "x") == 4, "minute 1 at the base rate: notified things do not count"
    advance(server, 60)
    assert created(iot, "x") == 6
    succeed_some(iot, data, "x", done, 1)  # succeeded 3: k = 1, rate 4 from minute 3
    assert created_after_sweep(server, iot, "x") == 6
    advance(server, 60)
    assert created(iot, "x") == 10, "minute 3 at 4"
    succeed_some(iot, data, "x", done, 3)  # succeeded 6: k = 2, rate 8 from minute 4
    assert created_after_sweep(server, iot, "x") == 10
    advance(server, 60)
    assert created(iot, "x") == 18, "minute 4 at 8"


def test_exponential_rate_takes_the_larger_of_both_criteria(server):
    """base 2, factor 2, every 4 notified or every 2 succeeded things:
    k = max(notified before the minute // 4, succeeded // 2)."""
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    make_job(iot, "x", things("t", 60), jobExecutionsRolloutConfig={
        "exponentialRate": {"baseRatePerMinute": 2, "incrementFactor": 2,
                            "rateIncreaseCriteria": {"numberOfNotifiedThings": 4,
                                                     "numberOfSucceededThings": 2}}})
    done: set = set()
    assert created(iot, "x") == 2
    succeed_some(iot, data, "x", done, 2)  # k = max(0, 1) = 1
    advance(server, 60)
    assert created(iot, "x") == 6
    advance(server, 60)  # k = max(6 // 4, 2 // 2) = 1
    assert created(iot, "x") == 10
    succeed_some(iot, data, "x", done, 4)  # k = max(10 // 4, 6 // 2) = 3
    advance(server, 60)
    assert created(iot, "x") == 26
    advance(server, 60)  # k = max(26 // 4, 3) = 6: 128
    assert created(iot, "x") == 60


def test_an_unrelated_update_does_not_change_the_rollout(server):
    """Two jobs with the same rollout and the same history roll out the same, whether
    or not one of them gets an UpdateJob of its abortConfig in between."""
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    done: dict = {"x": set(), "y": set()}
    for job_id in ("x", "y"):
        make_job(iot, job_id, things(job_id, 30), jobExecutionsRolloutConfig=EXP_SUCCEEDED)
        succeed_some(iot, data, job_id, done[job_id], 2)
    advance(server, 60)
    for job_id in ("x", "y"):
        succeed_some(iot, data, job_id, done[job_id], 1)  # succeeded 3 mid-minute
    iot.update_job(jobId="y", abortConfig={"criteriaList": [
        {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 90,
         "minNumberOfExecutedThings": 100}]})
    advance(server, 0)
    assert created(iot, "y") == created(iot, "x")
    for _ in range(2):
        advance(server, 60)
        assert created(iot, "y") == created(iot, "x")


def created_after_sweep(server, iot, job_id: str) -> int:
    advance(server, 0)  # applies what is due now
    return created(iot, job_id)


def test_rollout_resumes_after_a_restart(server):
    iot = server.client("iot")
    names = things("t", 25)
    make_job(iot, "r", names, jobExecutionsRolloutConfig={"maximumPerMinute": 10})
    assert created(iot, "r") == 10
    # The test clock starts again at the real time: still minute 0. (pg2: both nodes
    # stop, then start again on the schema, their clocks aligned.)
    server.restart()
    iot = server.client("iot")
    assert created_after_sweep(server, iot, "r") == 10
    advance(server, 60)
    assert created(iot, "r") == 20
    advance(server, 60)
    assert created(iot, "r") == 25
    assert reached(server.client("iot-jobs-data"), names, "r") == set(names)


# ---------------------------------------------------------------------------
# Abort
# ---------------------------------------------------------------------------


def test_abort_exactly_at_the_threshold_not_one_execution_before(server):
    """FAILED >= 40 % of at least 3 executed things; 12 targets at 8 a minute, so 4
    wait when the job aborts and never get an execution."""
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    names = things("t", 12)
    make_job(iot, "a", names, jobExecutionsRolloutConfig={"maximumPerMinute": 8},
             abortConfig={"criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
                                            "thresholdPercentage": 40,
                                            "minNumberOfExecutedThings": 3}]})
    out = sorted(summaries(iot, "a"))
    assert len(out) == 8
    waiting = sorted(set(names) - set(out))
    busy = out[5]
    data.start_next_pending_job_execution(thingName=busy)

    # executed 1 (0 %), 2 (50 %, fewer than 3 executed), 3 (33.33 %), 4 (25 %)
    for thing, status in zip(out[:4], ["SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"]):
        update(data, thing, "a", status)
        assert status_of(iot, "a") == "IN_PROGRESS", f"aborted after {thing} {status}"
    exact_counters(iot, "a", Succeeded=3, Failed=1, InProgress=1, Queued=3)

    update(data, out[4], "a", "FAILED")  # 2 of 5 executed: exactly 40 %
    j = job(iot, "a")
    assert j["status"] == "CANCELED"
    assert j["reasonCode"] == "ABORT_CRITERIA_MET"
    assert j.get("comment"), "an abort leaves a comment"
    assert not j.get("forceCanceled", False)
    exact_counters(iot, "a", Succeeded=3, Failed=2, InProgress=1, Canceled=2)
    assert summaries(iot, "a")[busy]["status"] == "IN_PROGRESS"
    assert pending(data, busy) == {"a": "inProgress"}
    for t in out[6:]:
        assert summaries(iot, "a")[t]["status"] == "CANCELED"
        assert pending(data, t) == {}

    # The waiting targets are dropped: later minutes create nothing.
    advance(server, 10 * MINUTE)
    assert created(iot, "a") == 8
    assert reached(data, waiting, "a") == set()
    for t in waiting:
        no_execution(iot, t, "a")

    # The in-progress execution finishes normally; the job stays CANCELED.
    update(data, busy, "a", "SUCCEEDED")
    exact_counters(iot, "a", Succeeded=4, Failed=2, Canceled=2)
    assert status_of(iot, "a") == "CANCELED"


def test_abort_threshold_keeps_two_decimals(server):
    """1 FAILED of 3 executed is 33.333 %: at least 33.33 %, below 33.34 %."""
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    for job_id, pct in (("low", 33.33), ("high", 33.34)):
        make_job(iot, job_id, [f"{job_id}{i}" for i in range(4)], abortConfig={
            "criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
                              "thresholdPercentage": pct, "minNumberOfExecutedThings": 3}]})
        for i, status in enumerate(["SUCCEEDED", "SUCCEEDED", "FAILED"]):
            update(data, f"{job_id}{i}", job_id, status)
    assert status_of(iot, "low") == "CANCELED"
    assert job(iot, "low")["reasonCode"] == "ABORT_CRITERIA_MET"
    assert status_of(iot, "high") == "IN_PROGRESS"
    exact_counters(iot, "high", Succeeded=2, Failed=1, Queued=1)


def test_abort_on_all_counts_timed_out_and_failed(server):
    """ALL >= 50 % of at least 4 executed: a FAILED and then a TIMED_OUT (in-progress
    timeout of 10 minutes) reach it; the FAILED criterion (50 %) alone does not."""
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    names = things("t", 6)
    make_job(iot, "a", names, timeoutConfig={"inProgressTimeoutInMinutes": 10},
             abortConfig={"criteriaList": [
                 {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 50,
                  "minNumberOfExecutedThings": 4},
                 {"failureType": "ALL", "action": "CANCEL", "thresholdPercentage": 50,
                  "minNumberOfExecutedThings": 4}]})
    data.start_next_pending_job_execution(thingName=names[0])  # times out at +10 min
    update(data, names[1], "a", "SUCCEEDED")
    update(data, names[2], "a", "SUCCEEDED")
    update(data, names[3], "a", "FAILED")  # 3 executed: fewer than 4
    advance(server, 5 * MINUTE)
    data.start_next_pending_job_execution(thingName=names[4])  # times out at +15 min
    advance(server, 5 * MINUTE - 1)
    assert status_of(iot, "a") == "IN_PROGRESS"
    exact_counters(iot, "a", Succeeded=2, Failed=1, InProgress=2, Queued=1)

    advance(server, 1)  # names[0] TIMED_OUT: 2 of 4 executed failed in any way
    j = job(iot, "a")
    assert j["status"] == "CANCELED"
    assert j["reasonCode"] == "ABORT_CRITERIA_MET"
    assert "ALL" in j["comment"]
    exact_counters(iot, "a", Succeeded=2, Failed=1, TimedOut=1, InProgress=1, Canceled=1)
    assert summaries(iot, "a")[names[5]]["status"] == "CANCELED"
    assert pending(data, names[4]) == {"a": "inProgress"}
    assert pending(data, names[5]) == {}
    # The execution left IN_PROGRESS keeps its timer; the job stays CANCELED.
    advance(server, 5 * MINUTE)
    assert summaries(iot, "a")[names[4]]["status"] == "TIMED_OUT"
    exact_counters(iot, "a", Succeeded=2, Failed=1, TimedOut=2, Canceled=1)
    assert status_of(iot, "a") == "CANCELED"


def test_abort_on_rejected(server):
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    make_job(iot, "a", ["r0", "r1", "r2"], abortConfig={"criteriaList": [
        {"failureType": "REJECTED", "action": "CANCEL", "thresholdPercentage": 50,
         "minNumberOfExecutedThings": 2}]})
    update(data, "r0", "a", "REJECTED")
    assert status_of(iot, "a") == "IN_PROGRESS"
    update(data, "r1", "a", "SUCCEEDED")
    assert job(iot, "a")["reasonCode"] == "ABORT_CRITERIA_MET"
    exact_counters(iot, "a", Rejected=1, Succeeded=1, Canceled=1)


def test_retried_failures_do_not_count_towards_an_abort(server):
    """FAILED 1 retry, abort at 50 % FAILED of 2 executed: a retried failure is QUEUED,
    not FAILED; the final one counts. After the abort nothing is retried."""
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    make_job(iot, "a", ["t0", "t1", "t2", "t3"],
             jobExecutionsRetryConfig={"criteriaList": [
                 {"failureType": "FAILED", "numberOfRetries": 1}]},
             abortConfig={"criteriaList": [
                 {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 50,
                  "minNumberOfExecutedThings": 2}]})
    data.start_next_pending_job_execution(thingName="t0")
    update(data, "t1", "a", "FAILED")  # retried
    update(data, "t2", "a", "SUCCEEDED")
    assert status_of(iot, "a") == "IN_PROGRESS"
    exact_counters(iot, "a", InProgress=1, Queued=2, Succeeded=1)
    update(data, "t1", "a", "FAILED")  # final: 1 of 2 executed
    j = job(iot, "a")
    assert (j["status"], j["reasonCode"]) == ("CANCELED", "ABORT_CRITERIA_MET")
    exact_counters(iot, "a", InProgress=1, Failed=1, Succeeded=1, Canceled=1)
    update(data, "t0", "a", "FAILED")  # no retry once the job is canceled
    s = summaries(iot, "a")["t0"]
    assert (s["status"], s["retryAttempt"]) == ("FAILED", 0)
    exact_counters(iot, "a", Failed=2, Succeeded=1, Canceled=1)


# ---------------------------------------------------------------------------
# Retry
# ---------------------------------------------------------------------------


def test_failed_retries_up_to_the_limit_then_failed_for_good(server):
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    make_job(iot, "y", ["dev"], jobExecutionsRetryConfig={
        "criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]})
    s = summaries(iot, "y")["dev"]
    assert (s["status"], s["executionNumber"], s["retryAttempt"]) == ("QUEUED", 1, 0)
    assert thing_summary(iot, "dev", "y")["retryAttempt"] == 0

    for attempt in (1, 2):
        started = data.start_next_pending_job_execution(thingName="dev")["execution"]
        assert (started["jobId"], started["status"], started["executionNumber"]) == (
            "y", "IN_PROGRESS", 1)
        exact_counters(iot, "y", InProgress=1)
        update(data, "dev", "y", "FAILED")
        # Back to QUEUED at once, same execution, one more attempt; never counted FAILED.
        for s in (summaries(iot, "y")["dev"], thing_summary(iot, "dev", "y")):
            assert (s["status"], s["executionNumber"], s["retryAttempt"]) == (
                "QUEUED", 1, attempt)
        exact_counters(iot, "y", Queued=1)
        assert status_of(iot, "y") == "IN_PROGRESS", "the job does not complete in between"
        assert pending(data, "dev") == {"y": "queued"}
        e = iot.describe_job_execution(jobId="y", thingName="dev")["execution"]
        assert (e["status"], e["executionNumber"]) == ("QUEUED", 1)

    started = data.start_next_pending_job_execution(thingName="dev")["execution"]
    assert (started["status"], started["executionNumber"]) == ("IN_PROGRESS", 1)
    update(data, "dev", "y", "FAILED")  # third failure: no retries left
    for s in (summaries(iot, "y")["dev"], thing_summary(iot, "dev", "y")):
        assert (s["status"], s["executionNumber"], s["retryAttempt"]) == ("FAILED", 1, 2)
    exact_counters(iot, "y", Failed=1)
    assert status_of(iot, "y") == "COMPLETED"
    assert pending(data, "dev") == {}
    assert "execution" not in data.start_next_pending_job_execution(thingName="dev")


def test_timed_out_and_failed_retries_are_counted_apart(server):
    """TIMED_OUT 1 and FAILED 1: a timeout is retried, then a failure, then the
    second timeout is final. A retried execution waits QUEUED without a timer."""
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    make_job(iot, "y", ["dev"], timeoutConfig={"inProgressTimeoutInMinutes": 5},
             jobExecutionsRetryConfig={"criteriaList": [
                 {"failureType": "TIMED_OUT", "numberOfRetries": 1},
                 {"failureType": "FAILED", "numberOfRetries": 1}]})

    data.start_next_pending_job_execution(thingName="dev")
    advance(server, 5 * MINUTE)  # TIMED_OUT -> retried
    s = summaries(iot, "y")["dev"]
    assert (s["status"], s["executionNumber"], s["retryAttempt"]) == ("QUEUED", 1, 1)
    exact_counters(iot, "y", Queued=1)
    assert status_of(iot, "y") == "IN_PROGRESS"
    advance(server, 30 * MINUTE)  # QUEUED does not time out
    assert summaries(iot, "y")["dev"]["status"] == "QUEUED"

    started = data.start_next_pending_job_execution(thingName="dev")["execution"]
    assert (started["jobId"], started["executionNumber"]) == ("y", 1)
    update(data, "dev", "y", "FAILED")  # FAILED has its own retry
    s = thing_summary(iot, "dev", "y")
    assert (s["status"], s["retryAttempt"]) == ("QUEUED", 2)
    exact_counters(iot, "y", Queued=1)

    data.start_next_pending_job_execution(thingName="dev")
    advance(server, 5 * MINUTE - 1)
    assert summaries(iot, "y")["dev"]["status"] == "IN_PROGRESS"
    advance(server, 1)  # second timeout: none left
    s = summaries(iot, "y")["dev"]
    assert (s["status"], s["executionNumber"], s["retryAttempt"]) == ("TIMED_OUT", 1, 2)
    exact_counters(iot, "y", TimedOut=1)
    assert status_of(iot, "y") == "COMPLETED"


def test_all_retries_cover_both_types_and_rejected_is_never_retried(server):
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    make_job(iot, "y", ["dev", "rej"], timeoutConfig={"inProgressTimeoutInMinutes": 1},
             jobExecutionsRetryConfig={"criteriaList": [
                 {"failureType": "ALL", "numberOfRetries": 2}]})
    update(data, "rej", "y", "REJECTED")
    s = summaries(iot, "y")["rej"]
    assert (s["status"], s["retryAttempt"]) == ("REJECTED", 0)

    update(data, "dev", "y", "FAILED")  # QUEUED -> FAILED, retried
    assert summaries(iot, "y")["dev"]["retryAttempt"] == 1
    data.start_next_pending_job_execution(thingName="dev")
    advance(server, MINUTE)  # TIMED_OUT, retried under ALL too
    s = summaries(iot, "y")["dev"]
    assert (s["status"], s["retryAttempt"]) == ("QUEUED", 2)
    exact_counters(iot, "y", Queued=1, Rejected=1)
    assert status_of(iot, "y") == "IN_PROGRESS"
    update(data, "dev", "y", "FAILED")  # ALL used up
    s = summaries(iot, "y")["dev"]
    assert (s["status"], s["retryAttempt"]) == ("FAILED", 2)
    exact_counters(iot, "y", Failed=1, Rejected=1)
    assert status_of(iot, "y") == "COMPLETED"


def test_update_job_sets_retries_to_zero_only(server):
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    make_job(iot, "y", ["dev"], jobExecutionsRetryConfig={
        "criteriaList": [{"failureType": "FAILED", "numberOfRetries": 3}]})
    update(data, "dev", "y", "FAILED")
    assert summaries(iot, "y")["dev"]["retryAttempt"] == 1

    with raises_aws("InvalidRequestException", 400):
        iot.update_job(jobId="y", description="changed", jobExecutionsRetryConfig={
            "criteriaList": [{"failureType": "FAILED", "numberOfRetries": 1}]})
    j = job(iot, "y")
    assert j["jobExecutionsRetryConfig"]["criteriaList"][0]["numberOfRetries"] == 3
    assert "description" not in j, "a refused UpdateJob changes nothing"

    iot.update_job(jobId="y", jobExecutionsRetryConfig={
        "criteriaList": [{"failureType": "FAILED", "numberOfRetries": 0}]})
    assert job(iot, "y")["jobExecutionsRetryConfig"]["criteriaList"][0][
        "numberOfRetries"] == 0
    update(data, "dev", "y", "FAILED")  # no more retries
    s = summaries(iot, "y")["dev"]
    assert (s["status"], s["retryAttempt"]) == ("FAILED", 1)
    exact_counters(iot, "y", Failed=1)
    assert status_of(iot, "y") == "COMPLETED"


def test_update_job_rate_applies_from_the_next_step(server):
    iot = server.client("iot")
    names = things("t", 30)
    make_job(iot, "r", names, jobExecutionsRolloutConfig={"maximumPerMinute": 2})
    assert created(iot, "r") == 2
    iot.update_job(jobId="r", jobExecutionsRolloutConfig={"maximumPerMinute": 5})
    assert job(iot, "r")["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 5}
    # The new rate applies from the next step: minute 0 is topped up to 5.
    assert created_after_sweep(server, iot, "r") == 5
    for minute in (1, 2):
        advance(server, 60)
        assert created(iot, "r") == 5 + 5 * minute


# ---------------------------------------------------------------------------
# Scheduling
# ---------------------------------------------------------------------------


def test_scheduled_job_starts_at_its_start_time(server):
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    t0 = set_clock(server, next_hour(server))
    start = t0 + 40 * MINUTE
    config = {"startTime": sched(start), "endTime": sched(start + 2 * HOUR),
              "endBehavior": "STOP_ROLLOUT"}
    make_job(iot, "all", ["a0", "a1", "a2"], schedulingConfig=config)
    make_job(iot, "rate", things("r", 5), schedulingConfig={"startTime": sched(start)},
             jobExecutionsRolloutConfig={"maximumPerMinute": 2})

    for job_id in ("all", "rate"):
        assert status_of(iot, job_id) == "SCHEDULED"
        exact_counters(iot, job_id)
        assert summaries(iot, job_id) == {}
    assert job(iot, "all")["schedulingConfig"] == config
    assert "scheduledJobRollouts" not in job(iot, "all"), "no maintenance windows"
    listed = {j["jobId"] for j in iot.list_jobs(status="SCHEDULED")["jobs"]}
    assert listed == {"all", "rate"}
    assert pending(data, "a0") == {}
    no_execution(iot, "a0", "all", data)

    set_clock(server, start - 1)
    assert status_of(iot, "all") == "SCHEDULED"
    assert summaries(iot, "all") == {} and summaries(iot, "rate") == {}

    advance(server, 1)
    assert status_of(iot, "all") == "IN_PROGRESS"
    exact_counters(iot, "all", Queued=3)
    assert reached(data, ["a0", "a1", "a2"], "all") == {"a0", "a1", "a2"}
    assert status_of(iot, "rate") == "IN_PROGRESS"
    assert created(iot, "rate") == 2
    advance(server, 60)
    assert created(iot, "rate") == 4
    advance(server, 60)
    assert created(iot, "rate") == 5
    assert job(iot, "all")["schedulingConfig"] == config


def test_maintenance_window_opens_and_closes(server):
    """A daily window at 03:00 UTC for 2 minutes, 3 executions a minute, 10 targets:
    6 on day one, 4 on day two; SCHEDULED outside the window, IN_PROGRESS inside."""
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    d = set_clock(server, next_midnight(server))
    names = things("t", 10)
    config = {"maintenanceWindows": [{"startTime": "cron(0 3 * * ? *)",
                                      "durationInMinutes": 2}]}
    make_job(iot, "w", names, schedulingConfig=config,
             jobExecutionsRolloutConfig={"maximumPerMinute": 3})

    j = job(iot, "w")
    assert j["status"] == "SCHEDULED"
    assert j["schedulingConfig"] == config
    assert [r["startTime"] for r in j["scheduledJobRollouts"]] == [
        sched(d + i * DAY + 3 * HOUR) for i in range(7)]
    assert summaries(iot, "w") == {}

    set_clock(server, d + 3 * HOUR - 1)
    assert status_of(iot, "w") == "SCHEDULED"
    assert created(iot, "w") == 0

    set_clock(server, d + 3 * HOUR)  # the window opens
    assert status_of(iot, "w") == "IN_PROGRESS"
    assert created(iot, "w") == 3
    set_clock(server, d + 3 * HOUR + 60)
    assert status_of(iot, "w") == "IN_PROGRESS"
    assert created(iot, "w") == 6
    assert [r["startTime"] for r in job(iot, "w")["scheduledJobRollouts"]] == [
        sched(d + i * DAY + 3 * HOUR) for i in range(1, 8)]
    first = set(summaries(iot, "w"))
    assert reached(data, names, "w") == first

    set_clock(server, d + 3 * HOUR + 120)  # the window closes
    assert status_of(iot, "w") == "SCHEDULED"
    assert created(iot, "w") == 6
    # Existing executions go on between windows.
    one = sorted(first)[0]
    update(data, one, "w", "SUCCEEDED")
    exact_counters(iot, "w", Succeeded=1, Queued=5)

    # A day in one call: nothing until the next window, then its first minute.
    set_clock(server, d + DAY + 3 * HOUR - 1)
    assert (status_of(iot, "w"), created(iot, "w")) == ("SCHEDULED", 6)
    set_clock(server, d + DAY + 3 * HOUR + 30)
    assert (status_of(iot, "w"), created(iot, "w")) == ("IN_PROGRESS", 9)
    set_clock(server, d + DAY + 3 * HOUR + 90)
    assert created(iot, "w") == 10
    assert reached(data, names, "w") == set(names) - {one}
    for t in sorted(set(names) - {one}):
        update(data, t, "w", "SUCCEEDED")
    exact_counters(iot, "w", Succeeded=10)
    assert status_of(iot, "w") == "COMPLETED"


def _end_scenario(server, behavior):
    """33 things at 1 a minute from a whole hour, endTime 30 minutes later: minutes
    0..29 create 30 executions and 3 targets still wait at the end. One execution is
    IN_PROGRESS and one SUCCEEDED when the end comes."""
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    t0 = set_clock(server, next_hour(server))
    names = things("t", 33)
    config = {"endTime": sched(t0 + 30 * MINUTE)}
    if behavior:
        config["endBehavior"] = behavior
    make_job(iot, "e", names, schedulingConfig=config,
             jobExecutionsRolloutConfig={"maximumPerMinute": 1})
    assert status_of(iot, "e") == "IN_PROGRESS"
    assert job(iot, "e")["schedulingConfig"] == config
    out = sorted(summaries(iot, "e"))
    data.start_next_pending_job_execution(thingName=out[0])
    advance(server, MINUTE)
    out = sorted(summaries(iot, "e"))
    update(data, out[1], "e", "SUCCEEDED")

    set_clock(server, t0 + 30 * MINUTE - 1)
    assert created(iot, "e") == 30
    exact_counters(iot, "e", InProgress=1, Succeeded=1, Queued=28)
    assert status_of(iot, "e") == "IN_PROGRESS"

    advance(server, 1)  # endTime
    advance(server, 10 * MINUTE)
    assert created(iot, "e") == 30, "no execution at or after endTime"
    rolled = set(summaries(iot, "e"))
    waiting = sorted(set(names) - rolled)
    assert len(waiting) == 3
    assert reached(data, waiting, "e") == set()
    for t in waiting:
        no_execution(iot, t, "e")
    return iot, data, sorted(rolled), out[0], out[1]


def test_end_time_stop_rollout_is_the_default(server):
    iot, data, rolled, busy, done = _end_scenario(server, None)
    # Existing executions continue; the job completes when they are done.
    assert status_of(iot, "e") == "IN_PROGRESS"
    exact_counters(iot, "e", InProgress=1, Succeeded=1, Queued=28)
    assert pending(data, busy) == {"e": "inProgress"}
    queued = [t for t in rolled if t not in (busy, done)]
    assert pending(data, queued[0]) == {"e": "queued"}
    for t in queued:
        update(data, t, "e", "SUCCEEDED")
    assert status_of(iot, "e") == "IN_PROGRESS"
    update(data, busy, "e", "SUCCEEDED")
    exact_counters(iot, "e", Succeeded=30)
    assert status_of(iot, "e") == "COMPLETED"


def test_end_time_cancel(server):
    iot, data, rolled, busy, done = _end_scenario(server, "CANCEL")
    j = job(iot, "e")
    assert j["status"] == "CANCELED"
    assert not j.get("forceCanceled", False)
    exact_counters(iot, "e", InProgress=1, Succeeded=1, Canceled=28)
    assert pending(data, busy) == {"e": "inProgress"}
    assert pending(data, [t for t in rolled if t not in (busy, done)][0]) == {}
    update(data, busy, "e", "SUCCEEDED")  # IN_PROGRESS continues
    exact_counters(iot, "e", Succeeded=2, Canceled=28)
    assert status_of(iot, "e") == "CANCELED"


def test_end_time_force_cancel(server):
    iot, data, rolled, busy, done = _end_scenario(server, "FORCE_CANCEL")
    j = job(iot, "e")
    assert j["status"] == "CANCELED"
    assert j["forceCanceled"] is True
    exact_counters(iot, "e", Succeeded=1, Canceled=29)
    e = iot.describe_job_execution(jobId="e", thingName=busy)["execution"]
    assert e["status"] == "CANCELED"
    assert e["forceCanceled"] is True
    assert summaries(iot, "e")[done]["status"] == "SUCCEEDED"
    for t in (busy, rolled[5]):
        assert pending(data, t) == {}


def test_cancel_job_drops_waiting_targets(server):
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    names = things("t", 20)
    make_job(iot, "c", names, jobExecutionsRolloutConfig={"maximumPerMinute": 5})
    out = sorted(summaries(iot, "c"))
    assert len(out) == 5
    data.start_next_pending_job_execution(thingName=out[0])
    iot.cancel_job(jobId="c")
    advance(server, 10 * MINUTE)
    assert created(iot, "c") == 5
    exact_counters(iot, "c", InProgress=1, Canceled=4)
    assert reached(data, names, "c") == {out[0]}
    for t in sorted(set(names) - set(out))[:3]:
        no_execution(iot, t, "c")
    assert status_of(iot, "c") == "CANCELED"

    # A scheduled job canceled before its start never rolls out.
    start = now(server) + 40 * MINUTE
    make_job(iot, "s", ["s0", "s1"], schedulingConfig={"startTime": sched(start)})
    assert status_of(iot, "s") == "SCHEDULED"
    iot.cancel_job(jobId="s")
    assert status_of(iot, "s") == "CANCELED"
    advance(server, 2 * HOUR)
    assert status_of(iot, "s") == "CANCELED"
    assert summaries(iot, "s") == {}
    exact_counters(iot, "s")
    assert pending(data, "s0") == {}


# ---------------------------------------------------------------------------
# Validation: CreateJob
# ---------------------------------------------------------------------------


def _exp(**over):
    e = {"baseRatePerMinute": 10, "incrementFactor": 2,
         "rateIncreaseCriteria": {"numberOfNotifiedThings": 10}}
    e.update(over)
    return {"jobExecutionsRolloutConfig": {"exponentialRate": e}}


def _abort(**over):
    c = {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 10,
         "minNumberOfExecutedThings": 1}
    c.update(over)
    return {"abortConfig": {"criteriaList": [c]}}


def _retry(*pairs):
    return {"jobExecutionsRetryConfig": {"criteriaList": [
        {"failureType": f, "numberOfRetries": n} for f, n in pairs]}}


def _window(cron="cron(0 3 * * ? *)", minutes=60):
    return {"schedulingConfig": {"maintenanceWindows": [
        {"startTime": cron, "durationInMinutes": minutes}]}}


def _at(start=None, end=None, **extra):
    """A schedulingConfig with times relative to the server's now (seconds, or a
    literal string)."""
    def build(t):
        c = dict(extra)
        for key, v in (("startTime", start), ("endTime", end)):
            if v is not None:
                c[key] = v if isinstance(v, str) else sched(t + v)
        return {"schedulingConfig": c}
    return build


INVALID_CREATE = {
    # jobExecutionsRolloutConfig
    "maximumPerMinute-0": {"jobExecutionsRolloutConfig": {"maximumPerMinute": 0}},
    "maximumPerMinute-1001": {"jobExecutionsRolloutConfig": {"maximumPerMinute": 1001}},
    "baseRate-0": _exp(baseRatePerMinute=0),
    "baseRate-1001": _exp(baseRatePerMinute=1001),
    "incrementFactor-1.0": _exp(incrementFactor=1.0),
    "incrementFactor-5.1": _exp(incrementFactor=5.1),
    "incrementFactor-1.55": _exp(incrementFactor=1.55),
    "rateIncreaseCriteria-empty": _exp(rateIncreaseCriteria={}),
    "notifiedThings-0": _exp(rateIncreaseCriteria={"numberOfNotifiedThings": 0}),
    "succeededThings-0": _exp(rateIncreaseCriteria={"numberOfSucceededThings": 0}),
    "exponential-without-incrementFactor": {"jobExecutionsRolloutConfig": {
        "exponentialRate": {"baseRatePerMinute": 10,
                            "rateIncreaseCriteria": {"numberOfNotifiedThings": 10}}}},
    # abortConfig
    "threshold-10.999": _abort(thresholdPercentage=10.999),
    "threshold-100.01": _abort(thresholdPercentage=100.01),
    "minExecuted-0": _abort(minNumberOfExecutedThings=0),
    "abort-failureType-unknown": _abort(failureType="CRASHED"),
    "abort-action-unknown": _abort(action="PAUSE"),
    "abort-criteriaList-empty": {"abortConfig": {"criteriaList": []}},
    # jobExecutionsRetryConfig
    "retries-11": _retry(("FAILED", 11)),
    "retries-negative": _retry(("FAILED", -1)),
    "retries-total-11": _retry(("FAILED", 6), ("TIMED_OUT", 5)),
    "retries-all-11": _retry(("ALL", 11)),
    "retry-rejected": _retry(("REJECTED", 1)),
    "retry-criteriaList-3": _retry(("FAILED", 1), ("TIMED_OUT", 1), ("ALL", 1)),
    "retry-criteriaList-empty": {"jobExecutionsRetryConfig": {"criteriaList": []}},
    # schedulingConfig: maintenance windows
    "cron-both-days": _window("cron(0 3 * * * *)"),
    "cron-no-wrapper": _window("0 3 * * ? *"),
    "cron-minute-60": _window("cron(60 3 * * ? *)"),
    "cron-five-fields": _window("cron(0 3 * * ?)"),
    "cron-rate": _window("rate(1 day)"),
    "window-duration-0": _window(minutes=0),
    "window-duration-1431": _window(minutes=1431),
    # schedulingConfig: times
    "start-in-the-past": _at(start=-HOUR),
    "start-in-10-minutes": _at(start=10 * MINUTE),
    "start-in-29-minutes": _at(start=29 * MINUTE),
    "start-in-367-days": _at(start=367 * DAY),
    "end-20-minutes-after-start": _at(start=HOUR, end=HOUR + 20 * MINUTE),
    "end-before-start": _at(start=2 * HOUR, end=HOUR),
    "end-3-years-after-start": _at(start=HOUR, end=HOUR + 3 * 365 * DAY),
    "end-in-10-minutes-without-start": _at(end=10 * MINUTE),
    "end-in-the-past": _at(end=-HOUR),
    "start-space-separator": _at(start="2099-01-01 10:00"),
    "start-date-only": _at(start="2099-01-01"),
    "start-month-13": _at(start="2099-13-01T10:00"),
    "start-hour-25": _at(start="2099-01-01T25:00"),
    "start-words": _at(start="tomorrow"),
    "start-with-offset": _at(start="2099-01-01T10:00+02:00"),
    "end-behavior-unknown": _at(end=2 * HOUR, endBehavior="STOP"),
}


@shares_a_cluster
@pytest.mark.parametrize("case", sorted(INVALID_CREATE))
def test_create_job_refuses_invalid_configs(server, case):
    iot = server.client("iot", parameter_validation=False)
    iot.create_thing(thingName="t")
    config = INVALID_CREATE[case]
    kwargs = config(now(server)) if callable(config) else config
    with raises_aws("InvalidRequestException", 400):
        iot.create_job(jobId="bad", targets=[thing_arn("t")], document="{}", **kwargs)
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job(jobId="bad")
    assert pending(server.client("iot-jobs-data"), "t") == {}


VALID_CREATE = {
    "maximumPerMinute-1": {"jobExecutionsRolloutConfig": {"maximumPerMinute": 1}},
    "maximumPerMinute-1000": {"jobExecutionsRolloutConfig": {"maximumPerMinute": 1000}},
    "exponential-bounds": _exp(baseRatePerMinute=1000, incrementFactor=5),
    "exponential-1.1-succeeded": _exp(baseRatePerMinute=1, incrementFactor=1.1,
                                      rateIncreaseCriteria={"numberOfSucceededThings": 1}),
    "threshold-10.99": _abort(thresholdPercentage=10.99),
    "threshold-100": _abort(thresholdPercentage=100, failureType="ALL"),
    "retries-total-10": _retry(("FAILED", 5), ("TIMED_OUT", 5)),
    "retries-all-10": _retry(("ALL", 10)),
    "retries-0": _retry(("TIMED_OUT", 0)),
    "window-1430-weekly": _window("cron(30 22 ? * SUN *)", 1430),
    "start-in-31-minutes": _at(start=31 * MINUTE),
    "start-in-364-days-end-2-years": _at(start=364 * DAY, end=364 * DAY + 2 * 365 * DAY),
    "end-in-31-minutes-force-cancel": _at(end=31 * MINUTE, endBehavior="FORCE_CANCEL"),
}


def test_schedule_limits_follow_the_server_clock(server):
    """30 minutes ahead of the (test) clock, not of the wall clock."""
    iot = server.client("iot")
    iot.create_thing(thingName="t")
    wall = now(server)
    t = advance(server, DAY)
    with raises_aws("InvalidRequestException", 400):
        iot.create_job(jobId="wall", targets=[thing_arn("t")], document="{}",
                       schedulingConfig={"startTime": sched(wall + HOUR)})
    with raises_aws("InvalidRequestException", 400):
        iot.create_job(jobId="wall-end", targets=[thing_arn("t")], document="{}",
                       schedulingConfig={"endTime": sched(wall + HOUR)})
    iot.create_job(jobId="ok", targets=[thing_arn("t")], document="{}",
                   schedulingConfig={"startTime": sched(t + HOUR)})
    assert status_of(iot, "ok") == "SCHEDULED"


@shares_a_cluster
@pytest.mark.parametrize("case", sorted(VALID_CREATE))
def test_create_job_accepts_the_boundaries(server, case):
    iot = server.client("iot", parameter_validation=False)
    iot.create_thing(thingName="t")
    config = VALID_CREATE[case]
    kwargs = config(now(server)) if callable(config) else config
    iot.create_job(jobId="ok", targets=[thing_arn("t")], document="{}", **kwargs)
    j = job(iot, "ok")
    for key, value in kwargs.items():
        assert j[key] == value, key


# ---------------------------------------------------------------------------
# Validation: UpdateJob
# ---------------------------------------------------------------------------


INVALID_UPDATE = {
    "maximumPerMinute-0": {"jobExecutionsRolloutConfig": {"maximumPerMinute": 0}},
    "maximumPerMinute-1001": {"jobExecutionsRolloutConfig": {"maximumPerMinute": 1001}},
    "baseRate-1001": _exp(baseRatePerMinute=1001),
    "incrementFactor-1.55": _exp(incrementFactor=1.55),
    "incrementFactor-5.5": _exp(incrementFactor=5.5),
    "rateIncreaseCriteria-empty": _exp(rateIncreaseCriteria={}),
    "threshold-10.999": _abort(thresholdPercentage=10.999),
    "threshold-101": _abort(thresholdPercentage=101),
    "minExecuted-0": _abort(minNumberOfExecutedThings=0),
    "retries-1": _retry(("FAILED", 1)),
    "retries-11": _retry(("FAILED", 11)),
    "retries-total-11": _retry(("FAILED", 6), ("TIMED_OUT", 5)),
    "retry-rejected": _retry(("REJECTED", 0)),
}


@shares_a_cluster
@pytest.mark.parametrize("case", sorted(INVALID_UPDATE))
def test_update_job_refuses_invalid_configs(server, case):
    iot = server.client("iot", parameter_validation=False)
    original = {
        "jobExecutionsRolloutConfig": {"maximumPerMinute": 3},
        **_abort(thresholdPercentage=50),
        **_retry(("FAILED", 2)),
    }
    make_job(iot, "j", things("t", 10), **original)
    assert created(iot, "j") == 3
    with raises_aws("InvalidRequestException", 400):
        iot.update_job(jobId="j", description="changed", **INVALID_UPDATE[case])
    j = job(iot, "j")
    for key, value in original.items():
        assert j[key] == value, f"{key} changed by a refused UpdateJob"
    assert "description" not in j
    advance(server, 60)
    assert created(iot, "j") == 6, "the rate is still 3 a minute"
