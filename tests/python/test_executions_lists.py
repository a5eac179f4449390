"""DeleteJobExecution, ListJobExecutionsForJob and ListJobExecutionsForThing through
boto3 and the AWS CLI v1, including one job with 600 executions (a CONTINUOUS job over
a thing group of 600 things, on one module-scoped server) paged by botocore's
paginator, by hand while executions are inserted between pages, and by the CLI's
auto-pagination (wire spec §2.6, §4, §6.8)."""

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from iotjobs_helpers import (
    all_pages,
    exact_counters,
    execution,
    finish_execution,
    group_arn,
    job,
    make_job,
    raises_aws,
    start_execution,
    thing_arn,
)

# --- DeleteJobExecution ------------------------------------------------------------------


def test_delete_queued_execution_without_force(iot, jobs_data):
    make_job(iot, "j1", ["t1", "t2"])
    resp = iot.delete_job_execution(jobId="j1", thingName="t1", executionNumber=1)
    assert set(resp) == {"ResponseMetadata"}
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job_execution(jobId="j1", thingName="t1")
    with raises_aws("ResourceNotFoundException", 404):
        jobs_data.describe_job_execution(jobId="j1", thingName="t1")
    pending = jobs_data.get_pending_job_executions(thingName="t1")
    assert pending["queuedJobs"] == [] and pending["inProgressJobs"] == []
    listed = iot.list_job_executions_for_job(jobId="j1")["executionSummaries"]
    assert [s["thingArn"] for s in listed] == [thing_arn("t2")]
    assert iot.list_job_executions_for_thing(thingName="t1")["executionSummaries"] == []
    exact_counters(iot, "j1", Queued=1)
    # gone: deleting it again is 404
    with raises_aws("ResourceNotFoundException", 404):
        iot.delete_job_execution(jobId="j1", thingName="t1", executionNumber=1)


def test_delete_in_progress_execution_needs_force(iot, jobs_data):
    make_job(iot, "j1", ["t1", "t2"])
    start_execution(jobs_data, "t1", "j1")
    before = execution(iot, "t1", "j1")
    with raises_aws("InvalidStateTransitionException", 409):
        iot.delete_job_execution(jobId="j1", thingName="t1", executionNumber=1)
    with raises_aws("InvalidStateTransitionException", 409):
        iot.delete_job_execution(jobId="j1", thingName="t1", executionNumber=1, force=False)
    after = execution(iot, "t1", "j1")
    assert (after["status"], after["versionNumber"]) == ("IN_PROGRESS", before["versionNumber"])
    exact_counters(iot, "j1", Queued=1, InProgress=1)

    iot.delete_job_execution(jobId="j1", thingName="t1", executionNumber=1, force=True)
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job_execution(jobId="j1", thingName="t1")
    # the device can no longer update it
    with raises_aws("ResourceNotFoundException", 404):
        finish_execution(jobs_data, "t1", "j1", "SUCCEEDED")
    exact_counters(iot, "j1", Queued=1)


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "REJECTED", "CANCELED", "REMOVED"])
def test_delete_terminal_execution_without_force(iot, jobs_data, status):
    make_job(iot, "j1", ["t1", "t2"])
    if status == "CANCELED":
        iot.cancel_job_execution(jobId="j1", thingName="t1")
    elif status == "REMOVED":
        iot.delete_thing(thingName="t1")
    else:
        start_execution(jobs_data, "t1", "j1")
        finish_execution(jobs_data, "t1", "j1", status)
    counter = {"SUCCEEDED": "Succeeded", "FAILED": "Failed", "REJECTED": "Rejected",
               "CANCELED": "Canceled", "REMOVED": "Removed"}[status]
    exact_counters(iot, "j1", Queued=1, **{counter: 1})
    iot.delete_job_execution(jobId="j1", thingName="t1", executionNumber=1)
    assert [s["thingArn"] for s in iot.list_job_executions_for_job(jobId="j1")["executionSummaries"]] == [
        thing_arn("t2")]
    exact_counters(iot, "j1", Queued=1)


def test_delete_job_execution_not_found(iot):
    make_job(iot, "j1", ["t1"])
    with raises_aws("ResourceNotFoundException", 404):
        iot.delete_job_execution(jobId="j1", thingName="t1", executionNumber=2)
    with raises_aws("ResourceNotFoundException", 404):
        iot.delete_job_execution(jobId="nope", thingName="t1", executionNumber=1)
    with raises_aws("ResourceNotFoundException", 404):
        iot.delete_job_execution(jobId="j1", thingName="nope", executionNumber=1)
    assert execution(iot, "t1", "j1")["status"] == "QUEUED"
    exact_counters(iot, "j1", Queued=1)


# --- ListJobExecutionsForJob / ForThing (small) ------------------------------------------


def summaries_by_thing(resp) -> dict:
    return {s["thingArn"].rsplit("/", 1)[1]: s["jobExecutionSummary"] for s in resp["executionSummaries"]}


def test_list_for_job_summaries_and_status_filter(iot, jobs_data):
    make_job(iot, "j1", ["t1", "t2", "t3"])
    start_execution(jobs_data, "t2", "j1")
    start_execution(jobs_data, "t3", "j1")
    finish_execution(jobs_data, "t3", "j1", "SUCCEEDED")

    resp = iot.list_job_executions_for_job(jobId="j1")
    assert not resp.get("nextToken")
    got = summaries_by_thing(resp)
    assert set(got) == {"t1", "t2", "t3"}
    for s in resp["executionSummaries"]:
        assert set(s) == {"thingArn", "jobExecutionSummary"}
    assert {t: s["status"] for t, s in got.items()} == {
        "t1": "QUEUED", "t2": "IN_PROGRESS", "t3": "SUCCEEDED"}
    for t, s in got.items():
        assert s["executionNumber"] == 1
        assert s["queuedAt"] <= s["lastUpdatedAt"]
        described = execution(iot, t, "j1")
        assert s["queuedAt"] == described["queuedAt"]
        assert s["lastUpdatedAt"] == described["lastUpdatedAt"]
        assert s.get("startedAt") == described.get("startedAt")
    assert "startedAt" not in got["t1"]
    assert got["t2"]["startedAt"] >= got["t2"]["queuedAt"]

    for status, things in (("QUEUED", ["t1"]), ("IN_PROGRESS", ["t2"]),
                           ("SUCCEEDED", ["t3"]), ("CANCELED", [])):
        resp = iot.list_job_executions_for_job(jobId="j1", status=status)
        assert sorted(summaries_by_thing(resp)) == things, status


def test_list_for_job_errors(iot, iot_unchecked):
    with raises_aws("ResourceNotFoundException", 404):
        iot.list_job_executions_for_job(jobId="nope")
    make_job(iot, "j1", ["t1", "t2"])
    for bad in (0, 251, -1):
        with raises_aws("InvalidRequestException", 400):
            iot_unchecked.list_job_executions_for_job(jobId="j1", maxResults=bad)
    with raises_aws("InvalidRequestException", 400):
        iot_unchecked.list_job_executions_for_job(jobId="j1", status="DONE")
    with raises_aws("InvalidRequestException", 400):
        iot.list_job_executions_for_job(jobId="j1", nextToken="not-a-token")
    assert len(iot.list_job_executions_for_job(jobId="j1", maxResults=250)["executionSummaries"]) == 2


def test_list_for_job_pages_of_one(iot):
    make_job(iot, "j1", ["t1", "t2", "t3"])
    tokens, seen = [], []
    resp = iot.list_job_executions_for_job(jobId="j1", maxResults=1)
    while True:
        assert len(resp["executionSummaries"]) == 1
        seen.append(resp["executionSummaries"][0]["thingArn"])
        token = resp.get("nextToken")
        if not token:
            break
        tokens.append(token)
        resp = iot.list_job_executions_for_job(jobId="j1", maxResults=1, nextToken=token)
    assert sorted(seen) == [thing_arn(t) for t in ("t1", "t2", "t3")]
    assert len(tokens) == 2 and len(set(tokens)) == 2


def test_list_for_thing(iot, iot_unchecked, jobs_data):
    iot.create_thing(thingName="dev")
    for j in ("ja", "jb", "jc"):
        make_job(iot, j, ["dev"], create_things=False)
    start_execution(jobs_data, "dev", "jb")
    iot.cancel_job_execution(jobId="jc", thingName="dev")

    resp = iot.list_job_executions_for_thing(thingName="dev")
    assert not resp.get("nextToken")
    got = {s["jobId"]: s["jobExecutionSummary"] for s in resp["executionSummaries"]}
    for s in resp["executionSummaries"]:
        assert set(s) == {"jobId", "jobExecutionSummary"}
    assert {j: s["status"] for j, s in got.items()} == {
        "ja": "QUEUED", "jb": "IN_PROGRESS", "jc": "CANCELED"}
    assert all(s["executionNumber"] == 1 and s["queuedAt"] and s["lastUpdatedAt"] for s in got.values())
    assert "startedAt" in got["jb"] and "startedAt" not in got["ja"]

    def job_ids(**kwargs):
        return sorted(s["jobId"] for s in
                      iot.list_job_executions_for_thing(thingName="dev", **kwargs)["executionSummaries"])

    assert job_ids(status="QUEUED") == ["ja"]
    assert job_ids(status="CANCELED") == ["jc"]
    assert job_ids(status="SUCCEEDED") == []
    assert job_ids(jobId="jb") == ["jb"]
    assert job_ids(jobId="jb", status="QUEUED") == []
    assert job_ids(jobId="nope") == []
    paged = all_pages(iot, "list_job_executions_for_thing", "executionSummaries",
                      thingName="dev", PaginationConfig={"PageSize": 1})
    assert sorted(s["jobId"] for s in paged) == ["ja", "jb", "jc"]

    with raises_aws("ResourceNotFoundException", 404):
        iot.list_job_executions_for_thing(thingName="nope")
    for bad in (0, 251):
        with raises_aws("InvalidRequestException", 400):
            iot_unchecked.list_job_executions_for_thing(thingName="dev", maxResults=bad)


# --- one job with 600 executions -------------------------------------------------------

N = 600
FLEET = [f"dev-{i:04d}" for i in range(N)]


class Big:
    """The module's server: group `fleet` with 600 things and child group
    `fleet-late` (empty), and CONTINUOUS job `big` over `fleet` with 600 QUEUED
    executions. Tests that add executions must take them out again."""

    def __init__(self, server, aws):
        self.server = server
        self.iot = server.client("iot", max_pool_connections=16)
        self.aws = aws


@pytest.fixture(scope="module")
def big(launch_server, aws_for, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("big")
    srv = launch_server(workdir)
    try:
        b = Big(srv, aws_for(srv, workdir))
        iot = b.iot
        iot.create_thing_group(thingGroupName="fleet")
        iot.create_thing_group(thingGroupName="fleet-late", parentGroupName="fleet")

        def enroll(name):
            iot.create_thing(thingName=name)
            iot.add_thing_to_thing_group(thingGroupName="fleet", thingName=name)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(enroll, FLEET))
        iot.create_job(jobId="big", targets=[group_arn("fleet")], document='{"op":"x"}',
                       targetSelection="CONTINUOUS")
        exact_counters(iot, "big", Queued=N)
        yield b
    finally:
        srv.stop()


def keys(summaries) -> list:
    return [(s["thingArn"], s["jobExecutionSummary"]["executionNumber"]) for s in summaries]


def assert_exactly_the_fleet(summaries):
    ks = keys(summaries)
    dupes = [k for k, n in Counter(ks).items() if n > 1]
    assert dupes == [], f"duplicates: {dupes[:5]}"
    assert len(ks) == N
    assert {a for a, _ in ks} == {thing_arn(t) for t in FLEET}
    assert all(s["jobExecutionSummary"]["status"] == "QUEUED" for s in summaries)


def test_600_default_page_size_is_100(big):
    resp = big.iot.list_job_executions_for_job(jobId="big")
    assert len(resp["executionSummaries"]) == 100
    assert resp["nextToken"]


def test_600_boto3_paginator(big):
    assert_exactly_the_fleet(all_pages(big.iot, "list_job_executions_for_job",
                                       "executionSummaries", jobId="big"))
    sizes = [len(p["executionSummaries"]) for p in big.iot.get_paginator(
        "list_job_executions_for_job").paginate(jobId="big", PaginationConfig={"PageSize": 250})]
    assert sizes == [250, 250, 100]
    # the status filter pages the same way
    assert_exactly_the_fleet(all_pages(big.iot, "list_job_executions_for_job", "executionSummaries",
                                       jobId="big", status="QUEUED",
                                       PaginationConfig={"PageSize": 70}))
    assert big.iot.list_job_executions_for_job(jobId="big", status="SUCCEEDED")["executionSummaries"] == []


def test_600_pages_while_executions_are_inserted(big):
    """New executions appear between page fetches. Those created after the cursor's
    position (things named after every existing one, added later) must show up;
    nothing that was there from the start may be skipped or repeated; the one
    inserted before the cursor may show up at most once."""
    iot = big.iot
    late = ["zz-late-1", "zz-late-2", "zz-late-3"]
    early = "aaa-early"
    added = []

    def add(name, group="fleet"):
        iot.create_thing(thingName=name)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=name)
        added.append(name)

    try:
        seen, token, page_no = [], None, 0
        while True:
            kwargs = {"jobId": "big", "maxResults": 100, **({"nextToken": token} if token else {})}
            resp = iot.list_job_executions_for_job(**kwargs)
            seen.extend(resp["executionSummaries"])
            page_no += 1
            token = resp.get("nextToken")
            if page_no == 1:
                add(late[0])
            elif page_no == 3:
                add(late[1], "fleet-late")  # through a descendant group
                add(early)
            elif page_no == 5:
                add(late[2])
            if not token:
                break
            assert page_no < 20, "pagination does not end"

        ks = keys(seen)
        dupes = [k for k, n in Counter(ks).items() if n > 1]
        assert dupes == []
        arns = Counter(a for a, _ in ks)
        for t in FLEET:
            assert arns[thing_arn(t)] == 1, t
        for t in late:
            assert arns[thing_arn(t)] == 1, f"{t} (inserted after the cursor) is missing"
        assert arns[thing_arn(early)] <= 1
        assert len(ks) in (N + 3, N + 4)
        exact_counters(iot, "big", Queued=N + 4)
    finally:
        # take the newcomers out again: leave the group (REMOVED), delete the execution
        for name in added:
            group = "fleet-late" if name == late[1] else "fleet"
            iot.remove_thing_from_thing_group(thingGroupName=group, thingName=name)
            assert execution(iot, name, "big")["status"] == "REMOVED"
            iot.delete_job_execution(jobId="big", thingName=name, executionNumber=1)
            iot.delete_thing(thingName=name)
    exact_counters(iot, "big", Queued=N)
    assert_exactly_the_fleet(all_pages(iot, "list_job_executions_for_job",
                                       "executionSummaries", jobId="big"))


def cli_json(result) -> dict:
    rc, out, err = result
    assert rc == 0, f"exit {rc}\nstderr: {err}"
    return json.loads(out)


def test_600_cli_auto_pagination(big):
    out = cli_json(big.aws("iot", "list-job-executions-for-job", "--job-id", "big"))
    assert "nextToken" not in out and "NextToken" not in out
    assert_exactly_the_fleet(out["executionSummaries"])


def test_600_cli_page_size_50(big):
    out = cli_json(big.aws("iot", "list-job-executions-for-job", "--job-id", "big",
                           "--page-size", "50"))
    assert "nextToken" not in out and "NextToken" not in out
    assert_exactly_the_fleet(out["executionSummaries"])


def test_600_things_listed_in_name_order(big):
    things = all_pages(big.iot, "list_things", "things", PaginationConfig={"PageSize": 250})
    got = [t["thingName"] for t in things]
    assert got == sorted(FLEET)
    in_group = all_pages(big.iot, "list_things_in_thing_group", "things", thingGroupName="fleet")
    assert sorted(in_group) == FLEET
    assert len(set(in_group)) == N


def test_600_one_thing_and_the_job(big):
    resp = big.iot.list_job_executions_for_thing(thingName="dev-0042")
    assert [(s["jobId"], s["jobExecutionSummary"]["status"]) for s in resp["executionSummaries"]] == [
        ("big", "QUEUED")]
    j = job(big.iot, "big")
    assert (j["status"], j["targetSelection"]) == ("IN_PROGRESS", "CONTINUOUS")
