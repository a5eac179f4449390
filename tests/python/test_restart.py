"""Durability: every execution, its version and status details, and the job counters
survive a graceful restart of the server process on the same database."""

from iotjobs_helpers import make_job


def _state(iot, jobs_data, pairs, jobs, things):
    return {
        "executions": {
            (t, j): iot.describe_job_execution(jobId=j, thingName=t)["execution"] for t, j in pairs
        },
        "jobs": {j: iot.describe_job(jobId=j)["job"] for j in jobs},
        "pending": {
            t: {
                k: v
                for k, v in jobs_data.get_pending_job_executions(thingName=t).items()
                if k != "ResponseMetadata"
            }
            for t in things
        },
    }


def test_state_survives_restart(server):
    iot, dp = server.client("iot"), server.client("iot-jobs-data")
    things = ["t1", "t2", "t3", "t4", "t5", "t6"]

    # job-a: one execution in each state
    make_job(iot, "job-a", ["t1", "t2", "t3", "t4"])
    # t1 stays QUEUED
    dp.update_job_execution(  # t2 IN_PROGRESS with details
        jobId="job-a", thingName="t2", status="IN_PROGRESS", statusDetails={"step": "download"}
    )
    dp.start_next_pending_job_execution(thingName="t3")  # t3 SUCCEEDED with details
    dp.update_job_execution(
        jobId="job-a", thingName="t3", status="SUCCEEDED", statusDetails={"result": "ok"}
    )
    iot.cancel_job_execution(  # t4 CANCELED (from QUEUED) with details
        jobId="job-a", thingName="t4", statusDetails={"reason": "operator", "ticket": "T-1"}
    )
    # job-b: a force-canceled IN_PROGRESS execution; the job completes
    make_job(iot, "job-b", ["t5"])
    dp.start_next_pending_job_execution(thingName="t5", statusDetails={"step": "flash"})
    iot.cancel_job_execution(jobId="job-b", thingName="t5", force=True)
    # job-c: a second job for t1, FAILED, plus a QUEUED one for t6
    iot.create_thing(thingName="t6")
    make_job(iot, "job-c", ["t1", "t6"], create_things=False)
    dp.update_job_execution(jobId="job-c", thingName="t1", status="IN_PROGRESS")
    dp.update_job_execution(
        jobId="job-c", thingName="t1", status="FAILED", statusDetails={"error": "E42"}
    )

    pairs = [
        ("t1", "job-a"),
        ("t2", "job-a"),
        ("t3", "job-a"),
        ("t4", "job-a"),
        ("t5", "job-b"),
        ("t1", "job-c"),
        ("t6", "job-c"),
    ]
    jobs = ["job-a", "job-b", "job-c"]
    before = _state(iot, dp, pairs, jobs, things)

    # sanity: the states we meant to build
    ex = before["executions"]
    assert [ex[p]["status"] for p in pairs] == [
        "QUEUED",
        "IN_PROGRESS",
        "SUCCEEDED",
        "CANCELED",
        "CANCELED",
        "FAILED",
        "QUEUED",
    ]
    assert [ex[p]["versionNumber"] for p in pairs] == [1, 2, 3, 2, 3, 3, 1]
    assert ex[("t4", "job-a")]["statusDetails"]["detailsMap"] == {"reason": "operator", "ticket": "T-1"}
    assert ex[("t5", "job-b")]["forceCanceled"] is True
    assert before["jobs"]["job-b"]["status"] == "COMPLETED"
    pd = before["jobs"]["job-a"]["jobProcessDetails"]
    assert (
        pd["numberOfQueuedThings"],
        pd["numberOfInProgressThings"],
        pd["numberOfSucceededThings"],
        pd["numberOfCanceledThings"],
    ) == (1, 1, 1, 1)

    assert server.db_path.is_file(), f"no database at {server.db_path}"
    old_endpoint = server.endpoint
    exit_code = server.restart()
    assert exit_code == 0, f"SIGTERM should stop iotjobs gracefully, exit code {exit_code}"
    assert server.endpoint and server.endpoint.startswith("http://127.0.0.1:")
    print(f"restarted: {old_endpoint} -> {server.endpoint}")

    iot, dp = server.client("iot"), server.client("iot-jobs-data")
    after = _state(iot, dp, pairs, jobs, things)
    for p in pairs:
        assert after["executions"][p] == before["executions"][p], p
    for j in jobs:
        assert after["jobs"][j] == before["jobs"][j], j
    assert after["pending"] == before["pending"]

    # and the restarted server continues from there
    dp.update_job_execution(
        jobId="job-a", thingName="t2", status="SUCCEEDED", expectedVersion=2
    )
    assert iot.describe_job_execution(jobId="job-a", thingName="t2")["execution"]["versionNumber"] == 3
    iot.cancel_job_execution(jobId="job-a", thingName="t1", expectedVersion=1)
    j = iot.describe_job(jobId="job-a")["job"]
    assert j["status"] == "COMPLETED"
    assert j["jobProcessDetails"]["numberOfCanceledThings"] == 2
    assert j["jobProcessDetails"]["numberOfSucceededThings"] == 2
