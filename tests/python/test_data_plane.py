"""The device data plane (`iot-jobs-data`) through boto3: StartNext, GetPending,
DescribeJobExecution (incl. `$next`), UpdateJobExecution, and how it meets the
operator's cancel (wire spec §4.2, §6.3, §6.4, §8)."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from iotjobs_helpers import (
    DOC,
    RawCapture,
    count,
    execution,
    job,
    make_job,
    raises_aws,
    snapshot,
)


def is_int(v) -> bool:
    return type(v) is int


def assert_epoch_seconds_int(v):
    assert is_int(v), f"{v!r} is not an integer"
    # seconds, not milliseconds
    assert abs(v - time.time()) < 600, f"{v} is not epoch seconds near now"


# --- StartNextPendingJobExecution ----------------------------------------------------


def test_start_next_returns_in_progress_execution_with_document(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    resp = jobs_data.start_next_pending_job_execution(thingName="t1")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    ex = resp["execution"]
    assert ex["jobId"] == "job-1"
    assert ex["thingName"] == "t1"
    assert ex["status"] == "IN_PROGRESS"
    assert ex["versionNumber"] == 2
    assert ex["executionNumber"] == 1
    assert json.loads(ex["jobDocument"]) == DOC
    for k in ("queuedAt", "startedAt", "lastUpdatedAt"):
        assert_epoch_seconds_int(ex[k])
    assert ex["startedAt"] >= ex["queuedAt"]

    # the control plane sees the same state
    cp = execution(iot, "t1", "job-1")
    assert (cp["status"], cp["versionNumber"]) == ("IN_PROGRESS", 2)
    assert count(iot, "job-1", "InProgress") == 1
    assert count(iot, "job-1", "Queued") == 0


def test_start_next_with_status_details(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    ex = jobs_data.start_next_pending_job_execution(
        thingName="t1", statusDetails={"step": "download"}, stepTimeoutInMinutes=10
    )["execution"]
    assert ex["statusDetails"] == {"step": "download"}


def test_start_next_again_returns_the_in_progress_execution_unchanged(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    make_job(iot, "job-2", ["t1"], create_things=False)
    first = jobs_data.start_next_pending_job_execution(
        thingName="t1", statusDetails={"a": "1"}
    )["execution"]
    assert first["jobId"] == "job-1"
    # IN_PROGRESS comes before QUEUED; its status details are not changed
    again = jobs_data.start_next_pending_job_execution(
        thingName="t1", statusDetails={"b": "2"}
    )["execution"]
    assert again["jobId"] == "job-1"
    assert again["versionNumber"] == 2
    assert again["statusDetails"] == {"a": "1"}
    assert execution(iot, "t1", "job-2")["status"] == "QUEUED"


def test_start_next_with_nothing_pending_has_no_execution(iot, jobs_data):
    iot.create_thing(thingName="t1")
    resp = jobs_data.start_next_pending_job_execution(thingName="t1")
    assert "execution" not in resp
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_start_next_picks_oldest_queued_first(iot, jobs_data):
    make_job(iot, "job-a", ["t1"])
    time.sleep(0.01)
    make_job(iot, "job-b", ["t1"], create_things=False)
    assert jobs_data.start_next_pending_job_execution(thingName="t1")["execution"]["jobId"] == "job-a"
    jobs_data.update_job_execution(jobId="job-a", thingName="t1", status="SUCCEEDED")
    assert jobs_data.start_next_pending_job_execution(thingName="t1")["execution"]["jobId"] == "job-b"


def test_data_plane_unknown_thing_is_not_found(jobs_data):
    with raises_aws("ResourceNotFoundException", 404):
        jobs_data.start_next_pending_job_execution(thingName="nope")
    with raises_aws("ResourceNotFoundException", 404):
        jobs_data.get_pending_job_executions(thingName="nope")
    with raises_aws("ResourceNotFoundException", 404):
        jobs_data.describe_job_execution(thingName="nope", jobId="$next")


# --- GetPendingJobExecutions -------------------------------------------------------


def test_get_pending_lists_in_progress_and_queued(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    make_job(iot, "job-2", ["t1"], create_things=False)
    make_job(iot, "job-3", ["t1"], create_things=False)
    jobs_data.start_next_pending_job_execution(thingName="t1")  # job-1
    jobs_data.update_job_execution(jobId="job-3", thingName="t1", status="REJECTED")

    resp = jobs_data.get_pending_job_executions(thingName="t1")
    assert [j["jobId"] for j in resp["inProgressJobs"]] == ["job-1"]
    assert [j["jobId"] for j in resp["queuedJobs"]] == ["job-2"]
    ip, q = resp["inProgressJobs"][0], resp["queuedJobs"][0]
    assert (ip["versionNumber"], ip["executionNumber"]) == (2, 1)
    assert (q["versionNumber"], q["executionNumber"]) == (1, 1)
    for k in ("queuedAt", "startedAt", "lastUpdatedAt"):
        assert_epoch_seconds_int(ip[k])
    for k in ("queuedAt", "lastUpdatedAt"):
        assert_epoch_seconds_int(q[k])
    assert "startedAt" not in q


def test_get_pending_for_thing_without_jobs_is_empty(iot, jobs_data):
    iot.create_thing(thingName="t1")
    resp = jobs_data.get_pending_job_executions(thingName="t1")
    assert resp.get("inProgressJobs", []) == []
    assert resp.get("queuedJobs", []) == []


# --- DescribeJobExecution ----------------------------------------------------------


def test_describe_next_returns_next_pending_without_changing_it(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    before = snapshot(iot, "t1", "job-1")
    raw = RawCapture(jobs_data)
    ex = jobs_data.describe_job_execution(thingName="t1", jobId="$next")["execution"]
    assert ex["jobId"] == "job-1"
    assert ex["status"] == "QUEUED"
    assert ex["versionNumber"] == 1
    assert json.loads(ex["jobDocument"]) == DOC  # includeJobDocument defaults to true
    assert_epoch_seconds_int(ex["queuedAt"])
    assert raw.last[1] == 200
    # twice, to be sure nothing moved
    jobs_data.describe_job_execution(thingName="t1", jobId="$next")
    assert snapshot(iot, "t1", "job-1") == before


def test_describe_next_prefers_in_progress(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    make_job(iot, "job-2", ["t1"], create_things=False)
    jobs_data.update_job_execution(jobId="job-2", thingName="t1", status="IN_PROGRESS")
    ex = jobs_data.describe_job_execution(thingName="t1", jobId="$next")["execution"]
    assert (ex["jobId"], ex["status"]) == ("job-2", "IN_PROGRESS")


def test_describe_next_with_nothing_pending_is_empty(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    iot.cancel_job_execution(jobId="job-1", thingName="t1")
    raw = RawCapture(jobs_data)
    resp = jobs_data.describe_job_execution(thingName="t1", jobId="$next")
    assert "execution" not in resp
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert raw.last_json() in (None, {})


def test_describe_explicit_job_id(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    ex = jobs_data.describe_job_execution(thingName="t1", jobId="job-1")["execution"]
    assert (ex["jobId"], ex["thingName"], ex["status"]) == ("job-1", "t1", "QUEUED")
    assert json.loads(ex["jobDocument"]) == DOC
    ex = jobs_data.describe_job_execution(
        thingName="t1", jobId="job-1", includeJobDocument=False
    )["execution"]
    assert "jobDocument" not in ex


@pytest.mark.parametrize("how", ["canceled", "force-canceled", "succeeded"])
def test_describe_terminal_execution_by_job_id_is_terminal_state(iot, jobs_data, how):
    make_job(iot, "job-1", ["t1"])
    if how == "canceled":
        iot.cancel_job_execution(jobId="job-1", thingName="t1")
    else:
        jobs_data.start_next_pending_job_execution(thingName="t1")
        if how == "force-canceled":
            iot.cancel_job_execution(jobId="job-1", thingName="t1", force=True)
        else:
            jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="SUCCEEDED")
    with raises_aws("TerminalStateException", 410):
        jobs_data.describe_job_execution(thingName="t1", jobId="job-1")


def test_data_plane_describe_unknown_execution_is_not_found(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    iot.create_thing(thingName="t2")
    with raises_aws("ResourceNotFoundException", 404):
        jobs_data.describe_job_execution(thingName="t1", jobId="nope")
    with raises_aws("ResourceNotFoundException", 404):
        jobs_data.describe_job_execution(thingName="t2", jobId="job-1")
    with raises_aws("ResourceNotFoundException", 404):
        jobs_data.update_job_execution(thingName="t2", jobId="job-1", status="IN_PROGRESS")


# --- UpdateJobExecution ------------------------------------------------------------


def test_update_in_progress_then_succeeded(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    jobs_data.start_next_pending_job_execution(thingName="t1")
    resp = jobs_data.update_job_execution(
        jobId="job-1",
        thingName="t1",
        status="SUCCEEDED",
        statusDetails={"result": "ok"},
        expectedVersion=2,
        includeJobExecutionState=True,
    )
    assert resp["executionState"] == {
        "status": "SUCCEEDED",
        "statusDetails": {"result": "ok"},
        "versionNumber": 3,
    }
    assert "jobDocument" not in resp  # includeJobDocument defaults to false
    ex = execution(iot, "t1", "job-1")
    assert (ex["status"], ex["versionNumber"]) == ("SUCCEEDED", 3)
    j = job(iot, "job-1")
    assert j["jobProcessDetails"]["numberOfSucceededThings"] == 1
    assert j["jobProcessDetails"]["numberOfInProgressThings"] == 0
    assert j["status"] == "COMPLETED"


def test_update_without_flags_returns_empty_body(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    resp = jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="IN_PROGRESS")
    assert "executionState" not in resp and "jobDocument" not in resp
    resp = jobs_data.update_job_execution(
        jobId="job-1", thingName="t1", status="IN_PROGRESS", includeJobDocument=True
    )
    assert json.loads(resp["jobDocument"]) == DOC


def test_update_after_forced_cancel_is_invalid_state_transition(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    jobs_data.start_next_pending_job_execution(thingName="t1", statusDetails={"step": "flash"})
    iot.cancel_job_execution(jobId="job-1", thingName="t1", force=True)
    before = snapshot(iot, "t1", "job-1")

    raw = RawCapture(jobs_data)
    with raises_aws("InvalidStateTransitionException", 409):
        jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="SUCCEEDED")
    name, status, headers, body = raw.last
    assert (name, status) == ("UpdateJobExecution", 409)
    assert headers["x-amzn-errortype"].split(":")[0] == "InvalidStateTransitionException"
    assert headers.get("x-amzn-requestid")
    err = json.loads(body)
    assert err["message"]
    # "the body of the error message also contains the executionState field"
    assert err["executionState"]["status"] == "CANCELED"
    assert err["executionState"]["versionNumber"] == 3
    assert err["executionState"].get("statusDetails", {}) == {"step": "flash"}

    # a stale expectedVersion still gets the terminal-state answer
    with raises_aws("InvalidStateTransitionException", 409):
        jobs_data.update_job_execution(
            jobId="job-1", thingName="t1", status="SUCCEEDED", expectedVersion=2
        )
    assert snapshot(iot, "t1", "job-1") == before


@pytest.mark.parametrize("requested", ["CANCELED", "QUEUED", "TIMED_OUT", "REMOVED"])
@pytest.mark.parametrize("current", ["QUEUED", "IN_PROGRESS"])
def test_device_cannot_report_service_side_status(iot, jobs_data, requested, current):
    make_job(iot, "job-1", ["t1"])
    if current == "IN_PROGRESS":
        jobs_data.start_next_pending_job_execution(thingName="t1")
    before = snapshot(iot, "t1", "job-1")
    with raises_aws("InvalidStateTransitionException", 409):
        jobs_data.update_job_execution(jobId="job-1", thingName="t1", status=requested)
    assert snapshot(iot, "t1", "job-1") == before
    assert before[0] == current


def test_update_terminal_execution_is_invalid_state_transition(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    jobs_data.start_next_pending_job_execution(thingName="t1")
    jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="SUCCEEDED")
    before = snapshot(iot, "t1", "job-1")
    for status in ("IN_PROGRESS", "SUCCEEDED", "FAILED"):
        with raises_aws("InvalidStateTransitionException", 409):
            jobs_data.update_job_execution(jobId="job-1", thingName="t1", status=status)
    assert snapshot(iot, "t1", "job-1") == before


def test_update_unknown_status_is_invalid_request(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    before = snapshot(iot, "t1", "job-1")
    with raises_aws("InvalidRequestException", 400):
        jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="BOGUS")
    assert snapshot(iot, "t1", "job-1") == before


def test_data_plane_expected_version_mismatch_is_invalid_request(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    jobs_data.start_next_pending_job_execution(thingName="t1")
    before = snapshot(iot, "t1", "job-1")
    for stale in (1, 3):
        with raises_aws("InvalidRequestException", 400):
            jobs_data.update_job_execution(
                jobId="job-1", thingName="t1", status="SUCCEEDED", expectedVersion=stale
            )
    assert snapshot(iot, "t1", "job-1") == before
    jobs_data.update_job_execution(
        jobId="job-1", thingName="t1", status="SUCCEEDED", expectedVersion=2
    )
    assert execution(iot, "t1", "job-1")["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    "sd,ok",
    [
        ({f"k{i}": "v" for i in range(10)}, True),
        ({f"k{i}": "v" for i in range(11)}, False),
        ({"k": "x" * 1024}, True),
        ({"k": "x" * 1025}, False),
        ({"bad key!": "v"}, False),
        ({"k": "a\nb"}, False),
    ],
    ids=["10-pairs", "11-pairs", "value-1024", "value-1025", "bad-key", "newline"],
)
def test_device_status_details_limits(iot, jobs_data, sd, ok):
    make_job(iot, "job-1", ["t1"])
    before = snapshot(iot, "t1", "job-1")
    if ok:
        jobs_data.update_job_execution(
            jobId="job-1", thingName="t1", status="IN_PROGRESS", statusDetails=sd
        )
        assert jobs_data.describe_job_execution(thingName="t1", jobId="job-1")["execution"][
            "statusDetails"
        ] == sd
    else:
        with raises_aws("InvalidRequestException", 400):
            jobs_data.update_job_execution(
                jobId="job-1", thingName="t1", status="IN_PROGRESS", statusDetails=sd
            )
        with raises_aws("InvalidRequestException", 400):
            jobs_data.start_next_pending_job_execution(thingName="t1", statusDetails=sd)
        assert snapshot(iot, "t1", "job-1") == before


@pytest.mark.parametrize("job_id", ["bad id!", "j" * 65])
def test_data_plane_bad_job_id_is_invalid_request(iot, jobs_data, job_id):
    iot.create_thing(thingName="t1")
    with raises_aws("InvalidRequestException", 400):
        jobs_data.update_job_execution(jobId=job_id, thingName="t1", status="IN_PROGRESS")
    with raises_aws("InvalidRequestException", 400):
        jobs_data.describe_job_execution(jobId="bad id!", thingName="t1")


def test_update_job_id_next_is_invalid_request(iot, jobs_data):
    """`$next` is only a DescribeJobExecution sentinel; UpdateJobExecution's JobId
    pattern `[a-zA-Z0-9_-]+` does not allow it."""
    make_job(iot, "job-1", ["t1"])
    before = snapshot(iot, "t1", "job-1")
    with raises_aws("InvalidRequestException", 400):
        jobs_data.update_job_execution(jobId="$next", thingName="t1", status="IN_PROGRESS")
    assert snapshot(iot, "t1", "job-1") == before


def test_unknown_execution_number_is_not_found(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    assert jobs_data.describe_job_execution(thingName="t1", jobId="job-1", executionNumber=1)[
        "execution"
    ]["executionNumber"] == 1
    with raises_aws("ResourceNotFoundException", 404):
        jobs_data.describe_job_execution(thingName="t1", jobId="job-1", executionNumber=2)
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job_execution(thingName="t1", jobId="job-1", executionNumber=2)


def test_get_pending_returns_at_most_ten(iot, jobs_data):
    iot.create_thing(thingName="t1")
    for i in range(12):
        make_job(iot, f"job-{i:02}", ["t1"], create_things=False)
    resp = jobs_data.get_pending_job_executions(thingName="t1")
    listed = resp.get("inProgressJobs", []) + resp.get("queuedJobs", [])
    assert len(listed) == 10
    assert len({j["jobId"] for j in listed}) == 10


def test_concurrent_device_updates_with_same_expected_version(server, iot):
    """Optimistic concurrency: of eight updates that all expect version 2, exactly one
    is applied."""
    make_job(iot, "job-1", ["t1"])
    server.client("iot-jobs-data").start_next_pending_job_execution(thingName="t1")
    n = 8
    clients = [server.client("iot-jobs-data") for _ in range(n)]
    barrier = threading.Barrier(n)

    def update(i_c):
        i, c = i_c
        barrier.wait()
        try:
            c.update_job_execution(
                jobId="job-1",
                thingName="t1",
                status="IN_PROGRESS",
                expectedVersion=2,
                statusDetails={"writer": str(i)},
            )
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(update, enumerate(clients)))
    assert sorted(results) == ["InvalidRequestException"] * (n - 1) + ["ok"], results
    ex = execution(iot, "t1", "job-1")
    assert (ex["status"], ex["versionNumber"]) == ("IN_PROGRESS", 3)
    winner = results.index("ok")
    assert ex["statusDetails"]["detailsMap"] == {"writer": str(winner)}


def test_timeouts_report_approximate_seconds(iot, jobs_data):
    make_job(iot, "job-1", ["t1"], timeoutConfig={"inProgressTimeoutInMinutes": 60})
    assert job(iot, "job-1")["timeoutConfig"] == {"inProgressTimeoutInMinutes": 60}
    ex = jobs_data.start_next_pending_job_execution(thingName="t1", stepTimeoutInMinutes=5)[
        "execution"
    ]
    left = ex["approximateSecondsBeforeTimedOut"]
    assert is_int(left) and 240 <= left <= 300, left  # the step timer, in seconds
    # -1 cancels the step timer: the in-progress timer (60 min) remains
    jobs_data.update_job_execution(
        jobId="job-1", thingName="t1", status="IN_PROGRESS", stepTimeoutInMinutes=-1
    )
    left = jobs_data.describe_job_execution(thingName="t1", jobId="job-1")["execution"][
        "approximateSecondsBeforeTimedOut"
    ]
    assert is_int(left) and 3500 <= left <= 3600, left
    # "not included if the job execution has reached a terminal status"
    iot.cancel_job_execution(jobId="job-1", thingName="t1", force=True)
    assert "approximateSecondsBeforeTimedOut" not in execution(iot, "t1", "job-1")


@pytest.mark.parametrize("minutes", [0, -2, 10081])
def test_step_timeout_out_of_range_is_invalid_request(iot, jobs_data, minutes):
    make_job(iot, "job-1", ["t1"])
    before = snapshot(iot, "t1", "job-1")
    with raises_aws("InvalidRequestException", 400):
        jobs_data.start_next_pending_job_execution(thingName="t1", stepTimeoutInMinutes=minutes)
    with raises_aws("InvalidRequestException", 400):
        jobs_data.update_job_execution(
            jobId="job-1", thingName="t1", status="IN_PROGRESS", stepTimeoutInMinutes=minutes
        )
    assert snapshot(iot, "t1", "job-1") == before


def test_get_pending_returns_at_most_ten_in_all_in_progress_first(iot, jobs_data):
    """GetPendingJobExecutions answers at most 10 pending executions in all (not 10 of
    each status), the IN_PROGRESS ones first."""
    iot.create_thing(thingName="t1")
    for i in range(12):
        make_job(iot, f"job-{i:02}", ["t1"], create_things=False)
    for i in range(3):
        jobs_data.update_job_execution(thingName="t1", jobId=f"job-{i:02}", status="IN_PROGRESS")
    r = jobs_data.get_pending_job_executions(thingName="t1")
    in_progress = [e["jobId"] for e in r["inProgressJobs"]]
    queued = [e["jobId"] for e in r["queuedJobs"]]
    assert in_progress == ["job-00", "job-01", "job-02"]
    assert queued == [f"job-{i:02}" for i in range(3, 10)]
