"""The device side over MQTT (issue 11): the real AWS IoT Device SDK v2 for Python against
`iotjobs serve --mqtt-listen 127.0.0.1:0` (plain TCP, development mode: client id = thing
name, default account). Jobs and things are made through the HTTP control plane (boto3).

Every device test runs with the three SDK clients (`mqtt_device.KINDS`): `IotJobsClient`
(V1) on MQTT 3.1.1, `IotJobsClientV2` on MQTT 3.1.1 and on MQTT 5. Payloads no SDK sends
(empty, not JSON, unknown topics) go through raw MQTT 3.1.1 / 5 connections.

Reference: shared/notes/mqtt-research.md §2 (wire spec) and §8 (acceptance list: items 2-6
and 9 here). Answers are awaited with timeouts of a few seconds, never fixed sleeps;
notifications are checked as exact ordered sequences per topic, closed by a marker event,
so a missing, extra or out-of-order notification fails the test.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
import subprocess
import sys
import time

import pytest

from conftest import _clean_env
from iotjobs_helpers import DOC, execution, job, make_job, snapshot, thing_arn
from mqtt_device import (
    KINDS,
    RAW_KINDS,
    DeserializationFailure,
    Rejected,
    SubscribeRefused,
    jobs_topic,
)

kinds = pytest.mark.parametrize("kind", KINDS)
raw_kinds = pytest.mark.parametrize("raw_kind", RAW_KINDS)

SUMMARY_FIELDS = {"jobId", "queuedAt", "startedAt", "lastUpdatedAt", "versionNumber",
                  "executionNumber"}


@pytest.fixture
def iot(mqtt_server):
    """The control plane of the MQTT-enabled server (overrides conftest's `iot`)."""
    return mqtt_server.client("iot")


@pytest.fixture
def jobs_data(mqtt_server):
    return mqtt_server.client("iot-jobs-data")


# --- assertions -------------------------------------------------------------------------


def near_now(dt) -> bool:
    """An SDK time (`datetime.fromtimestamp(seconds)`) within 10 minutes of now."""
    return isinstance(dt, datetime.datetime) and abs(dt.timestamp() - time.time()) < 600


def assert_seconds(v, what="time"):
    """A wire time: an integer of epoch seconds (not milliseconds, not a float)."""
    assert type(v) is int, f"{what} {v!r} is not an integer"
    assert abs(v - time.time()) < 600, f"{what} {v} is not epoch seconds near now"


def assert_raw_execution(ex: dict, *, document=True):
    """A JobExecution on the wire: jobDocument an object, times integer seconds."""
    for k in ("queuedAt", "startedAt", "lastUpdatedAt"):
        if k in ex:
            assert_seconds(ex[k], k)
    for k in ("versionNumber", "executionNumber"):
        assert type(ex[k]) is int, (k, ex[k])
    if document:
        assert isinstance(ex["jobDocument"], dict), f"jobDocument is not an object: {ex!r}"
    else:
        assert "jobDocument" not in ex


def answer(d, op, job_id=None, suffix="accepted") -> dict:
    """The raw JSON of the answer to the device's last request (found by its clientToken),
    after checking what every answer carries: the clientToken echoed, a timestamp."""
    body = d.raw.for_token(d.response_topic(op, job_id, suffix), d.last_client_token)
    assert body["clientToken"] == d.last_client_token
    assert_seconds(body["timestamp"], "timestamp")
    return body


def expect_rejected(d, code, fn, *args, with_state=None, **kwargs) -> Rejected:
    """fn(*args) must be answered on .../rejected with `code`; the raw error carries code,
    message, clientToken, timestamp, and executionState exactly for InvalidStateTransition
    and VersionMismatch (research note §2.5), unless `with_state` says otherwise."""
    with pytest.raises(Rejected) as info:
        fn(*args, **kwargs)
    e = info.value
    assert e.code == code, f"expected {code}, got {e.code} ({e.error.message!r})"
    assert e.error.client_token == d.last_client_token
    assert near_now(e.error.timestamp)
    topic = e.topic
    body = d.raw.for_token(topic, d.last_client_token)
    assert body["code"] == code
    assert isinstance(body.get("message"), str) and body["message"], body
    assert_seconds(body["timestamp"], "timestamp")
    if with_state is None:
        with_state = code in ("InvalidStateTransition", "VersionMismatch")
    assert ("executionState" in body) == with_state, body
    return e


def event(log):
    ev = log.next()
    assert not isinstance(ev, DeserializationFailure), f"{log.name}: {ev!r}"
    assert near_now(ev.timestamp), ev
    return ev


def expect_notify(log, *, in_progress=(), queued=()):
    """The next `notify`: the pending list, a status key omitted when it has no entries
    (`jobs == {}` when nothing is pending)."""
    ev = event(log)
    assert ev.jobs is not None, f"notify without `jobs`: {ev!r}"
    got = {status: [s.job_id for s in summaries] for status, summaries in ev.jobs.items()}
    want = {}
    if in_progress:
        want["IN_PROGRESS"] = list(in_progress)
    if queued:
        want["QUEUED"] = list(queued)
    assert got == want, f"{log.name}: {got} != {want}"
    return ev


def expect_notify_next(log, job_id=None, status=None, thing=None):
    """The next `notify-next`: the new head with its job document, or no `execution`."""
    ev = event(log)
    if job_id is None:
        assert ev.execution is None, f"{log.name}: expected no execution, got {ev.execution!r}"
        return ev
    ex = ev.execution
    assert ex is not None, f"{log.name}: expected {job_id}, got no execution"
    assert (ex.job_id, ex.status) == (job_id, status), f"{log.name}: {ex!r}"
    assert ex.job_document == DOC
    if thing is not None:
        assert ex.thing_name == thing
    return ev


def assert_raw_notifications(d):
    """Every notify / notify-next the device received, on the wire: integer seconds and
    object job documents."""
    for topic, payload in d.raw.items:
        if topic in (jobs_topic(d.thing, "notify"), jobs_topic(d.thing, "notify-next")):
            body = json.loads(payload)
            assert_seconds(body["timestamp"], f"{topic} timestamp")
            assert "clientToken" not in body
            if "execution" in body:
                assert_raw_execution(body["execution"])
            for summaries in body.get("jobs", {}).values():
                for s in summaries:
                    assert set(s) <= SUMMARY_FIELDS, s
                    assert_seconds(s["queuedAt"], "queuedAt")


# --- GetPendingJobExecutions (§8 item 2) -------------------------------------------------


@kinds
def test_mqtt_get_pending_job_executions_in_creation_order(iot, devices, kind):
    iot.create_thing(thingName="t1")
    # created b then a: the order is creation order, not the job id
    make_job(iot, "job-b", ["t1"], create_things=False)
    make_job(iot, "job-a", ["t1"], create_things=False)
    d = devices(kind, "t1")

    r = d.get_pending()
    assert r.client_token == d.last_client_token  # the SDK's uuid4 (V2) / ours (V1)
    assert near_now(r.timestamp)
    assert (r.in_progress_jobs or []) == []
    assert [j.job_id for j in r.queued_jobs] == ["job-b", "job-a"]
    for s in r.queued_jobs:
        assert (s.version_number, s.execution_number) == (1, 1)
        assert near_now(s.queued_at) and near_now(s.last_updated_at)
        assert s.started_at is None
    body = answer(d, "get_pending")
    for s in body["queuedJobs"]:
        assert set(s) <= SUMMARY_FIELDS, f"unexpected summary fields: {s}"
        assert "startedAt" not in s
        assert_seconds(s["queuedAt"], "queuedAt")
        assert_seconds(s["lastUpdatedAt"], "lastUpdatedAt")

    # once started, job-b moves to inProgressJobs with startedAt
    assert d.start_next().execution.job_id == "job-b"
    r = d.get_pending()
    assert [j.job_id for j in r.in_progress_jobs] == ["job-b"]
    assert [j.job_id for j in r.queued_jobs] == ["job-a"]
    ip = r.in_progress_jobs[0]
    assert (ip.version_number, ip.execution_number) == (2, 1)
    assert near_now(ip.started_at)
    assert_seconds(answer(d, "get_pending")["inProgressJobs"][0]["startedAt"], "startedAt")


# --- StartNextPendingJobExecution (§8 item 3) --------------------------------------------


@kinds
def test_mqtt_start_next_pending_job_execution_starts_the_oldest(iot, devices, kind):
    make_job(iot, "job-1", ["t1"])
    make_job(iot, "job-2", ["t1"], create_things=False)
    d = devices(kind, "t1")

    r = d.start_next(status_details={"step": "download"})
    assert r.client_token == d.last_client_token
    assert near_now(r.timestamp)
    ex = r.execution
    assert (ex.job_id, ex.thing_name, ex.status) == ("job-1", "t1", "IN_PROGRESS")
    assert (ex.version_number, ex.execution_number) == (2, 1)
    assert ex.job_document == DOC  # an object over MQTT, not a string
    assert ex.status_details == {"step": "download"}
    for t in (ex.queued_at, ex.started_at, ex.last_updated_at):
        assert near_now(t)
    assert_raw_execution(answer(d, "start_next")["execution"])
    cp = execution(iot, "t1", "job-1")
    assert (cp["status"], cp["versionNumber"]) == ("IN_PROGRESS", 2)

    # again: the IN_PROGRESS execution, unchanged (status details not replaced)
    again = d.start_next(status_details={"other": "x"}).execution
    assert (again.job_id, again.status, again.version_number) == ("job-1", "IN_PROGRESS", 2)
    assert again.status_details == {"step": "download"}
    assert execution(iot, "t1", "job-2")["status"] == "QUEUED"


@kinds
def test_mqtt_start_next_pending_job_execution_with_nothing_pending(iot, devices, kind):
    make_job(iot, "job-1", ["t1"])
    iot.cancel_job_execution(jobId="job-1", thingName="t1")
    d = devices(kind, "t1")
    r = d.start_next()
    assert r.execution is None
    assert r.client_token == d.last_client_token
    assert near_now(r.timestamp)
    assert "execution" not in answer(d, "start_next")


@kinds
def test_mqtt_start_next_pending_job_execution_invalid_request(iot, devices, kind):
    make_job(iot, "job-1", ["t1"])
    before = snapshot(iot, "t1", "job-1")
    d = devices(kind, "t1")
    expect_rejected(d, "InvalidRequest", d.start_next, step_timeout_in_minutes=0)
    expect_rejected(d, "InvalidRequest", d.start_next,
                    status_details={f"k{i}": "v" for i in range(11)})
    assert snapshot(iot, "t1", "job-1") == before


# --- DescribeJobExecution (§8 item 4) ----------------------------------------------------


@kinds
def test_mqtt_describe_job_execution_next_with_nothing_pending(iot, devices, kind):
    make_job(iot, "job-1", ["t1"])
    iot.cancel_job_execution(jobId="job-1", thingName="t1")  # finished: never `$next`
    d = devices(kind, "t1")
    r = d.describe("$next")
    assert r.execution is None
    assert r.client_token == d.last_client_token
    assert near_now(r.timestamp)
    assert "execution" not in answer(d, "describe", "$next")


@kinds
def test_mqtt_describe_job_execution_next_does_not_start_it(iot, devices, kind):
    make_job(iot, "job-1", ["t1"])
    make_job(iot, "job-2", ["t1"], create_things=False)
    before = snapshot(iot, "t1", "job-1")
    d = devices(kind, "t1")
    for _ in range(2):
        ex = d.describe("$next").execution
        assert (ex.job_id, ex.status, ex.version_number) == ("job-1", "QUEUED", 1)
        assert ex.job_document == DOC  # includeJobDocument defaults to true
        assert_raw_execution(answer(d, "describe", "$next")["execution"])
    assert snapshot(iot, "t1", "job-1") == before
    # an IN_PROGRESS execution comes first
    d.update("job-2", "IN_PROGRESS")
    ex = d.describe("$next").execution
    assert (ex.job_id, ex.status, ex.version_number) == ("job-2", "IN_PROGRESS", 2)


@kinds
def test_mqtt_describe_job_execution_by_job_id(iot, devices, kind):
    make_job(iot, "job-1", ["t1"])
    d = devices(kind, "t1")
    r = d.describe("job-1")
    assert r.client_token == d.last_client_token
    ex = r.execution
    assert (ex.job_id, ex.thing_name, ex.status) == ("job-1", "t1", "QUEUED")
    assert (ex.version_number, ex.execution_number) == (1, 1)
    assert ex.job_document == DOC
    assert near_now(ex.queued_at) and ex.started_at is None
    assert_raw_execution(answer(d, "describe", "job-1")["execution"])

    ex = d.describe("job-1", include_job_document=False, execution_number=1).execution
    assert ex.job_id == "job-1" and ex.job_document is None
    assert_raw_execution(answer(d, "describe", "job-1")["execution"], document=False)


@kinds
def test_mqtt_describe_job_execution_unknown_is_resource_not_found(iot, devices, kind):
    make_job(iot, "job-1", ["t2"])  # a job of another thing
    iot.create_thing(thingName="t1")
    d = devices(kind, "t1")
    expect_rejected(d, "ResourceNotFound", d.describe, "nope")
    expect_rejected(d, "ResourceNotFound", d.describe, "job-1")
    make_job(iot, "job-3", ["t1"], create_things=False)
    expect_rejected(d, "ResourceNotFound", d.describe, "job-3", execution_number=2)
    # UpdateJobExecution of an execution that does not exist: the same code
    expect_rejected(d, "ResourceNotFound", d.update, "nope", "IN_PROGRESS")
    assert execution(iot, "t2", "job-1")["status"] == "QUEUED"


@kinds
def test_mqtt_describe_job_execution_finished_is_terminal_state_reached(iot, devices, kind):
    """Our choice, as on the HTTP data plane (410 TerminalStateException): a finished
    execution named by its jobId → TerminalStateReached."""
    make_job(iot, "job-1", ["t1"])
    make_job(iot, "job-2", ["t1"], create_things=False)
    iot.cancel_job_execution(jobId="job-1", thingName="t1")  # QUEUED → CANCELED
    d = devices(kind, "t1")
    expect_rejected(d, "TerminalStateReached", d.describe, "job-1")
    d.start_next()  # job-2
    d.update("job-2", "SUCCEEDED")
    expect_rejected(d, "TerminalStateReached", d.describe, "job-2")
    assert d.describe("$next").execution is None


# --- UpdateJobExecution (§8 item 5) ------------------------------------------------------


@kinds
def test_mqtt_update_job_execution_succeeded(iot, devices, kind):
    make_job(iot, "job-1", ["t1"])
    d = devices(kind, "t1")
    assert d.start_next().execution.version_number == 2
    r = d.update("job-1", "SUCCEEDED", status_details={"result": "ok"}, expected_version=2)
    assert r.client_token == d.last_client_token
    assert near_now(r.timestamp)
    # includeJobExecutionState and includeJobDocument default to false
    assert r.execution_state is None and r.job_document is None
    body = answer(d, "update", "job-1")
    assert "executionState" not in body and "jobDocument" not in body
    cp = execution(iot, "t1", "job-1")
    assert (cp["status"], cp["versionNumber"]) == ("SUCCEEDED", 3)
    assert cp["statusDetails"]["detailsMap"] == {"result": "ok"}
    assert job(iot, "job-1")["status"] == "COMPLETED"


@kinds
def test_mqtt_update_job_execution_with_state_and_document(iot, devices, kind):
    make_job(iot, "job-1", ["t1"])
    d = devices(kind, "t1")
    r = d.update("job-1", "IN_PROGRESS", status_details={"step": "1"},
                 include_job_execution_state=True, include_job_document=True)
    st = r.execution_state
    assert (st.status, st.version_number, st.status_details) == ("IN_PROGRESS", 2, {"step": "1"})
    assert r.job_document == DOC
    body = answer(d, "update", "job-1")
    assert isinstance(body["jobDocument"], dict)
    assert type(body["executionState"]["versionNumber"]) is int

    # only what was asked for
    r = d.update("job-1", "IN_PROGRESS", include_job_execution_state=True)
    assert r.execution_state.version_number == 3 and r.job_document is None
    assert r.execution_state.status_details == {"step": "1"}  # absent: unchanged


@kinds
def test_mqtt_update_job_execution_wrong_expected_version_is_version_mismatch(iot, devices, kind):
    make_job(iot, "job-1", ["t1"])
    d = devices(kind, "t1")
    d.start_next(status_details={"step": "flash"})
    before = snapshot(iot, "t1", "job-1")
    for stale in (1, 3):
        e = expect_rejected(d, "VersionMismatch", d.update, "job-1", "SUCCEEDED",
                            expected_version=stale)
        st = e.error.execution_state
        assert (st.status, st.version_number) == ("IN_PROGRESS", 2)
        assert st.status_details == {"step": "flash"}
    assert snapshot(iot, "t1", "job-1") == before
    d.update("job-1", "SUCCEEDED", expected_version=2)
    assert execution(iot, "t1", "job-1")["status"] == "SUCCEEDED"


@kinds
def test_mqtt_update_job_execution_invalid_status(iot, devices, kind):
    """Not a status at all → InvalidRequest. A status only the service sets (QUEUED,
    CANCELED, ...) → InvalidStateTransition, as the HTTP data plane answers 409
    InvalidStateTransitionException for it (one implementation for both); refused before
    any lookup, so without executionState (test_fidelity.py)."""
    make_job(iot, "job-1", ["t1"])
    before = snapshot(iot, "t1", "job-1")
    d = devices(kind, "t1")
    expect_rejected(d, "InvalidRequest", d.update, "job-1", "BOGUS")
    for status in ("QUEUED", "CANCELED"):
        e = expect_rejected(d, "InvalidStateTransition", d.update, "job-1", status,
                            with_state=False)
        assert e.error.execution_state is None
    assert snapshot(iot, "t1", "job-1") == before


@kinds
def test_mqtt_update_job_execution_after_forced_cancel_is_invalid_state_transition(
        iot, devices, kind):
    make_job(iot, "job-1", ["t1"])
    d = devices(kind, "t1")
    d.start_next(status_details={"step": "flash"})
    iot.cancel_job_execution(jobId="job-1", thingName="t1", force=True)
    before = snapshot(iot, "t1", "job-1")
    cp = execution(iot, "t1", "job-1")
    for status in ("SUCCEEDED", "IN_PROGRESS"):
        e = expect_rejected(d, "InvalidStateTransition", d.update, "job-1", status)
        st = e.error.execution_state
        assert st.status == "CANCELED"
        assert st.version_number == cp["versionNumber"] == 3
        assert st.status_details == {"step": "flash"}
    # a stale expectedVersion still gets the terminal-state answer
    expect_rejected(d, "InvalidStateTransition", d.update, "job-1", "SUCCEEDED",
                    expected_version=2)
    assert snapshot(iot, "t1", "job-1") == before


# --- notify / notify-next (§8 item 6; research note §2.6) --------------------------------


@kinds
def test_mqtt_notifications_follow_the_pending_list(iot, devices, kind):
    """notify fires when the membership of the pending list changes, notify-next when the
    identity of the `$next` execution changes. Each topic is checked as an exact sequence:
    an extra notification shows up as a mismatch at the next step (the marker at the end
    closes the sequence)."""
    iot.create_thing(thingName="t1")
    d = devices(kind, "t1")
    notify = d.subscribe_notify()
    nn = d.subscribe_notify_next()

    # a first job: notify + notify-next
    make_job(iot, "job-1", ["t1"], create_things=False)
    expect_notify(notify, queued=["job-1"])
    expect_notify_next(nn, "job-1", "QUEUED", thing="t1")

    # a second job: notify only (the head stays job-1)
    make_job(iot, "job-2", ["t1"], create_things=False)
    expect_notify(notify, queued=["job-1", "job-2"])

    # CancelJobExecution of the QUEUED head: notify + notify-next naming job-2
    iot.cancel_job_execution(jobId="job-1", thingName="t1")
    expect_notify(notify, queued=["job-2"])
    expect_notify_next(nn, "job-2", "QUEUED")

    make_job(iot, "job-3", ["t1"], create_things=False)
    expect_notify(notify, queued=["job-2", "job-3"])

    # StartNext of the head: same members, same head → neither fires
    assert d.start_next().execution.job_id == "job-2"

    # forced cancel of the IN_PROGRESS head: notify + notify-next naming job-3
    iot.cancel_job_execution(jobId="job-2", thingName="t1", force=True)
    expect_notify(notify, queued=["job-3"])
    expect_notify_next(nn, "job-3", "QUEUED")

    # the last pending execution becomes terminal: `jobs == {}`, notify-next without execution
    d.update("job-3", "SUCCEEDED")
    expect_notify(notify)
    expect_notify_next(nn, None)

    # marker: closes both sequences
    make_job(iot, "job-4", ["t1"], create_things=False)
    expect_notify(notify, queued=["job-4"])
    expect_notify_next(nn, "job-4", "QUEUED")
    assert_raw_notifications(d)


@kinds
def test_mqtt_notifications_in_progress_entries_come_first(iot, devices, kind):
    """A non-first QUEUED execution set IN_PROGRESS becomes the head: notify-next fires;
    the membership is unchanged, so notify does not."""
    iot.create_thing(thingName="t1")
    d = devices(kind, "t1")
    notify = d.subscribe_notify()
    nn = d.subscribe_notify_next()
    make_job(iot, "job-1", ["t1"], create_things=False)
    expect_notify(notify, queued=["job-1"])
    expect_notify_next(nn, "job-1", "QUEUED")
    make_job(iot, "job-2", ["t1"], create_things=False)
    expect_notify(notify, queued=["job-1", "job-2"])

    d.update("job-2", "IN_PROGRESS")
    ev = expect_notify_next(nn, "job-2", "IN_PROGRESS")
    assert ev.execution.version_number == 2

    # marker: a third job changes the membership only, and shows the order
    make_job(iot, "job-3", ["t1"], create_things=False)
    expect_notify(notify, in_progress=["job-2"], queued=["job-1", "job-3"])
    # closes the notify-next sequence
    iot.cancel_job_execution(jobId="job-2", thingName="t1", force=True)
    expect_notify(notify, queued=["job-1", "job-3"])
    expect_notify_next(nn, "job-1", "QUEUED")
    assert_raw_notifications(d)


@kinds
def test_mqtt_notifications_cancel_job_notifies_every_target(iot, devices, kind):
    iot.create_thing(thingName="t1")
    iot.create_thing(thingName="t2")
    devs = [devices(kind, t) for t in ("t1", "t2")]
    logs = [(d.subscribe_notify(), d.subscribe_notify_next()) for d in devs]
    iot.create_job(jobId="job-1", targets=[thing_arn("t1"), thing_arn("t2")],
                   document=json.dumps(DOC))
    for (notify, nn), thing in zip(logs, ("t1", "t2")):
        expect_notify(notify, queued=["job-1"])
        expect_notify_next(nn, "job-1", "QUEUED", thing=thing)

    iot.cancel_job(jobId="job-1")
    for notify, nn in logs:
        expect_notify(notify)
        expect_notify_next(nn, None)
    for d in devs:
        assert_raw_notifications(d)


@kinds
def test_mqtt_notifications_delete_job_force_notifies_every_target(iot, devices, kind):
    # DeleteJob --force removes pending executions: their devices are told as for a
    # cancel (mqtt-research "Cancellation cases": DeleteJob force, same as a cancel).
    iot.create_thing(thingName="t1")
    iot.create_thing(thingName="t2")
    devs = [devices(kind, t) for t in ("t1", "t2")]
    logs = [(d.subscribe_notify(), d.subscribe_notify_next()) for d in devs]
    iot.create_job(jobId="job-1", targets=[thing_arn("t1"), thing_arn("t2")],
                   document=json.dumps(DOC))
    for (notify, nn), thing in zip(logs, ("t1", "t2")):
        expect_notify(notify, queued=["job-1"])
        expect_notify_next(nn, "job-1", "QUEUED", thing=thing)
    make_job(iot, "job-2", ["t1"], create_things=False)
    expect_notify(logs[0][0], queued=["job-1", "job-2"])

    # (QUEUED -> IN_PROGRESS changes neither list's membership nor the head: no message)
    devs[1].update("job-1", "IN_PROGRESS")

    iot.delete_job(jobId="job-1", force=True)
    (n1, nn1), (n2, nn2) = logs
    expect_notify(n1, queued=["job-2"])
    expect_notify_next(nn1, "job-2", "QUEUED", thing="t1")
    expect_notify(n2)
    expect_notify_next(nn2, None)
    for d in devs:
        assert_raw_notifications(d)


# --- protocol edges (§8 item 9) ----------------------------------------------------------


@raw_kinds
def test_mqtt_get_pending_job_executions_empty_payload_is_accepted(iot, devices, raw_kind):
    make_job(iot, "job-1", ["t1"])
    d = devices(raw_kind, "t1")
    suffix, body = d.raw_request(jobs_topic("t1", "get"), b"", answer="accepted")
    assert suffix == "accepted", body
    assert "clientToken" not in body  # none was sent
    assert_seconds(body["timestamp"])
    assert [j["jobId"] for j in body["queuedJobs"]] == ["job-1"]

    suffix, body = d.raw_request(jobs_topic("t1", "$next", "get"), b"", answer="accepted")
    assert suffix == "accepted", body
    assert body["execution"]["jobId"] == "job-1"
    assert_raw_execution(body["execution"])


@raw_kinds
@pytest.mark.parametrize("payload", [b"{not json", b"\xff\xfe{}"], ids=["not-json", "not-utf8"])
def test_mqtt_request_not_json_is_invalid_json(iot, devices, raw_kind, payload):
    make_job(iot, "job-1", ["t1"])
    before = snapshot(iot, "t1", "job-1")
    d = devices(raw_kind, "t1")
    for levels in (("get",), ("start-next",), ("job-1", "update")):
        suffix, body = d.raw_request(jobs_topic("t1", *levels), payload, answer="rejected")
        assert (suffix, body["code"]) == ("rejected", "InvalidJson"), (levels, body)
        assert isinstance(body["message"], str)
        assert_seconds(body["timestamp"])
        assert "clientToken" not in body and "executionState" not in body
    assert snapshot(iot, "t1", "job-1") == before


@raw_kinds
def test_mqtt_unknown_jobs_topic_is_invalid_topic(iot, devices, raw_kind):
    """A publish under $aws/things/{thing}/jobs/ that maps to no operation → InvalidTopic,
    answered on `<topic>/rejected` (research note §2.1, §2.9)."""
    make_job(iot, "job-1", ["t1"])
    before = snapshot(iot, "t1", "job-1")
    d = devices(raw_kind, "t1")
    for levels in (("foo",), ("job-1", "bogus"), ("job-1", "update", "extra")):
        topic = jobs_topic("t1", *levels)
        suffix, body = d.raw_request(topic, b'{"status":"SUCCEEDED"}', answer="rejected")
        assert (suffix, body["code"]) == ("rejected", "InvalidTopic"), (topic, body)
        assert_seconds(body["timestamp"])
        assert "executionState" not in body
    assert snapshot(iot, "t1", "job-1") == before


def test_mqtt_get_pending_job_executions_client_token_verbatim_or_omitted(iot, devices):
    """V1 lets the device choose the clientToken: echoed verbatim; absent → absent."""
    make_job(iot, "job-1", ["t1"])
    d = devices("v1-mqtt3", "t1")
    token = 'älpha/β #+ "q" \\ 日本'
    assert d.get_pending(client_token=token).client_token == token
    assert d.raw.for_token(jobs_topic("t1", "get", "accepted"), token)["clientToken"] == token

    mark = len(d.raw)
    r = d.get_pending(client_token=None)
    assert r.client_token is None
    body = d.raw.json(jobs_topic("t1", "get", "accepted"), since=mark)
    assert "clientToken" not in body
    assert [j["jobId"] for j in body["queuedJobs"]] == ["job-1"]

    mark = len(d.raw)
    with pytest.raises(Rejected) as info:
        d.update("nope", "IN_PROGRESS", client_token=None)
    assert info.value.code == "ResourceNotFound"
    body = d.raw.json(jobs_topic("t1", "nope", "update", "rejected"), since=mark)
    assert "clientToken" not in body


@raw_kinds
def test_mqtt_qos1_requests_are_acknowledged_and_subscriptions_granted_at_most_qos1(
        iot, devices, raw_kind):
    make_job(iot, "job-1", ["t1"])
    d = devices(raw_kind, "t1")
    assert d.subscribe_raw(jobs_topic("t1", "notify"), 1) == 1
    assert d.subscribe_raw(jobs_topic("t1", "get", "accepted"), 0) == 0
    if raw_kind == "mqtt3":  # the MQTT 5 client itself refuses a QoS 2 SUBSCRIBE
        assert d.subscribe_raw(jobs_topic("t1", "get", "rejected"), 2) <= 1
    else:
        d.subscribe_raw(jobs_topic("t1", "get", "rejected"), 1)
    # a QoS 1 request is PUBACKed (MQTT 5: a success reason code) and answered
    code = d.publish_raw(jobs_topic("t1", "get"), b'{"clientToken":"q1"}', 1)
    if raw_kind == "mqtt5":
        assert int(code) < 0x80, code
    assert d.raw.for_token(jobs_topic("t1", "get", "accepted"), "q1")["queuedJobs"]
    # a QoS 0 request is answered too
    d.publish_raw(jobs_topic("t1", "get"), b'{"clientToken":"q0"}', 0)
    assert d.raw.for_token(jobs_topic("t1", "get", "accepted"), "q0")["queuedJobs"]


# --- authorization (may land later than the rest) ----------------------------------------


@raw_kinds
def test_mqtt_authz_subscribe_to_another_things_topics_is_refused(iot, devices, raw_kind):
    """Development mode: the client id is the thing; it may only use its own thing's
    topics. A SUBSCRIBE to another thing's (or every thing's) jobs topics gets a SUBACK
    failure."""
    iot.create_thing(thingName="t1")
    make_job(iot, "job-1", ["t2"])
    for topic in (jobs_topic("t2", "notify-next"), jobs_topic("t2", "get", "+"),
                  "$aws/things/+/jobs/notify", jobs_topic("t2", "#")):
        # a fresh connection each time: a server may close one after refusals
        d = devices(raw_kind, "t1")
        assert d.subscribe_raw(jobs_topic("t1", "notify-next"), 1) == 1
        with pytest.raises(SubscribeRefused):
            d.subscribe_raw(topic, 1)
        d.close()


# --- the README device, end to end -------------------------------------------------------


def test_mqtt_readme_device_reacts_to_forced_cancel_job_execution(
        iot, devices, mqtt_server, iotjobs_bin, tmp_path):
    """A V2 / MQTT 5 device runs fw-1; the operator force-cancels it with
    `iotjobs iot cancel-job-execution --force`; the device hears notify-next and its next
    update is rejected with InvalidStateTransition, executionState CANCELED."""
    iot.create_thing(thingName="dev1")
    d = devices("v2-mqtt5", "dev1")
    nn = d.subscribe_notify_next()
    document = {"operation": "firmware-update", "version": "2.1"}
    iot.create_job(jobId="fw-1", targets=[thing_arn("dev1")], document=json.dumps(document))

    # the device hears of the job and takes it
    ev = event(nn)
    assert (ev.execution.job_id, ev.execution.status) == ("fw-1", "QUEUED")
    ex = d.start_next(status_details={"progress": "downloading"}).execution
    assert (ex.job_id, ex.status, ex.version_number) == ("fw-1", "IN_PROGRESS", 2)
    assert ex.job_document == document
    d.update("fw-1", "IN_PROGRESS", status_details={"progress": "flashing"}, expected_version=2)

    # the operator, with the iotjobs binary
    p = subprocess.run(
        [str(iotjobs_bin), "iot", "cancel-job-execution", "--job-id", "fw-1",
         "--thing-name", "dev1", "--force", "--status-details", "reason=recall",
         "--endpoint-url", mqtt_server.endpoint],
        env=_clean_env(tmp_path), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=60, cwd=tmp_path,
    )
    assert (p.returncode, p.stdout) == (0, ""), p.stderr

    # nothing else is pending: notify-next without an execution
    ev = event(nn)
    assert ev.execution is None

    # the device's next update is refused; it learns the execution was canceled
    e = expect_rejected(d, "InvalidStateTransition", d.update, "fw-1", "SUCCEEDED")
    cp = execution(iot, "dev1", "fw-1")
    assert (cp["status"], cp["forceCanceled"], cp["versionNumber"]) == ("CANCELED", True, 4)
    st = e.error.execution_state
    assert (st.status, st.version_number) == ("CANCELED", cp["versionNumber"])
    assert st.status_details == (cp.get("statusDetails", {}).get("detailsMap") or {})
    assert d.describe("$next").execution is None


def test_mqtt_readme_example_device_script(iot, mqtt_server, iotjobs_bin, tmp_path):
    """`examples/device.py`, the README's device, run as the README says: it takes the
    job, reports progress, and ends on the operator's forced cancel
    (`iotjobs iot cancel-job-execution --force`)."""
    iot.create_thing(thingName="dev1")
    iot.create_job(jobId="fw-1", targets=[thing_arn("dev1")],
                   document=json.dumps({"operation": "firmware-update", "version": "2.1"}))
    script = Path(__file__).resolve().parents[2] / "examples" / "device.py"
    device = subprocess.Popen(
        [sys.executable, str(script), "--thing", "dev1", "--port", str(mqtt_server.mqtt_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )
    try:
        first = device.stdout.readline()
        assert first.startswith("started: fw-1 {"), first
        p = subprocess.run(
            [str(iotjobs_bin), "iot", "cancel-job-execution", "--job-id", "fw-1",
             "--thing-name", "dev1", "--force", "--endpoint-url", mqtt_server.endpoint],
            env=_clean_env(tmp_path), stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=60, cwd=tmp_path,
        )
        assert p.returncode == 0, p.stderr
        out, _ = device.communicate(timeout=30)
    finally:
        if device.poll() is None:
            device.kill()
    assert device.returncode == 0, out
    assert out.strip().splitlines()[-1] == "InvalidStateTransition: CANCELED", out
    assert execution(iot, "dev1", "fw-1")["status"] == "CANCELED"
