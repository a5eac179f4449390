"""`iotjobs serve --enable-reset`: `POST /moto-api/reset` wipes the caller's account (200
`{}`). moto's helper posts it unsigned, so suites written for moto's server mode run with
`--auth none` (every caller is the admin of the one account); with verification on, the
reset needs an admin key like any other call. Without the flag the path is an AWS-shaped
404 (403 when unsigned, like every unsigned request). Also exercises the `server` fixture's extra arguments (marker and
indirect parametrization)."""

import json
import os
import urllib.error
import urllib.request

import boto3
import pytest

from iotjobs_helpers import group_arn, make_group_job, make_job, raises_aws, thing_arn

RESET = "/moto-api/reset"


def post_unsigned(endpoint: str, path: str = RESET, method: str = "POST"):
    """What moto's own reset helper sends: a bare HTTP POST, no signature, no body."""
    req = urllib.request.Request(endpoint + path, data=b"" if method == "POST" else None,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def populate(iot, jobs_data):
    iot.create_thing_group(thingGroupName="g")
    for t in ("t1", "t2"):
        iot.create_thing(thingName=t, attributePayload={"attributes": {"v": "1"}})
        iot.add_thing_to_thing_group(thingGroupName="g", thingName=t)
    make_job(iot, "j1", ["t1"], create_things=False)
    make_group_job(iot, "j2", ["g"], targetSelection="CONTINUOUS")
    jobs_data.start_next_pending_job_execution(thingName="t1")
    iot.cancel_job(jobId="j2")


def assert_empty(iot, jobs_data):
    assert iot.list_things()["things"] == []
    assert iot.list_jobs()["jobs"] == []
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_thing(thingName="t1")
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_thing_group(thingGroupName="g")
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job(jobId="j1")
    with raises_aws("ResourceNotFoundException", 404):
        iot.list_job_executions_for_thing(thingName="t1")
    with raises_aws("ResourceNotFoundException", 404):
        jobs_data.get_pending_job_executions(thingName="t1")


def assert_populated(iot):
    assert [t["thingName"] for t in iot.list_things()["things"]] == ["t1", "t2"]
    assert [j["jobId"] for j in iot.list_jobs()["jobs"]] == ["j1", "j2"]
    assert iot.describe_job_execution(jobId="j1", thingName="t1")["execution"]["status"] == "IN_PROGRESS"


@pytest.mark.server_args("--enable-reset", "--auth", "none")
def test_reset_wipes_everything(server, iot, jobs_data):
    populate(iot, jobs_data)
    assert_populated(iot)

    status, headers, body = post_unsigned(server.endpoint)
    assert status == 200
    assert json.loads(body) == {}
    assert headers.get("x-amzn-requestid")
    assert_empty(iot, jobs_data)

    # every name is free again, with another configuration than before
    iot.create_thing(thingName="t1", attributePayload={"attributes": {"v": "2"}})
    created = iot.create_thing_group(thingGroupName="g",
                                     thingGroupProperties={"thingGroupDescription": "new"})
    assert created["thingGroupArn"] == group_arn("g")
    iot.add_thing_to_thing_group(thingGroupName="g", thingName="t1")
    make_group_job(iot, "j2", ["g"])
    e = iot.describe_job_execution(jobId="j2", thingName="t1")["execution"]
    assert (e["status"], e["executionNumber"], e["versionNumber"]) == ("QUEUED", 1, 1)
    counters = iot.describe_job(jobId="j2")["job"]["jobProcessDetails"]
    assert counters["numberOfQueuedThings"] == 1
    assert counters.get("numberOfCanceledThings", 0) == 0
    # the server keeps serving after a reset, and a second reset works too
    status, _, body = server.raw("POST", RESET)  # a SigV4-signed POST works as well
    assert (status, json.loads(body)) == (200, {})
    assert_empty(iot, jobs_data)


@pytest.mark.server_args("--enable-reset")
def test_unsigned_reset_is_refused_when_signatures_are_verified(server, iot, jobs_data):
    populate(iot, jobs_data)
    status, headers, _ = post_unsigned(server.endpoint)
    assert (status, headers.get("x-amzn-errortype")) == (403, "MissingAuthenticationTokenException")
    assert_populated(iot)
    status, _, body = server.raw("POST", RESET)  # signed with the admin key test/test
    assert (status, json.loads(body)) == (200, {})
    assert_empty(iot, jobs_data)


def test_reset_is_off_by_default(server, iot, jobs_data):
    populate(iot, jobs_data)
    # Unsigned: refused like any unsigned request (403); signed: no such route (404).
    for send, want in (
        (lambda: post_unsigned(server.endpoint), 403),
        (lambda: server.raw("POST", RESET), 404),
    ):
        status, headers, body = send()
        assert status == want
        assert headers.get("x-amzn-requestid")
        assert headers.get("x-amzn-errortype")
        assert headers.get("content-type", "").startswith("application/json")
        err = json.loads(body)
        assert isinstance(err.get("message"), str) and err["message"]
    assert_populated(iot)


@pytest.mark.server_args("--enable-reset", "--auth", "none")
def test_reset_only_answers_post(server, iot, jobs_data):
    populate(iot, jobs_data)
    for method in ("GET", "PUT", "DELETE"):
        for send in (post_unsigned, lambda e, method: server.raw(method, RESET)):
            status, headers, _ = send(server.endpoint, method=method)
            assert status in (404, 405), method
            assert headers.get("x-amzn-errortype"), method
    status, _, _ = post_unsigned(server.endpoint, path=RESET + "/more")
    assert status == 404
    assert_populated(iot)


@pytest.mark.parametrize("server", [("--auth", "none"), ("--auth", "none", "--enable-reset")],
                         indirect=True, ids=["default", "enabled"])
def test_server_fixture_takes_arguments_by_indirect_parametrization(server):
    status, _, _ = post_unsigned(server.endpoint)
    assert status == (200 if "--enable-reset" in server.extra_args else 404)


# --- a test written the way moto's server-mode suites are -----------------------------


def moto_reset() -> None:
    """moto's `reset` between server-mode tests, without `requests`."""
    endpoint = os.environ["TEST_SERVER_MODE_ENDPOINT"]
    req = urllib.request.Request(endpoint + "/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=15) as resp:
        assert resp.status == 200


def moto_style_test_group_rollout():
    """A moto-style test: plain `boto3.client` (credentials and region from the
    environment), the endpoint from TEST_SERVER_MODE_ENDPOINT, and it assumes it
    starts from an empty account."""
    endpoint = os.environ["TEST_SERVER_MODE_ENDPOINT"]
    client = boto3.client("iot", region_name="us-east-1", endpoint_url=endpoint)

    assert client.list_things()["things"] == []
    assert client.list_jobs()["jobs"] == []

    client.create_thing_group(thingGroupName="my-group")
    with pytest.raises(client.exceptions.ResourceAlreadyExistsException):
        client.create_thing_group(thingGroupName="my-group",
                                  thingGroupProperties={"thingGroupDescription": "other"})
    for name in ("device-1", "device-2"):
        client.create_thing(thingName=name)
        client.add_thing_to_thing_group(thingGroupName="my-group", thingName=name)
    job = client.create_job(
        jobId="rollout",
        targets=["arn:aws:iot:us-east-1:000000000000:thinggroup/my-group"],
        document=json.dumps({"op": "update"}),
        targetSelection="CONTINUOUS",
    )
    assert job["jobId"] == "rollout"
    execs = client.list_job_executions_for_job(jobId="rollout")["executionSummaries"]
    assert sorted(e["thingArn"] for e in execs) == [thing_arn("device-1"), thing_arn("device-2")]
    assert client.describe_job(jobId="rollout")["job"]["jobProcessDetails"]["numberOfQueuedThings"] == 2


@pytest.mark.server_args("--enable-reset", "--auth", "none")
def test_moto_style_suite_runs_twice_with_a_reset_between(server, monkeypatch):
    monkeypatch.setenv("TEST_SERVER_MODE_ENDPOINT", server.endpoint)
    moto_style_test_group_rollout()
    # without a reset the second run sees the first run's state
    with pytest.raises(AssertionError):
        moto_style_test_group_rollout()
    moto_reset()
    moto_style_test_group_rollout()
    moto_reset()
    moto_style_test_group_rollout()
