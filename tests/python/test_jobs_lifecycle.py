"""Job lifecycle through boto3: CancelJob over mixed execution states, DeleteJob (and
job id reuse), UpdateJob, GetJobDocument, ListJobs filters and pagination, and a
real-time smoke check of the timeouts (wire spec §4, §6.7, §6.8, §6.10, §7 #14)."""

import json
import time

import pytest

from iotjobs_helpers import (
    exact_counters,
    execution,
    finish_execution,
    job,
    job_arn,
    make_group_job,
    make_job,
    raises_aws,
    start_execution,
)

DELETE_WAIT_S = 5.0

# One execution in every state CancelJob has to deal with.
MIX = {
    "q1": "QUEUED",
    "q2": "QUEUED",
    "p1": "IN_PROGRESS",
    "p2": "IN_PROGRESS",
    "s1": "SUCCEEDED",
    "f1": "FAILED",
    "r1": "REJECTED",
    "c1": "CANCELED",
}
PENDING = ("q1", "q2", "p1", "p2")
TERMINAL = ("s1", "f1", "r1", "c1")


def mixed_job(iot, jobs_data, job_id="mix") -> dict:
    """A SNAPSHOT job over the MIX things, each execution brought to its MIX status.
    Returns {thing: execution} as it stands before the test acts."""
    make_job(iot, job_id, sorted(MIX), description="firmware 1.2")
    for thing in ("p1", "p2", "s1", "r1"):
        start_execution(jobs_data, thing, job_id)
    finish_execution(jobs_data, "s1", job_id, "SUCCEEDED")
    finish_execution(jobs_data, "f1", job_id, "FAILED")  # QUEUED -> FAILED is allowed
    finish_execution(jobs_data, "r1", job_id, "REJECTED")
    iot.cancel_job_execution(jobId=job_id, thingName="c1")
    before = {t: execution(iot, t, job_id) for t in MIX}
    assert {t: e["status"] for t, e in before.items()} == MIX
    exact_counters(iot, job_id, Queued=2, InProgress=2, Succeeded=1, Failed=1, Rejected=1, Canceled=1)
    assert job(iot, job_id)["status"] == "IN_PROGRESS"
    return before


def assert_untouched(iot, job_id, before, things):
    for t in things:
        now = execution(iot, t, job_id)
        for key in ("status", "versionNumber", "lastUpdatedAt", "forceCanceled"):
            assert now.get(key) == before[t].get(key), (t, key)


# --- CancelJob ---------------------------------------------------------------------


def test_cancel_job_without_force_cancels_queued_only(iot, jobs_data):
    before = mixed_job(iot, jobs_data)

    resp = iot.cancel_job(jobId="mix", reasonCode="FW_RECALL", comment="bad build")
    assert resp["jobId"] == "mix"
    assert resp["jobArn"] == job_arn("mix")
    assert resp["description"] == "firmware 1.2"

    for t in ("q1", "q2"):
        e = execution(iot, t, "mix")
        assert e["status"] == "CANCELED"
        assert e.get("forceCanceled", False) is False
        assert e["versionNumber"] == before[t]["versionNumber"] + 1
    # IN_PROGRESS executions keep running; terminal ones are not touched
    assert_untouched(iot, "mix", before, ("p1", "p2") + TERMINAL)

    j = job(iot, "mix")
    assert j["status"] == "CANCELED"
    assert j.get("forceCanceled", False) is False
    assert (j["reasonCode"], j["comment"]) == ("FW_RECALL", "bad build")
    exact_counters(iot, "mix", Canceled=3, InProgress=2, Succeeded=1, Failed=1, Rejected=1)

    # the canceled executions are no longer pending for their devices
    pending = jobs_data.get_pending_job_executions(thingName="q1")
    assert pending["queuedJobs"] == [] and pending["inProgressJobs"] == []
    # a device whose execution was left running can still finish it
    finish_execution(jobs_data, "p1", "mix", "SUCCEEDED")
    assert execution(iot, "p1", "mix")["status"] == "SUCCEEDED"
    exact_counters(iot, "mix", Canceled=3, InProgress=1, Succeeded=2, Failed=1, Rejected=1)
    assert job(iot, "mix")["status"] == "CANCELED"  # a canceled job stays canceled

    # canceling again without force: 400, nothing changes
    snap = {t: execution(iot, t, "mix") for t in MIX}
    with raises_aws("InvalidRequestException", 400):
        iot.cancel_job(jobId="mix")
    assert_untouched(iot, "mix", snap, MIX)
    assert job(iot, "mix")["status"] == "CANCELED"

    # with force (it was not forced before): upgrades and cancels the running one
    iot.cancel_job(jobId="mix", force=True)
    p2 = execution(iot, "p2", "mix")
    assert p2["status"] == "CANCELED"
    assert p2["forceCanceled"] is True
    assert p2["versionNumber"] == snap["p2"]["versionNumber"] + 1
    assert_untouched(iot, "mix", snap, ("q1", "q2", "p1") + TERMINAL)
    j = job(iot, "mix")
    assert (j["status"], j["forceCanceled"]) == ("CANCELED", True)
    exact_counters(iot, "mix", Canceled=4, Succeeded=2, Failed=1, Rejected=1)

    # a forced cancel cannot be repeated, with or without force
    for force in (True, False):
        with raises_aws("InvalidRequestException", 400):
            iot.cancel_job(jobId="mix", force=force)
    exact_counters(iot, "mix", Canceled=4, Succeeded=2, Failed=1, Rejected=1)


def test_cancel_job_with_force_cancels_queued_and_in_progress(iot, jobs_data):
    before = mixed_job(iot, jobs_data)

    resp = iot.cancel_job(jobId="mix", force=True, reasonCode="EMERGENCY")
    assert (resp["jobId"], resp["jobArn"]) == ("mix", job_arn("mix"))

    for t in PENDING:
        e = execution(iot, t, "mix")
        assert e["status"] == "CANCELED", t
        assert e["versionNumber"] == before[t]["versionNumber"] + 1, t
    for t in ("p1", "p2"):
        assert execution(iot, t, "mix")["forceCanceled"] is True
    assert_untouched(iot, "mix", before, TERMINAL)

    j = job(iot, "mix")
    assert (j["status"], j["forceCanceled"], j["reasonCode"]) == ("CANCELED", True, "EMERGENCY")
    assert "comment" not in j
    exact_counters(iot, "mix", Canceled=5, Succeeded=1, Failed=1, Rejected=1)

    # the device of a force-canceled execution can no longer update it
    with raises_aws("InvalidStateTransitionException", 409):
        finish_execution(jobs_data, "p1", "mix", "SUCCEEDED")
    for force in (False, True):
        with raises_aws("InvalidRequestException", 400):
            iot.cancel_job(jobId="mix", force=force)
    exact_counters(iot, "mix", Canceled=5, Succeeded=1, Failed=1, Rejected=1)


def test_snapshot_job_completes_when_last_execution_is_force_canceled(iot, jobs_data):
    """Counters and completion under a forced CancelJobExecution (not CancelJob: a
    canceled job keeps the status CANCELED)."""
    make_job(iot, "j1", ["a", "b"])
    finish_execution(jobs_data, "a", "j1", "SUCCEEDED")
    start_execution(jobs_data, "b", "j1")
    assert job(iot, "j1")["status"] == "IN_PROGRESS"
    iot.cancel_job_execution(jobId="j1", thingName="b", force=True)
    j = job(iot, "j1")
    assert j["status"] == "COMPLETED"
    assert "completedAt" in j
    exact_counters(iot, "j1", Succeeded=1, Canceled=1)


def test_cancel_completed_job_is_400(iot, jobs_data):
    """CancelJob on a COMPLETED job is 400 whatever `force` says; nothing changes."""
    make_job(iot, "done", ["d1"])
    finish_execution(jobs_data, "d1", "done", "SUCCEEDED")
    j = job(iot, "done")
    assert j["status"] == "COMPLETED"
    for force in (False, True):
        with raises_aws("InvalidRequestException", 400):
            iot.cancel_job(jobId="done", force=force)
    j2 = job(iot, "done")
    assert j2["status"] == "COMPLETED"
    assert "reasonCode" not in j2 and j2.get("forceCanceled", False) is False
    exact_counters(iot, "done", Succeeded=1)


def test_cancel_job_unknown_and_invalid(iot, iot_unchecked):
    with raises_aws("ResourceNotFoundException", 404):
        iot.cancel_job(jobId="nope")
    make_job(iot, "j1", ["t1"])
    # reasonCode is [\p{Upper}\p{Digit}_]+ in the model
    with raises_aws("InvalidRequestException", 400):
        iot_unchecked.cancel_job(jobId="j1", reasonCode="not upper case")
    assert job(iot, "j1")["status"] == "IN_PROGRESS"
    assert execution(iot, "t1", "j1")["status"] == "QUEUED"


def test_cancel_job_through_the_cli(iot, aws):
    make_job(iot, "cli-1", ["t1"], description="d")
    rc, out, err = aws("iot", "cancel-job", "--job-id", "cli-1", "--reason-code", "R1", "--comment", "c")
    assert rc == 0, err
    assert json.loads(out) == {"jobArn": job_arn("cli-1"), "jobId": "cli-1", "description": "d"}
    assert execution(iot, "t1", "cli-1")["status"] == "CANCELED"
    rc, out, err = aws("iot", "cancel-job", "--job-id", "cli-1")
    assert rc == 255 and "(InvalidRequestException)" in err, err


# --- DeleteJob ---------------------------------------------------------------------


def wait_deleted(iot, job_id: str) -> None:
    """DELETION_IN_PROGRESS while it lasts, then DescribeJob 404 within DELETE_WAIT_S."""
    deadline = time.monotonic() + DELETE_WAIT_S
    while True:
        try:
            status = job(iot, job_id)["status"]
        except iot.exceptions.ResourceNotFoundException:
            return
        assert status == "DELETION_IN_PROGRESS"
        assert time.monotonic() < deadline, f"job {job_id} still exists after {DELETE_WAIT_S}s"
        time.sleep(0.05)


def test_delete_in_progress_job_without_force_is_409(iot):
    make_job(iot, "j1", ["t1"])
    with raises_aws("InvalidStateTransitionException", 409):
        iot.delete_job(jobId="j1")
    with raises_aws("InvalidStateTransitionException", 409):
        iot.delete_job(jobId="j1", force=False)
    assert job(iot, "j1")["status"] == "IN_PROGRESS"
    assert execution(iot, "t1", "j1")["status"] == "QUEUED"


def test_delete_canceled_job_removes_job_and_executions(iot, jobs_data):
    make_job(iot, "j1", ["t1", "t2"])
    make_job(iot, "other", ["t1"], create_things=False)
    iot.cancel_job(jobId="j1")
    resp = iot.delete_job(jobId="j1")
    assert set(resp) == {"ResponseMetadata"}
    wait_deleted(iot, "j1")

    for t in ("t1", "t2"):
        with raises_aws("ResourceNotFoundException", 404):
            iot.describe_job_execution(jobId="j1", thingName=t)
    with raises_aws("ResourceNotFoundException", 404):
        iot.get_job_document(jobId="j1")
    with raises_aws("ResourceNotFoundException", 404):
        iot.list_job_executions_for_job(jobId="j1")
    listed = iot.list_job_executions_for_thing(thingName="t1")["executionSummaries"]
    assert [s["jobId"] for s in listed] == ["other"]
    assert [j["jobId"] for j in iot.list_jobs()["jobs"]] == ["other"]
    # the other job is untouched; the things still exist
    assert execution(iot, "t1", "other")["status"] == "QUEUED"
    iot.describe_thing(thingName="t2")
    with raises_aws("ResourceNotFoundException", 404):
        iot.delete_job(jobId="j1")


def test_delete_completed_job_then_reuse_its_id(iot, jobs_data):
    make_job(iot, "j1", ["t1"])
    finish_execution(jobs_data, "t1", "j1", "SUCCEEDED")
    assert job(iot, "j1")["status"] == "COMPLETED"
    iot.delete_job(jobId="j1")
    wait_deleted(iot, "j1")

    new_doc = {"op": "reboot"}
    make_job(iot, "j1", ["t1"], document=new_doc, create_things=False)
    j = job(iot, "j1")
    assert j["status"] == "IN_PROGRESS"
    exact_counters(iot, "j1", Queued=1)
    e = execution(iot, "t1", "j1")
    assert (e["status"], e["executionNumber"], e["versionNumber"]) == ("QUEUED", 1, 1)
    assert json.loads(iot.get_job_document(jobId="j1")["document"]) == new_doc
    nxt = jobs_data.start_next_pending_job_execution(thingName="t1")["execution"]
    assert nxt["jobId"] == "j1" and json.loads(nxt["jobDocument"]) == new_doc


def test_delete_in_progress_job_with_force(iot, jobs_data):
    make_job(iot, "j1", ["t1", "t2"])
    start_execution(jobs_data, "t1", "j1")
    iot.delete_job(jobId="j1", force=True)
    wait_deleted(iot, "j1")
    # the device can no longer see or update its execution
    pending = jobs_data.get_pending_job_executions(thingName="t1")
    assert pending["inProgressJobs"] == [] and pending["queuedJobs"] == []
    with raises_aws("ResourceNotFoundException", 404):
        finish_execution(jobs_data, "t1", "j1", "SUCCEEDED")
    assert jobs_data.start_next_pending_job_execution(thingName="t2").get("execution") is None


def test_delete_unknown_job_is_404(iot):
    with raises_aws("ResourceNotFoundException", 404):
        iot.delete_job(jobId="nope")
    with raises_aws("ResourceNotFoundException", 404):
        iot.delete_job(jobId="nope", force=True)


# --- UpdateJob, GetJobDocument -------------------------------------------------------

CONFIGS = {
    "timeoutConfig": {"inProgressTimeoutInMinutes": 30},
    "abortConfig": {
        "criteriaList": [
            {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 50.0,
             "minNumberOfExecutedThings": 2}
        ]
    },
    "jobExecutionsRolloutConfig": {
        "maximumPerMinute": 10,
        "exponentialRate": {
            "baseRatePerMinute": 5,
            "incrementFactor": 1.5,
            "rateIncreaseCriteria": {"numberOfNotifiedThings": 10},
        },
    },
    "presignedUrlConfig": {"roleArn": "arn:aws:iam::000000000000:role/jobs", "expiresInSec": 600},
    # after creation, numberOfRetries can only be updated to 0 (AWS; test_rollouts.py)
    "jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 0}]},
}


def test_update_job_stores_every_updatable_field(iot):
    make_job(iot, "j1", ["t1"], description="old")
    created = job(iot, "j1")

    resp = iot.update_job(jobId="j1", description="new", **CONFIGS)
    assert set(resp) == {"ResponseMetadata"}  # 200, no output shape

    j = job(iot, "j1")
    assert j["description"] == "new"
    for key, value in CONFIGS.items():
        assert j[key] == value, key
    assert j["lastUpdatedAt"] >= created["lastUpdatedAt"]
    assert j["createdAt"] == created["createdAt"]
    assert j["status"] == "IN_PROGRESS"
    exact_counters(iot, "j1", Queued=1)

    # a partial update replaces only what it names
    iot.update_job(jobId="j1", timeoutConfig={"inProgressTimeoutInMinutes": 45})
    j = job(iot, "j1")
    assert j["description"] == "new"
    assert j["timeoutConfig"] == {"inProgressTimeoutInMinutes": 45}
    assert j["abortConfig"] == CONFIGS["abortConfig"]
    assert j["jobExecutionsRetryConfig"] == CONFIGS["jobExecutionsRetryConfig"]


def test_update_job_errors(iot, iot_unchecked):
    with raises_aws("ResourceNotFoundException", 404):
        iot.update_job(jobId="nope", description="x")
    make_job(iot, "j1", ["t1"], description="old")
    # presignedUrlConfig.expiresInSec is 60-3600 in the model
    with raises_aws("InvalidRequestException", 400):
        iot_unchecked.update_job(jobId="j1", description="x",
                                 presignedUrlConfig={"roleArn": "arn:aws:iam::000000000000:role/r",
                                                     "expiresInSec": 30})
    assert job(iot, "j1")["description"] == "old"


def test_get_job_document(iot):
    doc = {"op": "install", "files": [{"url": "https://example.com/a.bin", "size": 12}]}
    make_job(iot, "j1", ["t1"], document=doc)
    resp = iot.get_job_document(jobId="j1")
    assert set(resp) == {"document", "ResponseMetadata"}
    assert json.loads(resp["document"]) == doc
    with raises_aws("ResourceNotFoundException", 404):
        iot.get_job_document(jobId="nope")


# --- ListJobs ------------------------------------------------------------------------


def ids(resp) -> list:
    return [j["jobId"] for j in resp["jobs"]]


@pytest.fixture
def five_jobs(iot, jobs_data):
    """a-snap (IN_PROGRESS), b-cont (CONTINUOUS over g1), c-canceled, d-done
    (COMPLETED), e-group2 (SNAPSHOT over g2), created in a shuffled order."""
    for g in ("g1", "g2"):
        iot.create_thing_group(thingGroupName=g)
    for t in ("t1", "t2", "t3"):
        iot.create_thing(thingName=t)
    iot.add_thing_to_thing_group(thingGroupName="g1", thingName="t2")
    iot.add_thing_to_thing_group(thingGroupName="g2", thingName="t3")
    make_job(iot, "d-done", ["t1"], create_things=False)
    make_group_job(iot, "e-group2", ["g2"])
    make_job(iot, "a-snap", ["t1"], create_things=False)
    make_group_job(iot, "b-cont", ["g1"], targetSelection="CONTINUOUS")
    make_job(iot, "c-canceled", ["t1"], create_things=False)
    iot.cancel_job(jobId="c-canceled")
    finish_execution(jobs_data, "t1", "d-done", "SUCCEEDED")
    assert job(iot, "d-done")["status"] == "COMPLETED"


def test_list_jobs_sorted_with_summaries(iot, five_jobs):
    resp = iot.list_jobs()
    assert ids(resp) == ["a-snap", "b-cont", "c-canceled", "d-done", "e-group2"]
    assert not resp.get("nextToken")
    by_id = {j["jobId"]: j for j in resp["jobs"]}
    for job_id, j in by_id.items():
        assert j["jobArn"] == job_arn(job_id)
        assert j["createdAt"] and j["lastUpdatedAt"]
    assert {k: (v["status"], v["targetSelection"]) for k, v in by_id.items()} == {
        "a-snap": ("IN_PROGRESS", "SNAPSHOT"),
        "b-cont": ("IN_PROGRESS", "CONTINUOUS"),
        "c-canceled": ("CANCELED", "SNAPSHOT"),
        "d-done": ("COMPLETED", "SNAPSHOT"),
        "e-group2": ("IN_PROGRESS", "SNAPSHOT"),
    }
    assert "completedAt" in by_id["d-done"]


def test_list_jobs_filters(iot, iot_unchecked, five_jobs):
    assert ids(iot.list_jobs(status="IN_PROGRESS")) == ["a-snap", "b-cont", "e-group2"]
    assert ids(iot.list_jobs(status="CANCELED")) == ["c-canceled"]
    assert ids(iot.list_jobs(status="COMPLETED")) == ["d-done"]
    assert ids(iot.list_jobs(status="DELETION_IN_PROGRESS")) == []
    assert ids(iot.list_jobs(targetSelection="CONTINUOUS")) == ["b-cont"]
    assert ids(iot.list_jobs(targetSelection="SNAPSHOT")) == ["a-snap", "c-canceled", "d-done", "e-group2"]
    assert ids(iot.list_jobs(thingGroupName="g1")) == ["b-cont"]
    assert ids(iot.list_jobs(thingGroupName="g2")) == ["e-group2"]
    assert ids(iot.list_jobs(thingGroupName="g2", status="COMPLETED")) == []
    assert ids(iot.list_jobs(targetSelection="SNAPSHOT", status="IN_PROGRESS")) == ["a-snap", "e-group2"]
    with raises_aws("InvalidRequestException", 400):
        iot.list_jobs(thingGroupId="0123-abcd")
    with raises_aws("InvalidRequestException", 400):
        iot_unchecked.list_jobs(status="RUNNING")


def test_list_jobs_pagination(iot, iot_unchecked, five_jobs):
    pages = []
    token = None
    while True:
        kwargs = {"maxResults": 2}
        if token:
            kwargs["nextToken"] = token
        resp = iot.list_jobs(**kwargs)
        pages.append(ids(resp))
        token = resp.get("nextToken")
        if not token:
            break
    assert pages == [["a-snap", "b-cont"], ["c-canceled", "d-done"], ["e-group2"]]
    # the paginator gets the same with a filter
    got = []
    for page in iot.get_paginator("list_jobs").paginate(
        targetSelection="SNAPSHOT", PaginationConfig={"PageSize": 1}
    ):
        got.extend(ids(page))
    assert got == ["a-snap", "c-canceled", "d-done", "e-group2"]
    for bad in (0, 251):
        with raises_aws("InvalidRequestException", 400):
            iot_unchecked.list_jobs(maxResults=bad)


# --- timeouts (real time: a smoke check only) ----------------------------------------


def test_timeouts_report_seconds_before_timed_out(iot, jobs_data):
    make_job(iot, "j1", ["t1", "t2", "t3"], timeoutConfig={"inProgressTimeoutInMinutes": 10})
    # not running yet: no timer
    queued = jobs_data.describe_job_execution(thingName="t1", jobId="j1")["execution"]
    assert "approximateSecondsBeforeTimedOut" not in queued
    assert "approximateSecondsBeforeTimedOut" not in execution(iot, "t1", "j1")

    # the job's in-progress timeout
    start_execution(jobs_data, "t1", "j1")
    data = jobs_data.describe_job_execution(thingName="t1", jobId="j1")["execution"]
    assert 590 <= data["approximateSecondsBeforeTimedOut"] <= 600
    control = execution(iot, "t1", "j1")
    assert 590 <= control["approximateSecondsBeforeTimedOut"] <= 600

    # a step timeout shorter than what is left of the in-progress timeout
    started = jobs_data.start_next_pending_job_execution(thingName="t2", stepTimeoutInMinutes=2)
    assert started["execution"]["jobId"] == "j1"
    data = jobs_data.describe_job_execution(thingName="t2", jobId="j1")["execution"]
    assert 110 <= data["approximateSecondsBeforeTimedOut"] <= 120
    assert 110 <= execution(iot, "t2", "j1")["approximateSecondsBeforeTimedOut"] <= 120

    # a new step timeout replaces the step timer
    jobs_data.update_job_execution(thingName="t2", jobId="j1", status="IN_PROGRESS",
                                   stepTimeoutInMinutes=5)
    data = jobs_data.describe_job_execution(thingName="t2", jobId="j1")["execution"]
    assert 290 <= data["approximateSecondsBeforeTimedOut"] <= 300

    # a step timeout longer than the in-progress timeout: the earlier deadline counts
    started = jobs_data.start_next_pending_job_execution(thingName="t3", stepTimeoutInMinutes=20)
    assert 590 <= started["execution"]["approximateSecondsBeforeTimedOut"] <= 600

    # finished: no timer any more
    finish_execution(jobs_data, "t1", "j1", "SUCCEEDED")
    assert "approximateSecondsBeforeTimedOut" not in execution(iot, "t1", "j1")
    exact_counters(iot, "j1", InProgress=2, Succeeded=1)


def test_job_without_timeout_reports_no_timer(iot, jobs_data):
    make_job(iot, "j1", ["t1"])
    start_execution(jobs_data, "t1", "j1")
    assert "approximateSecondsBeforeTimedOut" not in execution(iot, "t1", "j1")
    data = jobs_data.describe_job_execution(thingName="t1", jobId="j1")["execution"]
    assert "approximateSecondsBeforeTimedOut" not in data
