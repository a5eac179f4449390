"""restJson1 wire details that every client depends on: timestamp encodings per
plane, x-amzn-RequestId, error shape, plane routing (wire spec §1.2, §2)."""

import datetime as dt
import json
import time

import pytest

from iotjobs_helpers import RawCapture, make_job, raises_aws, thing_arn


def _near_now(d: dt.datetime):
    assert isinstance(d, dt.datetime), f"{d!r} is not a datetime"
    assert d.tzinfo is not None
    assert abs(d.timestamp() - time.time()) < 600


def test_control_plane_timestamps_are_epoch_second_numbers(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    jobs_data.start_next_pending_job_execution(thingName="t1")
    raw = RawCapture(iot)

    ex = iot.describe_job_execution(jobId="job-1", thingName="t1")["execution"]
    for k in ("queuedAt", "startedAt", "lastUpdatedAt"):
        _near_now(ex[k])
    body = raw.last_json()["execution"]
    for k in ("queuedAt", "startedAt", "lastUpdatedAt"):
        v = body[k]
        assert isinstance(v, (int, float)) and not isinstance(v, bool), f"{k}={v!r}"
        assert abs(v - time.time()) < 600, f"{k}={v!r} is not epoch seconds"

    j = iot.describe_job(jobId="job-1")["job"]
    for k in ("createdAt", "lastUpdatedAt"):
        _near_now(j[k])
    body = raw.last_json()["job"]
    for k in ("createdAt", "lastUpdatedAt"):
        assert isinstance(body[k], (int, float)) and not isinstance(body[k], bool)
        assert abs(body[k] - time.time()) < 600


def test_data_plane_timestamps_are_integer_seconds(iot, jobs_data):
    make_job(iot, "job-1", ["t1"])
    raw = RawCapture(jobs_data)
    jobs_data.start_next_pending_job_execution(thingName="t1")
    body = raw.last_json()["execution"]
    for k in ("queuedAt", "startedAt", "lastUpdatedAt"):
        assert type(body[k]) is int, f"{k}={body[k]!r}"
        assert abs(body[k] - time.time()) < 600


def test_describe_job_fields(iot):
    resp = make_job(iot, "job-1", ["t1", "t2"], description="firmware")
    assert resp["jobId"] == "job-1"
    assert resp["jobArn"] == "arn:aws:iot:us-east-1:000000000000:job/job-1"
    j = iot.describe_job(jobId="job-1")["job"]
    assert j["jobId"] == "job-1"
    assert j["status"] == "IN_PROGRESS"
    assert j["targetSelection"] == "SNAPSHOT"
    assert j["targets"] == [thing_arn("t1"), thing_arn("t2")]
    assert j["description"] == "firmware"
    assert j["jobProcessDetails"]["numberOfQueuedThings"] == 2


def test_describe_job_execution_control_plane_shape(iot):
    make_job(iot, "job-1", ["t1"])
    raw = RawCapture(iot)
    ex = iot.describe_job_execution(jobId="job-1", thingName="t1")["execution"]
    assert ex["jobId"] == "job-1"
    assert ex["thingArn"] == thing_arn("t1")
    assert ex["status"] == "QUEUED"
    assert ex["executionNumber"] == 1
    assert ex["versionNumber"] == 1
    # control plane: no thingName, no jobDocument; statusDetails nested in detailsMap
    body = raw.last_json()["execution"]
    assert "thingName" not in body and "jobDocument" not in body
    assert "statusDetails" not in body or set(body["statusDetails"]) <= {"detailsMap"}


def test_every_response_has_a_request_id(iot, jobs_data):
    calls = [
        lambda: iot.create_thing(thingName="t1"),
        lambda: iot.describe_thing(thingName="t1"),
        lambda: make_job(iot, "job-1", ["t1"], create_things=False),
        lambda: iot.describe_job(jobId="job-1"),
        lambda: iot.describe_job_execution(jobId="job-1", thingName="t1"),
        lambda: jobs_data.get_pending_job_executions(thingName="t1"),
        lambda: jobs_data.describe_job_execution(jobId="$next", thingName="t1"),
        lambda: jobs_data.start_next_pending_job_execution(thingName="t1"),
        lambda: jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="IN_PROGRESS"),
        lambda: iot.cancel_job_execution(jobId="job-1", thingName="t1", force=True),
    ]
    ids = set()
    for call in calls:
        rid = call()["ResponseMetadata"].get("RequestId")
        assert rid, "success response without x-amzn-RequestId"
        ids.add(rid)
    assert len(ids) == len(calls), "request ids are not unique"
    # and on errors (raises_aws asserts the RequestId too)
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_thing(thingName="nope")
    with raises_aws("InvalidStateTransitionException", 409):
        jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="SUCCEEDED")


def test_unknown_thing_describe_is_not_found(iot):
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_thing(thingName="nope")
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job(jobId="nope")


def test_create_job_for_unknown_thing_is_not_found(iot):
    with raises_aws("ResourceNotFoundException", 404):
        iot.create_job(jobId="job-1", targets=[thing_arn("nope")], document="{}")


def test_create_job_with_non_object_document_is_invalid(iot):
    iot.create_thing(thingName="t1")
    for doc in ("not json", "[1,2]", '"s"'):
        with raises_aws("InvalidRequestException", 400):
            iot.create_job(jobId="job-1", targets=[thing_arn("t1")], document=doc)


@pytest.mark.parametrize(
    "method,path,service",
    [
        ("GET", "/definitely/not/an/operation", "iot"),
        ("POST", "/definitely/not/an/operation", "iot-jobs-data"),
        ("DELETE", "/", "iot"),
        ("PATCH", "/things/t1/jobs/j1/cancel", "iot"),
    ],
)
def test_unknown_operation_path_is_an_aws_shaped_error(server, method, path, service):
    status, headers, body = server.raw(method, path, service=service, body={} if method != "GET" else None)
    assert 400 <= status < 600 and status != 200, status
    assert headers.get("x-amzn-requestid")
    assert headers.get("x-amzn-errortype"), headers
    assert headers.get("content-type", "").startswith("application/json")
    err = json.loads(body)
    assert isinstance(err, dict) and isinstance(err.get("message"), str) and err["message"]


def test_planes_are_routed_by_signing_scope(iot, jobs_data, server):
    """GET /things/t1/jobs/job-1 means two different operations (§1.2)."""
    make_job(iot, "job-1", ["t1"])
    s_cp, _, b_cp = server.raw("GET", "/things/t1/jobs/job-1", service="iot")
    s_dp, _, b_dp = server.raw("GET", "/things/t1/jobs/job-1", service="iot-jobs-data")
    assert (s_cp, s_dp) == (200, 200)
    cp, dp = json.loads(b_cp)["execution"], json.loads(b_dp)["execution"]
    assert "thingArn" in cp and "thingName" not in cp
    assert dp["thingName"] == "t1" and "jobDocument" in dp


def test_create_thing_is_idempotent_and_describe_thing(iot):
    a = iot.create_thing(thingName="t1")
    b = iot.create_thing(thingName="t1")
    assert a["thingArn"] == b["thingArn"] == thing_arn("t1")
    assert a["thingId"] == b["thingId"]
    d = iot.describe_thing(thingName="t1")
    assert d["thingName"] == "t1"
    assert d["thingArn"] == thing_arn("t1")
    assert d["thingId"] == a["thingId"]
    assert d["version"] == 1


def test_create_job_twice_is_already_exists(iot):
    make_job(iot, "job-1", ["t1"])
    with raises_aws("ResourceAlreadyExistsException", 409) as r:
        make_job(iot, "job-1", ["t1"], create_things=False)
    assert r.response.get("resourceId") == "job-1"
    assert r.response.get("resourceArn") == "arn:aws:iot:us-east-1:000000000000:job/job-1"
