"""Things and thing groups through boto3: ListThings filters and pages, DeleteThing
(and what it does to executions), CreateThingGroup, DescribeThingGroup, group
membership, and jobs that target thing groups, SNAPSHOT and CONTINUOUS (wire spec §4,
§6.10, §6.11)."""

import datetime

import pytest

from iotjobs_helpers import (
    all_pages,
    count,
    exact_counters,
    execution,
    finish_execution,
    group_arn,
    job,
    make_group_job,
    make_job,
    raises_aws,
    start_execution,
    statuses_for_job,
    thing_arn,
)


def members(iot, group: str, recursive: bool = False) -> list:
    return all_pages(iot, "list_things_in_thing_group", "things",
                     thingGroupName=group, recursive=recursive)


def thing_jobs(iot, thing: str, **kwargs) -> list:
    """(jobId, executionNumber, status) of a thing's executions."""
    return [
        (s["jobId"], s["jobExecutionSummary"]["executionNumber"], s["jobExecutionSummary"]["status"])
        for s in iot.list_job_executions_for_thing(thingName=thing, **kwargs)["executionSummaries"]
    ]


# --- ListThings ------------------------------------------------------------------------


@pytest.fixture
def registry(iot):
    """Five things with attributes and thing types, created out of name order."""
    spec = {
        "sensor-3": ("thermo", {"color": "red", "fw": "1.2.0"}),
        "sensor-1": ("thermo", {"color": "blue", "fw": "1.10.3"}),
        "cam-2": ("camera", {"color": "red", "fw": "2.0"}),
        "sensor-2": (None, {"color": "red"}),
        "cam-1": ("camera", {}),
    }
    for name, (ttype, attrs) in spec.items():
        kwargs = {"attributePayload": {"attributes": attrs}}
        if ttype:
            kwargs["thingTypeName"] = ttype
        iot.create_thing(thingName=name, **kwargs)
    return spec


def names(things) -> list:
    return [t["thingName"] for t in things]


def test_list_things_all_sorted_by_name(iot, registry):
    resp = iot.list_things()
    assert names(resp["things"]) == ["cam-1", "cam-2", "sensor-1", "sensor-2", "sensor-3"]
    assert not resp.get("nextToken")
    by_name = {t["thingName"]: t for t in resp["things"]}
    s3 = by_name["sensor-3"]
    assert s3["thingArn"] == thing_arn("sensor-3")
    assert s3["thingTypeName"] == "thermo"
    assert s3["attributes"] == {"color": "red", "fw": "1.2.0"}
    assert s3["version"] == 1
    assert "thingTypeName" not in by_name["sensor-2"]


def test_list_things_filters(iot, registry):
    assert names(iot.list_things(attributeName="color", attributeValue="red")["things"]) == [
        "cam-2", "sensor-2", "sensor-3"]
    assert names(iot.list_things(attributeName="color", attributeValue="re")["things"]) == []
    assert names(iot.list_things(attributeName="fw", attributeValue="1.",
                                 usePrefixAttributeValue=True)["things"]) == ["sensor-1", "sensor-3"]
    assert names(iot.list_things(attributeName="fw", attributeValue="1.1",
                                 usePrefixAttributeValue=True)["things"]) == ["sensor-1"]
    assert names(iot.list_things(attributeName="fw", attributeValue="1.",
                                 usePrefixAttributeValue=False)["things"]) == []
    assert names(iot.list_things(thingTypeName="camera")["things"]) == ["cam-1", "cam-2"]
    assert names(iot.list_things(thingTypeName="camera", attributeName="color",
                                 attributeValue="red")["things"]) == ["cam-2"]
    assert names(iot.list_things(thingTypeName="nope")["things"]) == []


def test_list_things_pagination(iot, iot_unchecked, registry):
    seen, token = [], None
    pages = 0
    while True:
        kwargs = {"maxResults": 2, **({"nextToken": token} if token else {})}
        resp = iot.list_things(**kwargs)
        pages += 1
        assert len(resp["things"]) <= 2
        seen += names(resp["things"])
        token = resp.get("nextToken")
        if not token:
            break
    assert pages == 3
    assert seen == ["cam-1", "cam-2", "sensor-1", "sensor-2", "sensor-3"]
    got = names(all_pages(iot, "list_things", "things", attributeName="color",
                          attributeValue="red", PaginationConfig={"PageSize": 1}))
    assert got == ["cam-2", "sensor-2", "sensor-3"]
    for bad in (0, 251):
        with raises_aws("InvalidRequestException", 400):
            iot_unchecked.list_things(maxResults=bad)


# --- DeleteThing -----------------------------------------------------------------------


def test_delete_thing_expected_version(iot):
    iot.create_thing(thingName="t1")
    with raises_aws("VersionConflictException", 409):
        iot.delete_thing(thingName="t1", expectedVersion=7)
    assert iot.describe_thing(thingName="t1")["version"] == 1
    resp = iot.delete_thing(thingName="t1", expectedVersion=1)
    assert set(resp) == {"ResponseMetadata"}
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_thing(thingName="t1")
    assert iot.list_things()["things"] == []


def test_delete_unknown_thing_is_200(iot):
    assert iot.delete_thing(thingName="ghost")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert iot.delete_thing(thingName="ghost", expectedVersion=3)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_delete_thing_removes_pending_executions(iot, jobs_data):
    """QUEUED and IN_PROGRESS executions of the deleted thing become REMOVED (in
    every job); terminal ones stay; the counters follow."""
    for t in ("dev", "peer"):
        iot.create_thing(thingName=t)
    make_job(iot, "queued", ["dev", "peer"], create_things=False)
    make_job(iot, "running", ["dev", "peer"], create_things=False)
    make_job(iot, "done", ["dev", "peer"], create_things=False)
    make_job(iot, "canceled", ["dev", "peer"], create_things=False)
    start_execution(jobs_data, "dev", "running")
    finish_execution(jobs_data, "dev", "done", "SUCCEEDED")
    iot.cancel_job_execution(jobId="canceled", thingName="dev")

    iot.delete_thing(thingName="dev")

    assert statuses_for_job(iot, "queued") == {"dev": "REMOVED", "peer": "QUEUED"}
    assert statuses_for_job(iot, "running") == {"dev": "REMOVED", "peer": "QUEUED"}
    assert statuses_for_job(iot, "done") == {"dev": "SUCCEEDED", "peer": "QUEUED"}
    assert statuses_for_job(iot, "canceled") == {"dev": "CANCELED", "peer": "QUEUED"}
    exact_counters(iot, "queued", Removed=1, Queued=1)
    exact_counters(iot, "running", Removed=1, Queued=1)
    exact_counters(iot, "done", Succeeded=1, Queued=1)
    exact_counters(iot, "canceled", Canceled=1, Queued=1)
    for j in ("queued", "running", "done", "canceled"):
        assert job(iot, j)["status"] == "IN_PROGRESS"  # peer is still pending


def test_delete_last_pending_thing_completes_snapshot_job(iot, jobs_data):
    make_job(iot, "j1", ["a", "b"])
    finish_execution(jobs_data, "a", "j1", "SUCCEEDED")
    start_execution(jobs_data, "b", "j1")
    assert job(iot, "j1")["status"] == "IN_PROGRESS"
    iot.delete_thing(thingName="b")
    j = job(iot, "j1")
    assert j["status"] == "COMPLETED"
    assert "completedAt" in j
    exact_counters(iot, "j1", Succeeded=1, Removed=1)


def test_delete_thing_leaves_its_groups(iot):
    iot.create_thing_group(thingGroupName="g")
    for t in ("t1", "t2"):
        iot.create_thing(thingName=t)
        iot.add_thing_to_thing_group(thingGroupName="g", thingName=t)
    iot.delete_thing(thingName="t1")
    assert members(iot, "g") == ["t2"]
    # the name can be used again, without the old membership
    iot.create_thing(thingName="t1")
    assert members(iot, "g") == ["t2"]


# --- CreateThingGroup / DescribeThingGroup ----------------------------------------------


def test_create_thing_group_idempotent_and_conflicts(iot):
    props = {"thingGroupDescription": "all sensors",
             "attributePayload": {"attributes": {"site": "berlin"}}}
    first = iot.create_thing_group(thingGroupName="sensors", thingGroupProperties=props)
    assert first["thingGroupName"] == "sensors"
    assert first["thingGroupArn"] == group_arn("sensors")
    assert first["thingGroupId"]
    again = iot.create_thing_group(thingGroupName="sensors", thingGroupProperties=props)
    assert again["thingGroupId"] == first["thingGroupId"]
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200

    other = {"thingGroupDescription": "something else",
             "attributePayload": {"attributes": {"site": "berlin"}}}
    with raises_aws("ResourceAlreadyExistsException", 409):
        iot.create_thing_group(thingGroupName="sensors", thingGroupProperties=other)
    iot.create_thing_group(thingGroupName="root")
    with raises_aws("ResourceAlreadyExistsException", 409):
        iot.create_thing_group(thingGroupName="sensors", parentGroupName="root",
                               thingGroupProperties=props)
    d = iot.describe_thing_group(thingGroupName="sensors")
    assert d["thingGroupProperties"]["thingGroupDescription"] == "all sensors"
    assert "parentGroupName" not in d["thingGroupMetadata"]


def test_create_thing_group_unknown_parent_is_404(iot):
    with raises_aws("ResourceNotFoundException", 404):
        iot.create_thing_group(thingGroupName="child", parentGroupName="nope")
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_thing_group(thingGroupName="child")


def test_describe_thing_group_hierarchy(iot):
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    iot.create_thing_group(thingGroupName="earth")
    iot.create_thing_group(thingGroupName="europe", parentGroupName="earth")
    created = iot.create_thing_group(
        thingGroupName="berlin", parentGroupName="europe",
        thingGroupProperties={"thingGroupDescription": "city",
                              "attributePayload": {"attributes": {"tz": "CET"}}})

    d = iot.describe_thing_group(thingGroupName="berlin")
    assert d["thingGroupName"] == "berlin"
    assert d["thingGroupArn"] == group_arn("berlin")
    assert d["thingGroupId"] == created["thingGroupId"]
    assert d["thingGroupProperties"]["thingGroupDescription"] == "city"
    assert d["thingGroupProperties"]["attributePayload"]["attributes"] == {"tz": "CET"}
    meta = d["thingGroupMetadata"]
    assert meta["parentGroupName"] == "europe"
    assert meta["rootToParentThingGroups"] == [
        {"groupName": "earth", "groupArn": group_arn("earth")},
        {"groupName": "europe", "groupArn": group_arn("europe")},
    ]
    assert isinstance(meta["creationDate"], datetime.datetime)
    assert before <= meta["creationDate"] <= before + datetime.timedelta(seconds=60)

    root = iot.describe_thing_group(thingGroupName="earth")["thingGroupMetadata"]
    assert "parentGroupName" not in root
    assert root.get("rootToParentThingGroups", []) == []
    mid = iot.describe_thing_group(thingGroupName="europe")["thingGroupMetadata"]
    assert mid["parentGroupName"] == "earth"
    assert [g["groupName"] for g in mid["rootToParentThingGroups"]] == ["earth"]


# --- membership --------------------------------------------------------------------------


def test_add_and_remove_by_name_or_arn(iot):
    iot.create_thing_group(thingGroupName="g")
    for t in ("t1", "t2", "t3"):
        iot.create_thing(thingName=t)
    resp = iot.add_thing_to_thing_group(thingGroupName="g", thingName="t1")
    assert set(resp) == {"ResponseMetadata"}
    iot.add_thing_to_thing_group(thingGroupArn=group_arn("g"), thingArn=thing_arn("t2"))
    iot.add_thing_to_thing_group(thingGroupName="g", thingArn=thing_arn("t3"))
    iot.add_thing_to_thing_group(thingGroupName="g", thingName="t3")  # again: no-op
    assert members(iot, "g") == ["t1", "t2", "t3"]

    resp = iot.remove_thing_from_thing_group(thingGroupArn=group_arn("g"), thingName="t1")
    assert set(resp) == {"ResponseMetadata"}
    iot.remove_thing_from_thing_group(thingGroupName="g", thingArn=thing_arn("t3"))
    assert members(iot, "g") == ["t2"]


def test_membership_errors(iot):
    iot.create_thing_group(thingGroupName="g")
    iot.create_thing(thingName="t1")
    for op in (iot.add_thing_to_thing_group, iot.remove_thing_from_thing_group):
        with raises_aws("InvalidRequestException", 400):
            op(thingName="t1")  # no group
        with raises_aws("InvalidRequestException", 400):
            op(thingGroupName="g")  # no thing
        with raises_aws("ResourceNotFoundException", 404):
            op(thingGroupName="nope", thingName="t1")
        with raises_aws("ResourceNotFoundException", 404):
            op(thingGroupName="g", thingName="nope")
        with raises_aws("ResourceNotFoundException", 404):
            op(thingGroupArn=group_arn("nope"), thingArn=thing_arn("t1"))
    assert members(iot, "g") == []


def test_a_thing_is_in_at_most_ten_groups(iot):
    iot.create_thing(thingName="t1")
    for i in range(11):
        iot.create_thing_group(thingGroupName=f"g{i:02d}")
    for i in range(10):
        iot.add_thing_to_thing_group(thingGroupName=f"g{i:02d}", thingName="t1")
    with raises_aws("InvalidRequestException", 400):
        iot.add_thing_to_thing_group(thingGroupName="g10", thingName="t1")
    assert members(iot, "g10") == []
    # leaving one group makes room
    iot.remove_thing_from_thing_group(thingGroupName="g00", thingName="t1")
    iot.add_thing_to_thing_group(thingGroupName="g10", thingName="t1")
    assert members(iot, "g10") == ["t1"]


def test_list_things_in_thing_group_recursive(iot):
    iot.create_thing_group(thingGroupName="root")
    iot.create_thing_group(thingGroupName="mid", parentGroupName="root")
    iot.create_thing_group(thingGroupName="leaf", parentGroupName="mid")
    for t, g in (("r1", "root"), ("m1", "mid"), ("m2", "mid"), ("l1", "leaf")):
        iot.create_thing(thingName=t)
        iot.add_thing_to_thing_group(thingGroupName=g, thingName=t)
    assert members(iot, "root") == ["r1"]
    assert sorted(members(iot, "root", recursive=True)) == ["l1", "m1", "m2", "r1"]
    assert sorted(members(iot, "mid", recursive=True)) == ["l1", "m1", "m2"]
    assert members(iot, "leaf", recursive=True) == ["l1"]
    with raises_aws("ResourceNotFoundException", 404):
        iot.list_things_in_thing_group(thingGroupName="nope")


# --- jobs targeting groups ---------------------------------------------------------------


@pytest.fixture
def fleet(iot):
    """fleet (f1, f2) with child group fleet-eu (e1, e2) and grandchild fleet-de (d1);
    spare things x1, x2, x3 in no group."""
    iot.create_thing_group(thingGroupName="fleet")
    iot.create_thing_group(thingGroupName="fleet-eu", parentGroupName="fleet")
    iot.create_thing_group(thingGroupName="fleet-de", parentGroupName="fleet-eu")
    layout = {"f1": "fleet", "f2": "fleet", "e1": "fleet-eu", "e2": "fleet-eu", "d1": "fleet-de"}
    for t, g in layout.items():
        iot.create_thing(thingName=t)
        iot.add_thing_to_thing_group(thingGroupName=g, thingName=t)
    for t in ("x1", "x2", "x3"):
        iot.create_thing(thingName=t)
    return layout


def test_snapshot_job_expands_group_and_descendants_at_creation(iot, jobs_data, fleet):
    make_group_job(iot, "snap", ["fleet"])
    assert statuses_for_job(iot, "snap") == {t: "QUEUED" for t in fleet}
    exact_counters(iot, "snap", Queued=5)
    j = job(iot, "snap")
    assert j["targets"] == [group_arn("fleet")]
    assert j["targetSelection"] == "SNAPSHOT"
    e = execution(iot, "d1", "snap")
    assert (e["status"], e["executionNumber"], e["thingArn"]) == ("QUEUED", 1, thing_arn("d1"))

    # a thing added later (to the group or a descendant) gets nothing
    iot.add_thing_to_thing_group(thingGroupName="fleet", thingName="x1")
    iot.add_thing_to_thing_group(thingGroupName="fleet-de", thingName="x2")
    for t in ("x1", "x2"):
        with raises_aws("ResourceNotFoundException", 404):
            iot.describe_job_execution(jobId="snap", thingName=t)
        assert thing_jobs(iot, t) == []
    exact_counters(iot, "snap", Queued=5)
    # removing a member does not touch a SNAPSHOT job's execution
    iot.remove_thing_from_thing_group(thingGroupName="fleet", thingName="f1")
    assert execution(iot, "f1", "snap")["status"] == "QUEUED"

    # all done: a SNAPSHOT job completes
    for t in fleet:
        finish_execution(jobs_data, t, "snap", "SUCCEEDED")
    assert job(iot, "snap")["status"] == "COMPLETED"
    exact_counters(iot, "snap", Succeeded=5)


def test_job_over_thing_and_overlapping_groups_has_one_execution_per_thing(iot, fleet):
    iot.create_job(jobId="both", document='{"a":1}',
                   targets=[group_arn("fleet"), group_arn("fleet-eu"), thing_arn("e1"), thing_arn("x3")])
    assert statuses_for_job(iot, "both") == {t: "QUEUED" for t in [*fleet, "x3"]}
    exact_counters(iot, "both", Queued=6)


def test_unknown_group_target_is_404(iot):
    with raises_aws("ResourceNotFoundException", 404):
        make_group_job(iot, "j1", ["nope"])
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job(jobId="j1")


def test_continuous_job_picks_up_things_added_later(iot, jobs_data, fleet):
    make_group_job(iot, "cont", ["fleet"], targetSelection="CONTINUOUS")
    exact_counters(iot, "cont", Queued=5)
    assert job(iot, "cont")["targetSelection"] == "CONTINUOUS"

    # added to the group itself, and to a grandchild group
    iot.add_thing_to_thing_group(thingGroupName="fleet", thingName="x1")
    iot.add_thing_to_thing_group(thingGroupName="fleet-de", thingName="x2")
    for t in ("x1", "x2"):
        e = execution(iot, t, "cont")
        assert (e["status"], e["executionNumber"], e["versionNumber"]) == ("QUEUED", 1, 1)
    exact_counters(iot, "cont", Queued=7)
    # the device sees it
    nxt = jobs_data.start_next_pending_job_execution(thingName="x2")["execution"]
    assert (nxt["jobId"], nxt["status"]) == ("cont", "IN_PROGRESS")
    exact_counters(iot, "cont", Queued=6, InProgress=1)
    # x3 is in no group: nothing
    assert thing_jobs(iot, "x3") == []


def test_continuous_job_removal_and_readd(iot, jobs_data, fleet):
    make_group_job(iot, "cont", ["fleet"], targetSelection="CONTINUOUS")
    iot.add_thing_to_thing_group(thingGroupName="fleet-eu", thingName="x1")
    exact_counters(iot, "cont", Queued=6)

    # leaving the (descendant) group: the QUEUED execution becomes REMOVED
    iot.remove_thing_from_thing_group(thingGroupName="fleet-eu", thingName="x1")
    e = execution(iot, "x1", "cont")
    assert (e["status"], e["executionNumber"]) == ("REMOVED", 1)
    exact_counters(iot, "cont", Queued=5, Removed=1)
    pending = jobs_data.get_pending_job_executions(thingName="x1")
    assert pending["queuedJobs"] == [] and pending["inProgressJobs"] == []

    # coming back: a new execution, number 2
    iot.add_thing_to_thing_group(thingGroupName="fleet", thingName="x1")
    assert thing_jobs(iot, "x1", jobId="cont") == [("cont", 1, "REMOVED"), ("cont", 2, "QUEUED")]
    latest = execution(iot, "x1", "cont")
    assert (latest["status"], latest["executionNumber"]) == ("QUEUED", 2)
    old = iot.describe_job_execution(jobId="cont", thingName="x1", executionNumber=1)["execution"]
    assert old["status"] == "REMOVED"
    exact_counters(iot, "cont", Queued=6, Removed=1)
    nxt = jobs_data.start_next_pending_job_execution(thingName="x1")["execution"]
    assert (nxt["jobId"], nxt["executionNumber"]) == ("cont", 2)


def test_continuous_removal_keeps_executions_still_targeted(iot, jobs_data, fleet):
    iot.create_thing_group(thingGroupName="other")
    iot.add_thing_to_thing_group(thingGroupName="other", thingName="f2")
    iot.create_job(jobId="cont", document='{"a":1}', targetSelection="CONTINUOUS",
                   targets=[group_arn("fleet"), group_arn("other"), thing_arn("f1")])
    # f1 is also a direct target, f2 also a member of "other"
    iot.remove_thing_from_thing_group(thingGroupName="fleet", thingName="f1")
    iot.remove_thing_from_thing_group(thingGroupName="fleet", thingName="f2")
    assert execution(iot, "f1", "cont")["status"] == "QUEUED"
    assert execution(iot, "f2", "cont")["status"] == "QUEUED"
    # an IN_PROGRESS execution is not REMOVED when its thing leaves the group
    start_execution(jobs_data, "e1", "cont")
    iot.remove_thing_from_thing_group(thingGroupName="fleet-eu", thingName="e1")
    assert execution(iot, "e1", "cont")["status"] == "IN_PROGRESS"
    exact_counters(iot, "cont", Queued=4, InProgress=1)


def test_continuous_job_never_completes(iot, jobs_data, fleet):
    make_group_job(iot, "cont", ["fleet-de"], targetSelection="CONTINUOUS")
    finish_execution(jobs_data, "d1", "cont", "SUCCEEDED")
    j = job(iot, "cont")
    assert j["status"] == "IN_PROGRESS"
    assert "completedAt" not in j
    exact_counters(iot, "cont", Succeeded=1)
    # and still rolls out to newcomers
    iot.add_thing_to_thing_group(thingGroupName="fleet-de", thingName="x1")
    exact_counters(iot, "cont", Succeeded=1, Queued=1)
    # a CONTINUOUS job over an empty group is IN_PROGRESS too
    iot.create_thing_group(thingGroupName="empty")
    make_group_job(iot, "idle", ["empty"], targetSelection="CONTINUOUS")
    assert job(iot, "idle")["status"] == "IN_PROGRESS"
    exact_counters(iot, "idle")


def test_canceled_continuous_job_stops_rolling_out(iot, fleet):
    make_group_job(iot, "cont", ["fleet"], targetSelection="CONTINUOUS")
    iot.cancel_job(jobId="cont")
    exact_counters(iot, "cont", Canceled=5)
    iot.add_thing_to_thing_group(thingGroupName="fleet", thingName="x1")
    assert thing_jobs(iot, "x1") == []
    exact_counters(iot, "cont", Canceled=5)


def test_delete_thing_in_continuous_group(iot, fleet):
    make_group_job(iot, "cont", ["fleet"], targetSelection="CONTINUOUS")
    iot.delete_thing(thingName="e2")
    assert statuses_for_job(iot, "cont")["e2"] == "REMOVED"
    assert count(iot, "cont", "Removed") == 1
    assert "e2" not in members(iot, "fleet", recursive=True)
    exact_counters(iot, "cont", Queued=4, Removed=1)


def test_list_jobs_by_thing_group(iot, fleet):
    make_group_job(iot, "a", ["fleet"], targetSelection="CONTINUOUS")
    make_group_job(iot, "b", ["fleet-eu"])
    make_job(iot, "c", ["f1"], create_things=False)
    assert [j["jobId"] for j in iot.list_jobs(thingGroupName="fleet")["jobs"]] == ["a"]
    assert [j["jobId"] for j in iot.list_jobs(thingGroupName="fleet-eu")["jobs"]] == ["b"]
    assert [j["jobId"] for j in iot.list_jobs()["jobs"]] == ["a", "b", "c"]
