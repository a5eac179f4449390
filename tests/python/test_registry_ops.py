"""UpdateThing, DeleteThingGroup, UpdateThingGroup, ListThingGroups and
ListThingGroupsForThing through boto3, the AWS CLI v1 and `iotjobs iot …`: response
shapes, versions, attribute merge rules, model validation, every error case, paging and
filters, and what deleting a group does to memberships and to jobs that target it.

The behaviour asserted here, and where each rule comes from, is written down in
docs/registry-ops-semantics.md (AWS models, AWS docs, moto, or our choice)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from conftest import _clean_env
from iotjobs_helpers import (
    all_pages,
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

CHILD_GROUPS_MESSAGE = "Cannot delete thing group : {} when there are still child groups attached to it"


# --- helpers -----------------------------------------------------------------------------


def thing(iot, name: str) -> dict:
    return iot.describe_thing(thingName=name)


def attrs(iot, name: str) -> dict:
    return thing(iot, name).get("attributes") or {}


def version(iot, name: str) -> int:
    return thing(iot, name)["version"]


def group(iot, name: str) -> dict:
    return iot.describe_thing_group(thingGroupName=name)


def group_attrs(iot, name: str) -> dict:
    props = group(iot, name).get("thingGroupProperties") or {}
    return (props.get("attributePayload") or {}).get("attributes") or {}


def group_description(iot, name: str) -> str:
    return (group(iot, name).get("thingGroupProperties") or {}).get("thingGroupDescription", "")


def group_version(iot, name: str) -> int:
    return group(iot, name)["version"]


def names(items) -> list:
    return [g["groupName"] for g in items]


def list_groups(iot, **kwargs) -> list:
    """Every group name of ListThingGroups (all pages) for these filters."""
    return names(all_pages(iot, "list_thing_groups", "thingGroups", **kwargs))


def groups_for(iot, thing_name: str, **kwargs) -> list:
    return names(all_pages(iot, "list_thing_groups_for_thing", "thingGroups",
                           thingName=thing_name, **kwargs))


def members(iot, group_name: str, recursive: bool = False) -> list:
    return all_pages(iot, "list_things_in_thing_group", "things",
                     thingGroupName=group_name, recursive=recursive)


def empty_response(resp) -> None:
    """A 200 whose output shape has no members: botocore shows only the metadata."""
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert set(resp) == {"ResponseMetadata"}, resp


def cli_ok(result):
    rc, out, err = result
    assert rc == 0, f"exit {rc}\nstdout: {out}\nstderr: {err}"
    return json.loads(out) if out.strip() else None


def cli_error(result, code: str, operation: str) -> None:
    rc, out, err = result
    assert rc == 255, f"exit {rc}\nstdout: {out}\nstderr: {err}"
    assert out == ""
    assert f"An error occurred ({code}) when calling the {operation} operation: " in err, err


@pytest.fixture
def tree(iot):
    """earth > europe > (berlin, paris); earth > asia > tokyo; moon (a second root)."""
    layout = [
        ("earth", None), ("europe", "earth"), ("berlin", "europe"), ("paris", "europe"),
        ("asia", "earth"), ("tokyo", "asia"), ("moon", None),
    ]
    for name, parent in layout:
        kwargs = {"parentGroupName": parent} if parent else {}
        iot.create_thing_group(thingGroupName=name, **kwargs)
    return layout


ALL_GROUPS = ["asia", "berlin", "earth", "europe", "moon", "paris", "tokyo"]


# === UpdateThing ===========================================================================


def test_update_thing_replaces_attributes_and_bumps_version(iot):
    created = iot.create_thing(thingName="t1", attributePayload={"attributes": {"color": "red", "fw": "1.0"}})
    assert version(iot, "t1") == 1

    resp = iot.update_thing(thingName="t1", attributePayload={"attributes": {"fw": "2.0"}})
    empty_response(resp)
    d = thing(iot, "t1")
    assert d["attributes"] == {"fw": "2.0"}  # merge absent: the map is replaced
    assert d["version"] == 2
    assert (d["thingName"], d["thingId"], d["thingArn"]) == ("t1", created["thingId"], thing_arn("t1"))
    assert d["defaultClientId"] == "t1"

    iot.update_thing(thingName="t1", attributePayload={"attributes": {"site": "b"}, "merge": False})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"site": "b"}, 3)

    # the same request again succeeds again and counts as another update
    iot.update_thing(thingName="t1", attributePayload={"attributes": {"site": "b"}, "merge": False})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"site": "b"}, 4)


def test_update_thing_merge_attributes(iot):
    iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "1", "b": "2"}})
    iot.update_thing(thingName="t1", attributePayload={"attributes": {"b": "20", "c": "3"}, "merge": True})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"a": "1", "b": "20", "c": "3"}, 2)

    # an empty value removes the attribute
    iot.update_thing(thingName="t1", attributePayload={"attributes": {"a": ""}, "merge": True})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"b": "20", "c": "3"}, 3)

    # removing an attribute that is not there: no error, nothing changes but the version
    iot.update_thing(thingName="t1", attributePayload={"attributes": {"zzz": ""}, "merge": True})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"b": "20", "c": "3"}, 4)

    # set, overwrite and remove in one request
    iot.update_thing(thingName="t1", attributePayload={"attributes": {"b": "", "c": "30", "d": "4"}, "merge": True})
    assert attrs(iot, "t1") == {"c": "30", "d": "4"}

    # merging nothing changes nothing
    iot.update_thing(thingName="t1", attributePayload={"attributes": {}, "merge": True})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"c": "30", "d": "4"}, 6)


def test_update_thing_empty_value_without_merge_is_never_stored(iot):
    iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "1", "b": "2"}})
    # replace with {"b": ""}: every attribute is gone, "b" is not stored empty
    iot.update_thing(thingName="t1", attributePayload={"attributes": {"b": ""}})
    assert attrs(iot, "t1") == {}
    iot.update_thing(thingName="t1", attributePayload={"attributes": {"x": "1", "y": ""}})
    assert attrs(iot, "t1") == {"x": "1"}
    # replace with an empty map clears them
    iot.update_thing(thingName="t1", attributePayload={"attributes": {}})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({}, 4)
    # nothing indexed under the removed names
    assert iot.list_things(attributeName="x", attributeValue="1")["things"] == []


def test_update_thing_without_attributes_keeps_them(iot):
    iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}})
    iot.update_thing(thingName="t1")
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"a": "1"}, 2)
    iot.update_thing(thingName="t1", attributePayload={})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"a": "1"}, 3)
    iot.update_thing(thingName="t1", attributePayload={"merge": True})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"a": "1"}, 4)
    iot.update_thing(thingName="t1", attributePayload={"merge": False})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"a": "1"}, 5)


def test_update_thing_thing_type_and_remove_thing_type(iot):
    # thing types are not served: names are stored as given (as CreateThing does)
    iot.create_thing(thingName="t1", thingTypeName="sensor", attributePayload={"attributes": {"a": "1"}})
    iot.update_thing(thingName="t1", thingTypeName="camera")
    d = thing(iot, "t1")
    assert (d["thingTypeName"], d["attributes"], d["version"]) == ("camera", {"a": "1"}, 2)
    assert [t["thingName"] for t in iot.list_things(thingTypeName="camera")["things"]] == ["t1"]
    assert iot.list_things(thingTypeName="sensor")["things"] == []

    # both at once contradict each other: 400, nothing changes
    with raises_aws("InvalidRequestException", 400):
        iot.update_thing(thingName="t1", thingTypeName="other", removeThingType=True)
    d = thing(iot, "t1")
    assert (d["thingTypeName"], d["version"]) == ("camera", 2)

    # removeThingType=False is no request to remove
    iot.update_thing(thingName="t1", removeThingType=False)
    assert (thing(iot, "t1")["thingTypeName"], version(iot, "t1")) == ("camera", 3)

    iot.update_thing(thingName="t1", removeThingType=True)
    d = thing(iot, "t1")
    assert "thingTypeName" not in d
    assert (d["attributes"], d["version"]) == ({"a": "1"}, 4)
    assert iot.list_things(thingTypeName="camera")["things"] == []
    listed = iot.list_things()["things"]
    assert "thingTypeName" not in listed[0] and listed[0]["version"] == 4

    # removing the type of an untyped thing is a no-op update
    iot.update_thing(thingName="t1", removeThingType=True)
    assert version(iot, "t1") == 5


def test_update_thing_expected_version_conflict(iot):
    iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}})
    iot.update_thing(thingName="t1", expectedVersion=1, attributePayload={"attributes": {"a": "2"}})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"a": "2"}, 2)

    for stale in (1, 0, 3, 99):
        with raises_aws("VersionConflictException", 409):
            iot.update_thing(thingName="t1", expectedVersion=stale, attributePayload={"attributes": {"a": "x"}})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"a": "2"}, 2)
    with raises_aws("VersionConflictException", 409):
        iot.update_thing(thingName="t1", expectedVersion=1, removeThingType=True)

    iot.update_thing(thingName="t1", expectedVersion=2, attributePayload={"attributes": {"a": "3"}})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"a": "3"}, 3)
    # the version a later DeleteThing must name
    with raises_aws("VersionConflictException", 409):
        iot.delete_thing(thingName="t1", expectedVersion=1)
    iot.delete_thing(thingName="t1", expectedVersion=3)


def test_update_thing_unknown_thing_is_404(iot):
    with raises_aws("ResourceNotFoundException", 404):
        iot.update_thing(thingName="ghost", attributePayload={"attributes": {"a": "1"}})
    # existence is checked before the version
    with raises_aws("ResourceNotFoundException", 404):
        iot.update_thing(thingName="ghost", expectedVersion=1)
    # UpdateThing never creates a thing
    assert iot.list_things()["things"] == []
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_thing(thingName="ghost")
    # a deleted thing cannot be updated either
    iot.create_thing(thingName="t1")
    iot.delete_thing(thingName="t1")
    with raises_aws("ResourceNotFoundException", 404):
        iot.update_thing(thingName="t1")


BAD_UPDATE_THING = {
    "name-129-chars": {"thingName": "t" * 129},
    "name-space-bang": {"thingName": "bad name!"},
    "attribute-key-space": {"attributePayload": {"attributes": {"bad key": "v"}}},
    "attribute-key-129": {"attributePayload": {"attributes": {"k" * 129: "v"}}},
    "attribute-value-space": {"attributePayload": {"attributes": {"k": "has space"}}},
    "attribute-value-801": {"attributePayload": {"attributes": {"k": "v" * 801}}},
    "attribute-value-quote": {"attributePayload": {"attributes": {"k": 'a"b'}}},
    "thing-type-129": {"thingTypeName": "x" * 129},
    "thing-type-slash": {"thingTypeName": "a/b"},
}


@pytest.mark.parametrize("bad", BAD_UPDATE_THING.values(), ids=BAD_UPDATE_THING.keys())
def test_update_thing_model_validation(iot, bad):
    iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}})
    with raises_aws("InvalidRequestException", 400):
        iot.update_thing(**{"thingName": "t1", **bad})
    assert (attrs(iot, "t1"), version(iot, "t1")) == ({"a": "1"}, 1)


def test_update_thing_validation_comes_before_not_found(iot):
    with raises_aws("InvalidRequestException", 400):
        iot.update_thing(thingName="ghost", attributePayload={"attributes": {"k": "has space"}})


def test_update_thing_attribute_limits_accepted(iot):
    iot.create_thing(thingName="t" * 128)
    big = {"k" * 128: "v" * 800, "aZ09_.,@/:#-": "aZ09_.,@/:#=[]-"}
    iot.update_thing(thingName="t" * 128, attributePayload={"attributes": big})
    assert attrs(iot, "t" * 128) == big


def test_update_thing_changes_what_create_thing_compares_with(iot):
    first = iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}})
    iot.update_thing(thingName="t1", attributePayload={"attributes": {"a": "2"}})
    again = iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "2"}})
    assert again["thingId"] == first["thingId"]
    with raises_aws("ResourceAlreadyExistsException", 409):
        iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}})
    assert version(iot, "t1") == 2


def test_update_thing_is_seen_by_list_things(iot):
    iot.create_thing(thingName="t1", attributePayload={"attributes": {"site": "berlin"}})
    iot.create_thing(thingName="t2", attributePayload={"attributes": {"site": "berlin"}})
    iot.update_thing(thingName="t1", attributePayload={"attributes": {"site": "paris"}, "merge": True})
    by_site = lambda v: [t["thingName"] for t in iot.list_things(attributeName="site", attributeValue=v)["things"]]
    assert by_site("paris") == ["t1"]
    assert by_site("berlin") == ["t2"]
    listed = {t["thingName"]: t for t in iot.list_things()["things"]}
    assert (listed["t1"]["attributes"], listed["t1"]["version"]) == ({"site": "paris"}, 2)
    assert listed["t2"]["version"] == 1


def test_update_thing_keeps_groups_and_executions(iot):
    iot.create_thing_group(thingGroupName="g")
    make_job(iot, "j1", ["t1"])
    iot.add_thing_to_thing_group(thingGroupName="g", thingName="t1")
    iot.update_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}})
    assert groups_for(iot, "t1") == ["g"]
    assert members(iot, "g") == ["t1"]
    e = execution(iot, "t1", "j1")
    assert (e["status"], e["versionNumber"]) == ("QUEUED", 1)


def test_update_thing_cli(aws, iot):
    iot.create_thing(thingName="dev1", attributePayload={"attributes": {"color": "red", "site": "b"}})
    upd = ("iot", "update-thing", "--thing-name", "dev1")

    # shorthand; the CLI prints nothing for an empty response
    rc, out, err = aws(*upd, "--attribute-payload", "attributes={color=green,fw=2.0},merge=true")
    assert (rc, out) == (0, ""), err
    d = cli_ok(aws("iot", "describe-thing", "--thing-name", "dev1"))
    assert (d["attributes"], d["version"]) == ({"color": "green", "fw": "2.0", "site": "b"}, 2)

    # JSON; an empty value removes (shorthand cannot spell an empty value)
    assert cli_ok(aws(*upd, "--attribute-payload", '{"attributes": {"color": ""}, "merge": true}')) is None
    assert attrs(iot, "dev1") == {"fw": "2.0", "site": "b"}

    cli_error(aws(*upd, "--expected-version", "1", "--attribute-payload", "attributes={a=b}"),
              "VersionConflictException", "UpdateThing")
    assert cli_ok(aws(*upd, "--expected-version", "3", "--thing-type-name", "lamp")) is None
    assert thing(iot, "dev1")["thingTypeName"] == "lamp"
    cli_error(aws(*upd, "--thing-type-name", "other", "--remove-thing-type"),
              "InvalidRequestException", "UpdateThing")
    assert cli_ok(aws(*upd, "--remove-thing-type")) is None
    assert "thingTypeName" not in thing(iot, "dev1")
    cli_error(aws("iot", "update-thing", "--thing-name", "ghost"), "ResourceNotFoundException", "UpdateThing")
    assert version(iot, "dev1") == 5


# === DeleteThingGroup ======================================================================


def test_delete_thing_group(iot):
    iot.create_thing_group(thingGroupName="g", thingGroupProperties={
        "thingGroupDescription": "d", "attributePayload": {"attributes": {"a": "1"}}})
    iot.create_thing_group(thingGroupName="h")
    resp = iot.delete_thing_group(thingGroupName="g")
    empty_response(resp)
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_thing_group(thingGroupName="g")
    assert list_groups(iot) == ["h"]
    with raises_aws("ResourceNotFoundException", 404):
        iot.update_thing_group(thingGroupName="g", thingGroupProperties={})


def test_delete_thing_group_unknown_is_200_and_idempotent(iot):
    empty_response(iot.delete_thing_group(thingGroupName="ghost"))
    empty_response(iot.delete_thing_group(thingGroupName="ghost", expectedVersion=5))
    iot.create_thing_group(thingGroupName="g")
    empty_response(iot.delete_thing_group(thingGroupName="g"))
    empty_response(iot.delete_thing_group(thingGroupName="g"))
    empty_response(iot.delete_thing_group(thingGroupName="g", expectedVersion=1))
    assert list_groups(iot) == []


def test_delete_thing_group_expected_version_conflict(iot):
    iot.create_thing_group(thingGroupName="g")
    iot.update_thing_group(thingGroupName="g", thingGroupProperties={"thingGroupDescription": "v2"})
    for stale in (1, 3):
        with raises_aws("VersionConflictException", 409):
            iot.delete_thing_group(thingGroupName="g", expectedVersion=stale)
    assert (group_version(iot, "g"), group_description(iot, "g")) == (2, "v2")
    empty_response(iot.delete_thing_group(thingGroupName="g", expectedVersion=2))
    assert list_groups(iot) == []


def test_delete_thing_group_with_child_groups_is_refused(iot, tree):
    iot.create_thing(thingName="t1")
    iot.add_thing_to_thing_group(thingGroupName="europe", thingName="t1")
    for parent in ("earth", "europe", "asia"):
        with raises_aws("InvalidRequestException", 400) as err:
            iot.delete_thing_group(thingGroupName=parent)
        assert CHILD_GROUPS_MESSAGE.format(parent) in err.response["Error"]["Message"]
    # nothing changed
    assert list_groups(iot) == ALL_GROUPS
    assert members(iot, "europe") == ["t1"]
    assert groups_for(iot, "t1") == ["europe"]
    assert group(iot, "europe")["thingGroupMetadata"]["parentGroupName"] == "earth"
    # the version check comes before the child check
    with raises_aws("VersionConflictException", 409):
        iot.delete_thing_group(thingGroupName="earth", expectedVersion=7)

    # leaves first, then their parents
    for leaf in ("berlin", "paris"):
        iot.delete_thing_group(thingGroupName=leaf)
    assert list_groups(iot, parentGroup="europe") == []
    iot.delete_thing_group(thingGroupName="europe")
    with raises_aws("InvalidRequestException", 400):
        iot.delete_thing_group(thingGroupName="earth")  # asia is still there
    iot.delete_thing_group(thingGroupName="tokyo")
    iot.delete_thing_group(thingGroupName="asia")
    iot.delete_thing_group(thingGroupName="earth", expectedVersion=1)
    assert list_groups(iot) == ["moon"]
    # the thing of the deleted group is still there
    assert groups_for(iot, "t1") == []


def test_delete_thing_group_removes_memberships(iot):
    for g in ("g", "h"):
        iot.create_thing_group(thingGroupName=g)
    for t in ("t1", "t2"):
        iot.create_thing(thingName=t)
        iot.add_thing_to_thing_group(thingGroupName="g", thingName=t)
    iot.add_thing_to_thing_group(thingGroupName="h", thingName="t1")
    assert groups_for(iot, "t1") == ["g", "h"]

    iot.delete_thing_group(thingGroupName="g")

    assert groups_for(iot, "t1") == ["h"]
    assert groups_for(iot, "t2") == []
    for t in ("t1", "t2"):
        assert version(iot, t) == 1  # the things remain, untouched
    assert sorted(t["thingName"] for t in iot.list_things()["things"]) == ["t1", "t2"]
    with raises_aws("ResourceNotFoundException", 404):
        iot.list_things_in_thing_group(thingGroupName="g")
    with raises_aws("ResourceNotFoundException", 404):
        iot.add_thing_to_thing_group(thingGroupName="g", thingName="t1")
    with raises_aws("ResourceNotFoundException", 404):
        iot.remove_thing_from_thing_group(thingGroupName="g", thingName="t1")
    assert members(iot, "h") == ["t1"]


def test_delete_thing_group_frees_a_membership_slot(iot):
    iot.create_thing(thingName="t1")
    for i in range(11):
        iot.create_thing_group(thingGroupName=f"g{i:02d}")
    for i in range(10):
        iot.add_thing_to_thing_group(thingGroupName=f"g{i:02d}", thingName="t1")
    with raises_aws("InvalidRequestException", 400):
        iot.add_thing_to_thing_group(thingGroupName="g10", thingName="t1")
    iot.delete_thing_group(thingGroupName="g03")
    iot.add_thing_to_thing_group(thingGroupName="g10", thingName="t1")
    assert groups_for(iot, "t1") == [f"g{i:02d}" for i in range(11) if i != 3]


def test_delete_thing_group_then_create_it_again(iot):
    first = iot.create_thing_group(thingGroupName="g", thingGroupProperties={
        "thingGroupDescription": "old", "attributePayload": {"attributes": {"a": "1"}}})
    iot.create_thing(thingName="t1")
    iot.add_thing_to_thing_group(thingGroupName="g", thingName="t1")
    iot.update_thing_group(thingGroupName="g", thingGroupProperties={"thingGroupDescription": "newer"})
    iot.delete_thing_group(thingGroupName="g")

    second = iot.create_thing_group(thingGroupName="g")
    assert second["thingGroupArn"] == group_arn("g")
    assert second["thingGroupId"] != first["thingGroupId"]
    d = group(iot, "g")
    assert d["version"] == 1
    assert group_attrs(iot, "g") == {}
    assert group_description(iot, "g") == ""
    assert members(iot, "g") == []
    assert groups_for(iot, "t1") == []


BAD_GROUP_NAMES = {"129-chars": "g" * 129, "space-bang": "bad name!", "slash": "a/b"}


@pytest.mark.parametrize("name", BAD_GROUP_NAMES.values(), ids=BAD_GROUP_NAMES.keys())
def test_delete_thing_group_model_validation(iot, name):
    # validation comes before the "unknown group is 200" rule
    with raises_aws("InvalidRequestException", 400):
        iot.delete_thing_group(thingGroupName=name)


def test_delete_thing_group_name_of_128_chars(iot):
    iot.create_thing_group(thingGroupName="g" * 128)
    iot.delete_thing_group(thingGroupName="g" * 128)
    assert list_groups(iot) == []


# --- DeleteThingGroup and jobs (our choice: as if every member were removed) --------------


@pytest.fixture
def fleet_jobs(iot, jobs_data):
    """fleet = {f1, f2, f3, f4}, other = {f3}; CONTINUOUS job `cont` targets fleet, other
    and f2 directly; SNAPSHOT job `snap` targets fleet; f1 has started `cont`."""
    for g in ("fleet", "other"):
        iot.create_thing_group(thingGroupName=g)
    for t in ("f1", "f2", "f3", "f4"):
        iot.create_thing(thingName=t)
        iot.add_thing_to_thing_group(thingGroupName="fleet", thingName=t)
    iot.add_thing_to_thing_group(thingGroupName="other", thingName="f3")
    iot.create_job(jobId="cont", document='{"a":1}', targetSelection="CONTINUOUS",
                   targets=[group_arn("fleet"), group_arn("other"), thing_arn("f2")])
    make_group_job(iot, "snap", ["fleet"])
    start_execution(jobs_data, "f1", "cont")
    exact_counters(iot, "cont", Queued=3, InProgress=1)


def test_delete_thing_group_targeted_by_continuous_job(iot, jobs_data, fleet_jobs):
    iot.delete_thing_group(thingGroupName="fleet")

    # QUEUED and targeted only through the deleted group: REMOVED; IN_PROGRESS stays;
    # still targeted directly (f2) or through another group (f3): stays QUEUED
    assert statuses_for_job(iot, "cont") == {
        "f1": "IN_PROGRESS", "f2": "QUEUED", "f3": "QUEUED", "f4": "REMOVED"}
    exact_counters(iot, "cont", Queued=2, InProgress=1, Removed=1)
    j = job(iot, "cont")
    assert j["status"] == "IN_PROGRESS"
    assert sorted(j["targets"]) == sorted([group_arn("fleet"), group_arn("other"), thing_arn("f2")])
    # the device no longer sees the removed execution (only the SNAPSHOT job's)
    pending = jobs_data.get_pending_job_executions(thingName="f4")
    assert [q["jobId"] for q in pending["queuedJobs"]] == ["snap"]
    assert pending["inProgressJobs"] == []

    # a SNAPSHOT job is not affected
    assert statuses_for_job(iot, "snap") == {t: "QUEUED" for t in ("f1", "f2", "f3", "f4")}
    exact_counters(iot, "snap", Queued=4)

    # the started execution finishes normally
    finish_execution(jobs_data, "f1", "cont", "SUCCEEDED")
    exact_counters(iot, "cont", Queued=2, Succeeded=1, Removed=1)
    assert job(iot, "cont")["status"] == "IN_PROGRESS"

    # a new job cannot target the deleted group
    with raises_aws("ResourceNotFoundException", 404):
        make_group_job(iot, "late", ["fleet"])
    assert groups_for(iot, "f3") == ["other"]


def test_delete_child_group_of_a_continuous_target(iot):
    iot.create_thing_group(thingGroupName="fleet")
    iot.create_thing_group(thingGroupName="fleet-eu", parentGroupName="fleet")
    for t, g in (("f1", "fleet"), ("e1", "fleet-eu")):
        iot.create_thing(thingName=t)
        iot.add_thing_to_thing_group(thingGroupName=g, thingName=t)
    make_group_job(iot, "cont", ["fleet"], targetSelection="CONTINUOUS")
    exact_counters(iot, "cont", Queued=2)

    iot.delete_thing_group(thingGroupName="fleet-eu")

    assert statuses_for_job(iot, "cont") == {"f1": "QUEUED", "e1": "REMOVED"}
    exact_counters(iot, "cont", Queued=1, Removed=1)
    assert members(iot, "fleet", recursive=True) == ["f1"]
    assert list_groups(iot, parentGroup="fleet") == []


def test_delete_thing_group_recreated_name_is_targeted_again(iot, jobs_data, fleet_jobs):
    """Our choice: job targets are ARNs, and a group's ARN is its name."""
    iot.delete_thing_group(thingGroupName="fleet")
    iot.create_thing_group(thingGroupName="fleet")
    iot.create_thing(thingName="x1")
    iot.add_thing_to_thing_group(thingGroupName="fleet", thingName="x1")
    e = execution(iot, "x1", "cont")
    assert (e["status"], e["executionNumber"]) == ("QUEUED", 1)
    # a SNAPSHOT job never picks up newcomers
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job_execution(jobId="snap", thingName="x1")


# === UpdateThingGroup ======================================================================


def test_update_thing_group_description_and_version(iot):
    iot.create_thing_group(thingGroupName="root")
    created = iot.create_thing_group(thingGroupName="g", parentGroupName="root", thingGroupProperties={
        "thingGroupDescription": "first", "attributePayload": {"attributes": {"a": "1"}}})
    before = group(iot, "g")
    assert before["version"] == 1

    resp = iot.update_thing_group(thingGroupName="g", thingGroupProperties={"thingGroupDescription": "second"})
    assert resp["version"] == 2
    assert set(resp) == {"version", "ResponseMetadata"}
    after = group(iot, "g")
    assert after["version"] == 2
    assert after["thingGroupProperties"]["thingGroupDescription"] == "second"
    assert group_attrs(iot, "g") == {"a": "1"}  # no attributePayload: attributes kept
    assert (after["thingGroupName"], after["thingGroupId"], after["thingGroupArn"]) == (
        "g", created["thingGroupId"], group_arn("g"))
    assert after["thingGroupMetadata"] == before["thingGroupMetadata"]  # parent, creation date

    # empty properties: nothing changes but the version
    assert iot.update_thing_group(thingGroupName="g", thingGroupProperties={})["version"] == 3
    assert (group_description(iot, "g"), group_attrs(iot, "g")) == ("second", {"a": "1"})

    # attributes only: the description is kept
    iot.update_thing_group(thingGroupName="g", thingGroupProperties={
        "attributePayload": {"attributes": {"b": "2"}}})
    assert (group_description(iot, "g"), group_attrs(iot, "g")) == ("second", {"b": "2"})

    # an empty description clears it
    assert iot.update_thing_group(thingGroupName="g", thingGroupProperties={
        "thingGroupDescription": ""})["version"] == 5
    assert group_description(iot, "g") == ""

    # the same request again is another update
    assert iot.update_thing_group(thingGroupName="g", thingGroupProperties={
        "thingGroupDescription": ""})["version"] == 6


def test_update_thing_group_attribute_merge(iot):
    iot.create_thing_group(thingGroupName="g", thingGroupProperties={
        "attributePayload": {"attributes": {"a": "1", "b": "2"}}})
    upd = lambda payload: iot.update_thing_group(
        thingGroupName="g", thingGroupProperties={"attributePayload": payload})["version"]

    assert upd({"attributes": {"b": "20", "c": "3"}, "merge": True}) == 2
    assert group_attrs(iot, "g") == {"a": "1", "b": "20", "c": "3"}
    upd({"attributes": {"a": "", "nope": ""}, "merge": True})
    assert group_attrs(iot, "g") == {"b": "20", "c": "3"}
    upd({"attributes": {}, "merge": True})
    assert group_attrs(iot, "g") == {"b": "20", "c": "3"}
    upd({"merge": True})
    assert group_attrs(iot, "g") == {"b": "20", "c": "3"}
    upd({"attributes": {"x": "1", "y": ""}})  # merge absent: replace, empty values dropped
    assert group_attrs(iot, "g") == {"x": "1"}
    upd({"attributes": {"z": "9"}, "merge": False})
    assert group_attrs(iot, "g") == {"z": "9"}
    assert upd({"attributes": {}}) == 8
    assert group_attrs(iot, "g") == {}

    # a group created without attributes can get some
    iot.create_thing_group(thingGroupName="bare")
    iot.update_thing_group(thingGroupName="bare", thingGroupProperties={
        "attributePayload": {"attributes": {"k": "v"}, "merge": True}})
    assert group_attrs(iot, "bare") == {"k": "v"}


def test_update_thing_group_expected_version_conflict(iot):
    iot.create_thing_group(thingGroupName="g", thingGroupProperties={"thingGroupDescription": "one"})
    for stale in (0, 2, 42):
        with raises_aws("VersionConflictException", 409):
            iot.update_thing_group(thingGroupName="g", expectedVersion=stale,
                                   thingGroupProperties={"thingGroupDescription": "x"})
    assert (group_version(iot, "g"), group_description(iot, "g")) == (1, "one")
    assert iot.update_thing_group(thingGroupName="g", expectedVersion=1,
                                  thingGroupProperties={"thingGroupDescription": "two"})["version"] == 2
    with raises_aws("VersionConflictException", 409):
        iot.update_thing_group(thingGroupName="g", expectedVersion=1,
                               thingGroupProperties={"thingGroupDescription": "three"})
    assert (group_version(iot, "g"), group_description(iot, "g")) == (2, "two")


def test_update_thing_group_unknown_group_is_404(iot):
    with raises_aws("ResourceNotFoundException", 404):
        iot.update_thing_group(thingGroupName="ghost", thingGroupProperties={"thingGroupDescription": "x"})
    with raises_aws("ResourceNotFoundException", 404):
        iot.update_thing_group(thingGroupName="ghost", expectedVersion=1, thingGroupProperties={})
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_thing_group(thingGroupName="ghost")
    assert list_groups(iot) == []


def test_update_thing_group_requires_thing_group_properties(iot, iot_unchecked):
    iot.create_thing_group(thingGroupName="g")
    with raises_aws("InvalidRequestException", 400) as err:
        iot_unchecked.update_thing_group(thingGroupName="g")
    assert "thingGroupProperties" in err.response["Error"]["Message"]
    with raises_aws("InvalidRequestException", 400):
        iot_unchecked.update_thing_group(thingGroupName="g", expectedVersion=1)
    assert group_version(iot, "g") == 1


BAD_UPDATE_GROUP = {
    "name-129-chars": {"thingGroupName": "g" * 129},
    "name-space-bang": {"thingGroupName": "bad name!"},
    "description-2029": {"thingGroupProperties": {"thingGroupDescription": "d" * 2029}},
    "description-newline": {"thingGroupProperties": {"thingGroupDescription": "line1\nline2"}},
    "description-tab": {"thingGroupProperties": {"thingGroupDescription": "a\tb"}},
    "attribute-value-space": {"thingGroupProperties": {"attributePayload": {"attributes": {"k": "a b"}}}},
    "attribute-key-129": {"thingGroupProperties": {"attributePayload": {"attributes": {"k" * 129: "v"}}}},
    "attribute-value-801": {"thingGroupProperties": {"attributePayload": {"attributes": {"k": "v" * 801}}}},
}


@pytest.mark.parametrize("bad", BAD_UPDATE_GROUP.values(), ids=BAD_UPDATE_GROUP.keys())
def test_update_thing_group_model_validation(iot, bad):
    iot.create_thing_group(thingGroupName="g", thingGroupProperties={"thingGroupDescription": "keep"})
    with raises_aws("InvalidRequestException", 400):
        iot.update_thing_group(**{"thingGroupName": "g", "thingGroupProperties": {}, **bad})
    assert (group_version(iot, "g"), group_description(iot, "g")) == (1, "keep")


def test_update_thing_group_description_limits_accepted(iot):
    iot.create_thing_group(thingGroupName="g")
    desc = "x" * 2019 + " a-Z !~{}"  # printable ASCII and spaces, 2028 characters
    assert len(desc) == 2028
    iot.update_thing_group(thingGroupName="g", thingGroupProperties={"thingGroupDescription": desc})
    assert group_description(iot, "g") == desc


def test_update_thing_group_keeps_hierarchy_and_members(iot, tree):
    iot.create_thing(thingName="t1")
    iot.add_thing_to_thing_group(thingGroupName="berlin", thingName="t1")
    before = group(iot, "berlin")["thingGroupMetadata"]
    iot.update_thing_group(thingGroupName="europe", thingGroupProperties={"thingGroupDescription": "eu"})
    iot.update_thing_group(thingGroupName="berlin", thingGroupProperties={
        "attributePayload": {"attributes": {"tz": "CET"}}})
    assert group(iot, "berlin")["thingGroupMetadata"] == before
    assert list_groups(iot, parentGroup="europe") == ["berlin", "paris"]
    assert members(iot, "berlin") == ["t1"]
    assert members(iot, "earth", recursive=True) == ["t1"]
    assert groups_for(iot, "t1") == ["berlin"]
    # membership changes do not count as group updates
    assert group_version(iot, "berlin") == 2
    assert version(iot, "t1") == 1


def test_update_thing_group_changes_what_create_thing_group_compares_with(iot):
    props = {"thingGroupDescription": "one", "attributePayload": {"attributes": {"a": "1"}}}
    first = iot.create_thing_group(thingGroupName="g", thingGroupProperties=props)
    iot.update_thing_group(thingGroupName="g", thingGroupProperties={"thingGroupDescription": "two"})
    now = {"thingGroupDescription": "two", "attributePayload": {"attributes": {"a": "1"}}}
    assert iot.create_thing_group(thingGroupName="g", thingGroupProperties=now)["thingGroupId"] == first["thingGroupId"]
    with raises_aws("ResourceAlreadyExistsException", 409):
        iot.create_thing_group(thingGroupName="g", thingGroupProperties=props)
    assert group_version(iot, "g") == 2


def test_update_thing_group_cli(aws, iot):
    iot.create_thing_group(thingGroupName="sites", thingGroupProperties={
        "attributePayload": {"attributes": {"owner": "ops"}}})
    out = cli_ok(aws("iot", "update-thing-group", "--thing-group-name", "sites", "--thing-group-properties",
                     "thingGroupDescription=edge sites,attributePayload={attributes={tier=gold},merge=true}"))
    assert out == {"version": 2}
    assert group_description(iot, "sites") == "edge sites"
    assert group_attrs(iot, "sites") == {"owner": "ops", "tier": "gold"}

    out = cli_ok(aws("iot", "update-thing-group", "--thing-group-name", "sites", "--expected-version", "2",
                     "--thing-group-properties", '{"attributePayload": {"attributes": {"owner": ""}, "merge": true}}'))
    assert out == {"version": 3}
    assert group_attrs(iot, "sites") == {"tier": "gold"}
    cli_error(aws("iot", "update-thing-group", "--thing-group-name", "sites", "--expected-version", "2",
                  "--thing-group-properties", "thingGroupDescription=x"),
              "VersionConflictException", "UpdateThingGroup")
    cli_error(aws("iot", "update-thing-group", "--thing-group-name", "ghost",
                  "--thing-group-properties", "thingGroupDescription=x"),
              "ResourceNotFoundException", "UpdateThingGroup")
    assert group_version(iot, "sites") == 3


# === ListThingGroups =======================================================================


def test_list_thing_groups_all_sorted_by_name(iot, tree):
    resp = iot.list_thing_groups()
    assert names(resp["thingGroups"]) == ALL_GROUPS
    assert not resp.get("nextToken")
    for g in resp["thingGroups"]:
        assert set(g) == {"groupName", "groupArn"}
        assert g["groupArn"] == group_arn(g["groupName"])
    assert iot.list_thing_groups(recursive=True)["thingGroups"] == resp["thingGroups"]


def test_list_thing_groups_empty(iot):
    resp = iot.list_thing_groups()
    assert resp.get("thingGroups", []) == []
    assert not resp.get("nextToken")


def test_list_thing_groups_not_recursive_lists_root_groups(iot, tree):
    assert names(iot.list_thing_groups(recursive=False)["thingGroups"]) == ["earth", "moon"]


def test_list_thing_groups_parent_group(iot, tree):
    # recursive absent means true: every descendant, not the parent itself
    assert list_groups(iot, parentGroup="earth") == ["asia", "berlin", "europe", "paris", "tokyo"]
    assert list_groups(iot, parentGroup="earth", recursive=True) == ["asia", "berlin", "europe", "paris", "tokyo"]
    assert list_groups(iot, parentGroup="earth", recursive=False) == ["asia", "europe"]
    assert list_groups(iot, parentGroup="europe") == ["berlin", "paris"]
    assert list_groups(iot, parentGroup="europe", recursive=False) == ["berlin", "paris"]
    assert list_groups(iot, parentGroup="berlin") == []
    assert list_groups(iot, parentGroup="moon", recursive=False) == []


def test_list_thing_groups_name_prefix_filter(iot, tree):
    assert list_groups(iot, namePrefixFilter="e") == ["earth", "europe"]
    assert list_groups(iot, namePrefixFilter="eu") == ["europe"]
    assert list_groups(iot, namePrefixFilter="moon") == ["moon"]
    assert list_groups(iot, namePrefixFilter="moons") == []
    assert list_groups(iot, namePrefixFilter="E") == []  # case-sensitive
    assert list_groups(iot, namePrefixFilter="e", recursive=False) == ["earth"]
    assert list_groups(iot, namePrefixFilter="p", parentGroup="earth") == ["paris"]
    assert list_groups(iot, namePrefixFilter="t", parentGroup="europe") == []
    assert list_groups(iot, namePrefixFilter="a", parentGroup="earth", recursive=False) == ["asia"]


def test_list_thing_groups_unknown_parent_is_404(iot, tree):
    with raises_aws("ResourceNotFoundException", 404):
        iot.list_thing_groups(parentGroup="mars")
    with raises_aws("ResourceNotFoundException", 404):
        iot.list_thing_groups(parentGroup="mars", recursive=False, namePrefixFilter="m")
    iot.delete_thing_group(thingGroupName="moon")
    with raises_aws("ResourceNotFoundException", 404):
        iot.list_thing_groups(parentGroup="moon")


def test_list_thing_groups_model_validation(iot, iot_unchecked, tree):
    for bad in (0, 251, -1):
        with raises_aws("InvalidRequestException", 400):
            iot_unchecked.list_thing_groups(maxResults=bad)
    for kwargs in ({"namePrefixFilter": "bad name!"}, {"namePrefixFilter": "x" * 129},
                   {"parentGroup": "x" * 129}, {"parentGroup": "a/b"}):
        with raises_aws("InvalidRequestException", 400):
            iot.list_thing_groups(**kwargs)
    with raises_aws("InvalidRequestException", 400):
        iot.list_thing_groups(nextToken="not-a-token")
    assert names(iot.list_thing_groups(maxResults=250)["thingGroups"]) == ALL_GROUPS
    assert names(iot.list_thing_groups(maxResults=1)["thingGroups"]) == ["asia"]


def test_list_thing_groups_pagination(iot, tree):
    seen, tokens, token = [], [], None
    while True:
        resp = iot.list_thing_groups(maxResults=2, **({"nextToken": token} if token else {}))
        assert 1 <= len(resp["thingGroups"]) <= 2
        seen += names(resp["thingGroups"])
        token = resp.get("nextToken")
        if not token:
            break
        tokens.append(token)
    assert seen == ALL_GROUPS
    assert len(tokens) == 3 and len(set(tokens)) == 3

    # a page that ends exactly at the last item carries no token
    resp = iot.list_thing_groups(recursive=False, maxResults=2)
    assert names(resp["thingGroups"]) == ["earth", "moon"]
    assert not resp.get("nextToken")

    # filters page the same way
    assert list_groups(iot, parentGroup="earth", PaginationConfig={"PageSize": 2}) == [
        "asia", "berlin", "europe", "paris", "tokyo"]
    assert list_groups(iot, namePrefixFilter="e", PaginationConfig={"PageSize": 1}) == ["earth", "europe"]

    # a group created between pages, after the cursor, is seen
    first = iot.list_thing_groups(maxResults=3)
    assert names(first["thingGroups"]) == ["asia", "berlin", "earth"]
    iot.create_thing_group(thingGroupName="zeta")
    rest = iot.list_thing_groups(nextToken=first["nextToken"])
    assert names(rest["thingGroups"]) == ["europe", "moon", "paris", "tokyo", "zeta"]
    assert not rest.get("nextToken")


def test_list_thing_groups_default_page_and_cli_auto_pagination(iot, aws):
    all_names = [f"g{i:03d}" for i in range(105)]
    for n in all_names:
        iot.create_thing_group(thingGroupName=n)

    page1 = iot.list_thing_groups()
    assert names(page1["thingGroups"]) == all_names[:100]
    page2 = iot.list_thing_groups(nextToken=page1["nextToken"])
    assert names(page2["thingGroups"]) == all_names[100:]
    assert not page2.get("nextToken")

    # the AWS CLI follows nextToken by itself
    out = cli_ok(aws("iot", "list-thing-groups"))
    assert names(out["thingGroups"]) == all_names
    assert "NextToken" not in out and "nextToken" not in out
    out = cli_ok(aws("iot", "list-thing-groups", "--page-size", "40"))
    assert names(out["thingGroups"]) == all_names
    # --max-items stops early and prints a token to resume from
    out = cli_ok(aws("iot", "list-thing-groups", "--max-items", "30", "--page-size", "25"))
    assert names(out["thingGroups"]) == all_names[:30]
    resume = cli_ok(aws("iot", "list-thing-groups", "--page-size", "25",
                        "--starting-token", out["NextToken"]))
    assert names(resume["thingGroups"]) == all_names[30:]
    assert "NextToken" not in resume


def test_list_thing_groups_cli_filters(aws, tree):
    out = cli_ok(aws("iot", "list-thing-groups", "--parent-group", "earth", "--no-recursive"))
    assert names(out["thingGroups"]) == ["asia", "europe"]
    out = cli_ok(aws("iot", "list-thing-groups", "--name-prefix-filter", "e", "--recursive"))
    assert names(out["thingGroups"]) == ["earth", "europe"]
    rc, out, err = aws("iot", "list-thing-groups", "--query", "thingGroups[].groupName", "--output", "text")
    assert rc == 0, err
    assert out.split() == ALL_GROUPS
    cli_error(aws("iot", "list-thing-groups", "--parent-group", "mars"),
              "ResourceNotFoundException", "ListThingGroups")


# === ListThingGroupsForThing ===============================================================


def test_list_thing_groups_for_thing_direct_memberships_only(iot, tree):
    iot.create_thing(thingName="t1")
    iot.create_thing(thingName="t2")
    iot.add_thing_to_thing_group(thingGroupName="moon", thingName="t1")
    iot.add_thing_to_thing_group(thingGroupName="berlin", thingName="t1")

    resp = iot.list_thing_groups_for_thing(thingName="t1")
    assert resp["thingGroups"] == [
        {"groupName": "berlin", "groupArn": group_arn("berlin")},
        {"groupName": "moon", "groupArn": group_arn("moon")},
    ]  # not europe or earth, the ancestors of berlin
    assert not resp.get("nextToken")
    assert iot.list_thing_groups_for_thing(thingName="t2").get("thingGroups", []) == []

    iot.remove_thing_from_thing_group(thingGroupName="moon", thingName="t1")
    assert groups_for(iot, "t1") == ["berlin"]


def test_list_thing_groups_for_thing_unknown_thing_is_404(iot):
    with raises_aws("ResourceNotFoundException", 404):
        iot.list_thing_groups_for_thing(thingName="ghost")
    iot.create_thing_group(thingGroupName="g")
    iot.create_thing(thingName="t1")
    iot.add_thing_to_thing_group(thingGroupName="g", thingName="t1")
    iot.delete_thing(thingName="t1")
    with raises_aws("ResourceNotFoundException", 404):
        iot.list_thing_groups_for_thing(thingName="t1")
    # a new thing of the same name has no memberships
    iot.create_thing(thingName="t1")
    assert groups_for(iot, "t1") == []


def test_list_thing_groups_for_thing_pagination(iot, iot_unchecked, aws):
    iot.create_thing(thingName="t1")
    gs = [f"r{i}" for i in range(5)]  # five roots: no two in one hierarchy
    for g in gs:
        iot.create_thing_group(thingGroupName=g)
        iot.add_thing_to_thing_group(thingGroupName=g, thingName="t1")

    seen, tokens, token = [], [], None
    while True:
        resp = iot.list_thing_groups_for_thing(thingName="t1", maxResults=2,
                                               **({"nextToken": token} if token else {}))
        seen += names(resp["thingGroups"])
        token = resp.get("nextToken")
        if not token:
            break
        tokens.append(token)
    assert seen == gs
    assert len(tokens) == 2
    assert groups_for(iot, "t1", PaginationConfig={"PageSize": 1}) == gs

    out = cli_ok(aws("iot", "list-thing-groups-for-thing", "--thing-name", "t1", "--page-size", "2"))
    assert names(out["thingGroups"]) == gs
    assert "NextToken" not in out
    cli_error(aws("iot", "list-thing-groups-for-thing", "--thing-name", "ghost"),
              "ResourceNotFoundException", "ListThingGroupsForThing")

    for bad in (0, 251):
        with raises_aws("InvalidRequestException", 400):
            iot_unchecked.list_thing_groups_for_thing(thingName="t1", maxResults=bad)
    with raises_aws("InvalidRequestException", 400):
        iot.list_thing_groups_for_thing(thingName="t1", nextToken="not-a-token")
    with raises_aws("InvalidRequestException", 400):
        iot.list_thing_groups_for_thing(thingName="t" * 129)


# === the CLI and the server agree: all five are served =====================================


OPERATIONS = {
    # command: options its help page must list
    "update-thing": ["--thing-name", "--thing-type-name", "--attribute-payload", "--expected-version",
                     "--remove-thing-type"],
    "delete-thing-group": ["--thing-group-name", "--expected-version"],
    "update-thing-group": ["--thing-group-name", "--thing-group-properties", "--expected-version"],
    "list-thing-groups": ["--parent-group", "--name-prefix-filter", "--recursive", "--starting-token",
                          "--page-size", "--max-items"],
    "list-thing-groups-for-thing": ["--thing-name", "--starting-token", "--page-size", "--max-items"],
}


def test_iotjobs_cli_serves_the_registry_operations(iotjobs_bin, server, iot, tmp_path):
    env = _clean_env(tmp_path)

    def iotjobs(*args, endpoint=True):
        extra = ["--endpoint-url", server.endpoint] if endpoint else []
        p = subprocess.run([str(iotjobs_bin), *args, *extra], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert "NotImplementedException" not in p.stderr, p.stderr
        assert "does not implement" not in p.stderr, p.stderr
        return p.returncode, p.stdout, p.stderr

    # `iotjobs iot help` lists them (it lists only served operations); each has a page
    rc, out, err = iotjobs("iot", "help", endpoint=False)
    assert (rc, err) == (0, "")
    for command, options in OPERATIONS.items():
        assert re.search(rf"^\s*o\s+{re.escape(command)}$", out, re.M), f"{command} not listed"
        rc, page, err = iotjobs("iot", command, "help", endpoint=False)
        assert (rc, err) == (0, ""), f"{command}: exit {rc}, stderr {err}"
        for opt in options:
            assert opt in page, f"{command} help lacks {opt}"

    # and the server answers each of them
    iot.create_thing(thingName="t1")
    for g in ("g", "g2"):
        iot.create_thing_group(thingGroupName=g)
    iot.add_thing_to_thing_group(thingGroupName="g", thingName="t1")

    rc, out, err = iotjobs("iot", "update-thing", "--thing-name", "t1", "--attribute-payload", "attributes={a=b}")
    assert (rc, out) == (0, ""), err
    assert attrs(iot, "t1") == {"a": "b"}
    rc, out, err = iotjobs("iot", "update-thing-group", "--thing-group-name", "g",
                           "--thing-group-properties", "thingGroupDescription=x")
    assert rc == 0, err
    assert json.loads(out) == {"version": 2}
    rc, out, err = iotjobs("iot", "list-thing-groups")
    assert rc == 0, err
    assert names(json.loads(out)["thingGroups"]) == ["g", "g2"]
    rc, out, err = iotjobs("iot", "list-thing-groups-for-thing", "--thing-name", "t1")
    assert rc == 0, err
    assert names(json.loads(out)["thingGroups"]) == ["g"]
    rc, out, err = iotjobs("iot", "delete-thing-group", "--thing-group-name", "g2")
    assert (rc, out) == (0, ""), err
    assert list_groups(iot) == ["g"]

    rc, out, err = iotjobs("iot", "update-thing", "--thing-name", "ghost")
    assert (rc, out) == (255, "")
    assert err.startswith("\nAn error occurred (ResourceNotFoundException) when calling the UpdateThing operation: "), err


def test_registry_routes_never_answer_501(server):
    """Raw signed requests on each route: an AWS answer, never NotImplementedException."""
    requests = [
        ("PATCH", "/things/ghost", {}),
        ("DELETE", "/thing-groups/ghost", None),
        ("PATCH", "/thing-groups/ghost", {"thingGroupProperties": {}}),
        ("GET", "/thing-groups", None),
        ("GET", "/things/ghost/thing-groups", None),
    ]
    got = []
    for method, path, body in requests:
        status, headers, raw = server.raw(method, path, body=body)
        code = headers.get("x-amzn-errortype", "").split(":")[0]
        got.append((method, path, status, code))
        assert status != 501 and code != "NotImplementedException", (method, path, status, raw)
    assert [(s, c) for _, _, s, c in got] == [
        (404, "ResourceNotFoundException"),
        (200, ""),
        (404, "ResourceNotFoundException"),
        (200, ""),
        (404, "ResourceNotFoundException"),
    ]
