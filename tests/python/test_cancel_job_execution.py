"""CancelJobExecution (control plane) through boto3: state table, versions, counters,
statusDetails rules, not-found and input validation (wire spec §3, §6, §8)."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from iotjobs_helpers import (
    count,
    details,
    execution,
    job,
    make_job,
    raises_aws,
    snapshot,
)


def start(jobs_data, thing):
    """Device starts its next pending execution (QUEUED → IN_PROGRESS, version 2)."""
    ex = jobs_data.start_next_pending_job_execution(thingName=thing)["execution"]
    assert ex["status"] == "IN_PROGRESS"
    return ex


# --- the state table (§3.3) -------------------------------------------------------


def test_cancel_queued_updates_execution_and_job_counters(iot):
    make_job(iot, "job-1", ["t1", "t2"])
    assert execution(iot, "t1", "job-1")["versionNumber"] == 1
    assert count(iot, "job-1", "Queued") == 2

    resp = iot.cancel_job_execution(jobId="job-1", thingName="t1")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert set(resp) == {"ResponseMetadata"}  # no output shape

    ex = execution(iot, "t1", "job-1")
    assert ex["status"] == "CANCELED"
    assert ex["versionNumber"] == 2
    assert ex.get("forceCanceled", False) is False
    c = job(iot, "job-1")
    assert c["jobProcessDetails"]["numberOfCanceledThings"] == 1
    assert c["jobProcessDetails"]["numberOfQueuedThings"] == 1
    assert c["status"] == "IN_PROGRESS"  # t2 still pending
    # the other execution is untouched
    assert execution(iot, "t2", "job-1")["status"] == "QUEUED"
    assert execution(iot, "t2", "job-1")["versionNumber"] == 1


def test_cancel_last_pending_execution_completes_snapshot_job(iot):
    make_job(iot, "job-1", ["t1", "t2"], targetSelection="SNAPSHOT")
    iot.cancel_job_execution(jobId="job-1", thingName="t1")
    assert job(iot, "job-1")["status"] == "IN_PROGRESS"
    assert "completedAt" not in job(iot, "job-1")
    iot.cancel_job_execution(jobId="job-1", thingName="t2")
    j = job(iot, "job-1")
    assert j["status"] == "COMPLETED"
    assert j["completedAt"] >= j["createdAt"]
    assert j["jobProcessDetails"]["numberOfCanceledThings"] == 2
    assert j["jobProcessDetails"]["numberOfQueuedThings"] == 0
    assert j["jobProcessDetails"]["numberOfInProgressThings"] == 0


def test_continuous_job_does_not_complete(iot):
    """A CONTINUOUS job (without scheduling) never becomes COMPLETED."""
    make_job(iot, "job-1", ["t1"], targetSelection="CONTINUOUS")
    iot.cancel_job_execution(jobId="job-1", thingName="t1")
    j = job(iot, "job-1")
    assert j["targetSelection"] == "CONTINUOUS"
    assert j["status"] == "IN_PROGRESS"
    assert j["jobProcessDetails"]["numberOfCanceledThings"] == 1


def test_job_counters_follow_every_execution_state(iot, jobs_data):
    things = ["q", "ip", "ok", "fail", "rej", "can", "fcan"]
    make_job(iot, "job-1", things)
    upd = jobs_data.update_job_execution
    upd(jobId="job-1", thingName="ip", status="IN_PROGRESS")
    upd(jobId="job-1", thingName="ok", status="IN_PROGRESS")
    upd(jobId="job-1", thingName="ok", status="SUCCEEDED")
    upd(jobId="job-1", thingName="fail", status="IN_PROGRESS")
    upd(jobId="job-1", thingName="fail", status="FAILED")
    upd(jobId="job-1", thingName="rej", status="REJECTED")
    iot.cancel_job_execution(jobId="job-1", thingName="can")
    upd(jobId="job-1", thingName="fcan", status="IN_PROGRESS")
    iot.cancel_job_execution(jobId="job-1", thingName="fcan", force=True)
    pd = counters_of(iot, "job-1")
    assert pd == {
        "numberOfQueuedThings": 1,
        "numberOfInProgressThings": 1,
        "numberOfSucceededThings": 1,
        "numberOfFailedThings": 1,
        "numberOfRejectedThings": 1,
        "numberOfCanceledThings": 2,
        "numberOfRemovedThings": 0,
        "numberOfTimedOutThings": 0,
    }
    assert job(iot, "job-1")["status"] == "IN_PROGRESS"


def counters_of(iot, job_id):
    pd = dict(job(iot, job_id)["jobProcessDetails"])
    pd.pop("processingTargets", None)
    return pd


@pytest.mark.parametrize("force", [None, False], ids=["force-absent", "force-false"])
def test_cancel_in_progress_without_force_is_rejected(iot, jobs_data, force):
    make_job(iot, "job-1", ["t1"])
    start(jobs_data, "t1")
    before = snapshot(iot, "t1", "job-1")
    kwargs = {} if force is None else {"force": force}
    with raises_aws("InvalidStateTransitionException", 409):
        iot.cancel_job_execution(jobId="job-1", thingName="t1", **kwargs)
    assert snapshot(iot, "t1", "job-1") == before
    assert before[0:2] == ("IN_PROGRESS", 2)
    assert count(iot, "job-1", "InProgress") == 1
    assert count(iot, "job-1", "Canceled") == 0


def test_cancel_in_progress_with_force(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    start(jobs_data, "t1")
    iot.cancel_job_execution(jobId="job-1", thingName="t1", force=True)
    ex = execution(iot, "t1", "job-1")
    assert ex["status"] == "CANCELED"
    assert ex["forceCanceled"] is True
    assert ex["versionNumber"] == 3
    j = job(iot, "job-1")
    assert j["jobProcessDetails"]["numberOfCanceledThings"] == 1
    assert j["jobProcessDetails"]["numberOfInProgressThings"] == 0
    assert j["status"] == "COMPLETED"


def test_cancel_queued_with_force_is_fine(iot):
    make_job(iot, "job-1", ["t1"])
    iot.cancel_job_execution(jobId="job-1", thingName="t1", force=True)
    ex = execution(iot, "t1", "job-1")
    assert (ex["status"], ex["versionNumber"]) == ("CANCELED", 2)
    # "true if the job execution was canceled with the optional force parameter set
    # to true" (model doc): the flag, not the previous status, decides
    assert ex["forceCanceled"] is True


def _to_succeeded(iot, jobs_data):
    start(jobs_data, "t1")
    jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="SUCCEEDED")


def _to_canceled(iot, jobs_data):
    iot.cancel_job_execution(jobId="job-1", thingName="t1")


def _to_force_canceled(iot, jobs_data):
    start(jobs_data, "t1")
    iot.cancel_job_execution(jobId="job-1", thingName="t1", force=True)


def _to_failed(iot, jobs_data):
    start(jobs_data, "t1")
    jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="FAILED")


def _to_rejected(iot, jobs_data):
    jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="REJECTED")


@pytest.mark.parametrize("force", [False, True], ids=["no-force", "force"])
@pytest.mark.parametrize(
    "to_terminal",
    [_to_succeeded, _to_failed, _to_rejected, _to_canceled, _to_force_canceled],
    ids=["SUCCEEDED", "FAILED", "REJECTED", "CANCELED", "force-CANCELED"],
)
def test_cancel_terminal_execution_is_rejected(iot, jobs_data, to_terminal, force):
    make_job(iot, "job-1", ["t1"])
    to_terminal(iot, jobs_data)
    before = snapshot(iot, "t1", "job-1")
    with raises_aws("InvalidStateTransitionException", 409):
        iot.cancel_job_execution(jobId="job-1", thingName="t1", force=force)
    assert snapshot(iot, "t1", "job-1") == before


# --- expectedVersion (§3.3, §8) ----------------------------------------------------


def test_expected_version_mismatch_is_version_conflict(iot):
    make_job(iot, "job-1", ["t1"])
    before = snapshot(iot, "t1", "job-1")
    for stale in (0, 2, 99):
        with raises_aws("VersionConflictException", 409):
            iot.cancel_job_execution(jobId="job-1", thingName="t1", expectedVersion=stale)
    assert snapshot(iot, "t1", "job-1") == before


def test_expected_version_match_cancels(iot):
    make_job(iot, "job-1", ["t1"])
    iot.cancel_job_execution(
        jobId="job-1", thingName="t1", expectedVersion=1, statusDetails={"k": "v"}
    )
    ex = execution(iot, "t1", "job-1")
    assert (ex["status"], ex["versionNumber"]) == ("CANCELED", 2)
    assert ex["statusDetails"]["detailsMap"] == {"k": "v"}


def test_expected_version_match_with_force_on_in_progress(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    start(jobs_data, "t1")
    with raises_aws("VersionConflictException", 409):
        iot.cancel_job_execution(jobId="job-1", thingName="t1", force=True, expectedVersion=1)
    iot.cancel_job_execution(jobId="job-1", thingName="t1", force=True, expectedVersion=2)
    ex = execution(iot, "t1", "job-1")
    assert (ex["status"], ex["versionNumber"], ex["forceCanceled"]) == ("CANCELED", 3, True)


# --- statusDetails (§3.1, §6.6, §6.12) ---------------------------------------------


def test_status_details_replace_not_merge(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    jobs_data.start_next_pending_job_execution(thingName="t1", statusDetails={"a": "1", "b": "2"})
    assert details(iot, "t1", "job-1") == {"a": "1", "b": "2"}
    jobs_data.update_job_execution(
        jobId="job-1", thingName="t1", status="IN_PROGRESS", statusDetails={"c": "3"}
    )
    assert details(iot, "t1", "job-1") == {"c": "3"}
    # absent → unchanged
    jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="IN_PROGRESS")
    assert details(iot, "t1", "job-1") == {"c": "3"}
    # the operator's cancel replaces too
    iot.cancel_job_execution(jobId="job-1", thingName="t1", force=True, statusDetails={"d": "4"})
    ex = execution(iot, "t1", "job-1")
    assert ex["statusDetails"]["detailsMap"] == {"d": "4"}
    assert (ex["status"], ex["versionNumber"]) == ("CANCELED", 5)


def test_cancel_without_status_details_keeps_them(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    jobs_data.start_next_pending_job_execution(thingName="t1", statusDetails={"step": "download"})
    iot.cancel_job_execution(jobId="job-1", thingName="t1", force=True)
    assert details(iot, "t1", "job-1") == {"step": "download"}


OK_DETAILS = {
    "10-pairs": {f"k{i}": f"v{i}" for i in range(10)},
    "value-1024": {"k": "x" * 1024},
    "key-128": {"k" * 128: "v"},
    "key-all-allowed-chars": {"aZ09:_-": "v"},
    "value-unicode-and-spaces": {"k": "h\u00e9llo w\u00f6rld \u2713 = , ;"},
    "value-1024-non-ascii": {"k": "\u00e9" * 1024},  # characters, not bytes
}

BAD_DETAILS = {
    "11-pairs": {f"k{i}": f"v{i}" for i in range(11)},
    "key-space-bang": {"bad key!": "v"},
    "key-quoted": {'"state"': "v"},
    "key-dot": {"a.b": "v"},
    "key-129": {"k" * 129: "v"},
    "value-1025": {"k": "x" * 1025},
    "value-newline": {"k": "line1\nline2"},
    "value-tab": {"k": "a\tb"},
    "value-1025-non-ascii": {"k": "\u00e9" * 1025},
    "value-DEL": {"k": "a\x7fb"},  # \p{Cc}
    "value-zero-width-space": {"k": "a\u200bb"},  # \p{Cf}
    "value-private-use": {"k": "\ue000"},  # \p{Co}
}


@pytest.mark.parametrize("sd", OK_DETAILS.values(), ids=OK_DETAILS.keys())
def test_cancel_status_details_accepted(iot, sd):
    make_job(iot, "job-1", ["t1"])
    iot.cancel_job_execution(jobId="job-1", thingName="t1", statusDetails=sd)
    ex = execution(iot, "t1", "job-1")
    assert ex["status"] == "CANCELED"
    assert ex["statusDetails"]["detailsMap"] == sd


@pytest.mark.parametrize("sd", BAD_DETAILS.values(), ids=BAD_DETAILS.keys())
def test_cancel_status_details_rejected(iot, sd):
    make_job(iot, "job-1", ["t1"])
    before = snapshot(iot, "t1", "job-1")
    with raises_aws("InvalidRequestException", 400):
        iot.cancel_job_execution(jobId="job-1", thingName="t1", statusDetails=sd)
    assert snapshot(iot, "t1", "job-1") == before


# --- not found (§3.3) --------------------------------------------------------------


def test_cancel_unknown_job_thing_or_execution_is_not_found(iot):
    make_job(iot, "job-1", ["t1"])
    iot.create_thing(thingName="t2")  # exists, but job-1 does not target it
    cases = [
        ("nope", "t1"),  # unknown job, known thing
        ("job-1", "nope"),  # known job, unknown thing
        ("job-1", "t2"),  # both exist, no execution
        ("nope", "nope"),
    ]
    for job_id, thing in cases:
        with raises_aws("ResourceNotFoundException", 404):
            iot.cancel_job_execution(jobId=job_id, thingName=thing)
        with raises_aws("ResourceNotFoundException", 404):
            iot.cancel_job_execution(jobId=job_id, thingName=thing, force=True)
        with raises_aws("ResourceNotFoundException", 404):
            iot.describe_job_execution(jobId=job_id, thingName=thing)
    assert execution(iot, "t1", "job-1")["status"] == "QUEUED"


# --- input validation (§2.1: botocore checks only min length) -----------------------


@pytest.mark.parametrize(
    "job_id",
    ["bad id!", "a.b", "j" * 65, "job:1", "\u00fcber"],
    ids=["space-bang", "dot", "65-chars", "colon", "non-ascii"],
)
def test_cancel_bad_job_id_is_invalid_request(iot, job_id):
    iot.create_thing(thingName="t1")
    with raises_aws("InvalidRequestException", 400):
        iot.cancel_job_execution(jobId=job_id, thingName="t1")


def test_job_id_of_64_chars_is_valid(iot):
    # the boundary: 64 characters pass validation; the job just does not exist
    iot.create_thing(thingName="t1")
    with raises_aws("ResourceNotFoundException", 404):
        iot.cancel_job_execution(jobId="j" * 64, thingName="t1")
    make_job(iot, "j" * 64, ["t1"])
    iot.cancel_job_execution(jobId="j" * 64, thingName="t1")
    assert execution(iot, "t1", "j" * 64)["status"] == "CANCELED"


@pytest.mark.parametrize("thing", ["bad thing!", "t" * 129, "a/b"], ids=["space-bang", "129-chars", "slash"])
def test_cancel_bad_thing_name_is_invalid_request(iot, thing):
    with raises_aws("InvalidRequestException", 400):
        iot.cancel_job_execution(jobId="job-1", thingName=thing)


def test_validation_comes_before_not_found(iot):
    # unknown job and thing, but an 11th pair: the input is checked first (§7 #9)
    with raises_aws("InvalidRequestException", 400):
        iot.cancel_job_execution(
            jobId="nope", thingName="nope", statusDetails={f"k{i}": "v" for i in range(11)}
        )


def test_not_found_comes_before_version_conflict(iot):
    iot.create_thing(thingName="t1")
    with raises_aws("ResourceNotFoundException", 404):
        iot.cancel_job_execution(jobId="nope", thingName="t1", expectedVersion=42)



# --- raw requests for what botocore refuses to send (§2.1) ---------------------------


def test_empty_status_details_key_or_value_is_invalid_request(server, iot):
    """botocore rejects these client-side (min length 1); other clients send them."""
    make_job(iot, "job-1", ["t1"])
    before = snapshot(iot, "t1", "job-1")
    for body in ({"statusDetails": {"": "v"}}, {"statusDetails": {"k": ""}}):
        status, headers, raw = server.raw("PUT", "/things/t1/jobs/job-1/cancel", body=body)
        assert status == 400, (body, status, raw)
        assert headers["x-amzn-errortype"].split(":")[0] == "InvalidRequestException"
        assert json.loads(raw)["message"]
    assert snapshot(iot, "t1", "job-1") == before


def test_raw_cancel_with_empty_body_object_and_force_query(server, iot):
    """What the CLI sends: `PUT …/cancel?force=true` with body `{}`; 200 with an empty
    (or `{}`) body."""
    make_job(iot, "job-1", ["t1"])
    status, headers, raw = server.raw("PUT", "/things/t1/jobs/job-1/cancel?force=true", body={})
    assert status == 200, raw
    assert raw in (b"", b"{}")
    assert headers.get("x-amzn-requestid")
    ex = execution(iot, "t1", "job-1")
    assert (ex["status"], ex["versionNumber"]) == ("CANCELED", 2)


# --- names that need percent-encoding (§2.1) -----------------------------------------


def test_thing_name_with_colon(iot, jobs_data):
    make_job(iot, "job-1", ["thing:1"])  # sent as thing%3A1
    ex = jobs_data.start_next_pending_job_execution(thingName="thing:1")["execution"]
    assert ex["thingName"] == "thing:1"
    iot.cancel_job_execution(jobId="job-1", thingName="thing:1", force=True)
    ex = execution(iot, "thing:1", "job-1")
    assert ex["status"] == "CANCELED"
    assert ex["thingArn"].endswith(":thing/thing:1")


def test_next_is_not_a_control_plane_job_id(iot):
    make_job(iot, "job-1", ["t1"])
    with raises_aws("InvalidRequestException", 400):
        iot.cancel_job_execution(jobId="$next", thingName="t1")
    with raises_aws("InvalidRequestException", 400):
        iot.describe_job_execution(jobId="$next", thingName="t1")


# --- concurrency ---------------------------------------------------------------------


def test_concurrent_cancels_exactly_one_wins(server, iot):
    """Eight operators cancel the same QUEUED execution at once: one succeeds, the
    others find a terminal execution (409), and the counters move once."""
    make_job(iot, "job-1", ["t1", "t2"])
    n = 8
    clients = [server.client("iot") for _ in range(n)]
    barrier = threading.Barrier(n)

    def cancel(c):
        barrier.wait()
        try:
            c.cancel_job_execution(jobId="job-1", thingName="t1", force=True)
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(cancel, clients))
    assert sorted(results) == ["InvalidStateTransitionException"] * (n - 1) + ["ok"], results
    ex = execution(iot, "t1", "job-1")
    assert (ex["status"], ex["versionNumber"]) == ("CANCELED", 2)
    pd = job(iot, "job-1")["jobProcessDetails"]
    assert (pd["numberOfCanceledThings"], pd["numberOfQueuedThings"]) == (1, 1)
