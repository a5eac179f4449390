"""The test clock (`serve --test-clock`, issue 13): the server's clock starts at the real
time and moves only through `POST /iotjobs-api/clock`, which answers after every timeout
due by the new time has been applied, so an in-progress timeout of 30 minutes runs in
milliseconds. Admins only; absent (404) without the flag; never backwards.
"""

from __future__ import annotations

import json
import time

import pytest

from iotjobs_helpers import make_job

pytestmark = pytest.mark.server_args("--test-clock")


def advance(server, **body):
    status, headers, data = server.raw("POST", "/iotjobs-api/clock", body=body)
    out = json.loads(data or b"{}")
    if status != 200:
        out["code"] = headers.get("x-amzn-errortype", "").split(":")[0]
    return status, out


def test_timeouts_run_when_the_clock_is_advanced_not_before(server):
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    make_job(iot, "job-1", ["t1"], timeoutConfig={"inProgressTimeoutInMinutes": 30})
    started = data.start_next_pending_job_execution(thingName="t1")["execution"]
    t0 = started["startedAt"]  # the data plane's epoch seconds
    assert abs(t0 - time.time()) < 60, "the test clock starts at the real time"

    status, body = advance(server, advanceSeconds=30 * 60 - 1)
    assert status == 200 and body["epochSeconds"] == pytest.approx(t0 + 1799, abs=1)
    e = iot.describe_job_execution(jobId="job-1", thingName="t1")["execution"]
    assert e["status"] == "IN_PROGRESS", "due in a second, not yet"

    status, body = advance(server, advanceSeconds=1)
    assert status == 200
    # Already applied when the clock answered: no waiting for the background sweep.
    e = iot.describe_job_execution(jobId="job-1", thingName="t1")["execution"]
    assert e["status"] == "TIMED_OUT"
    assert e["lastUpdatedAt"].timestamp() == pytest.approx(t0 + 1800, abs=1)
    job = iot.describe_job(jobId="job-1")["job"]
    assert job["jobProcessDetails"]["numberOfTimedOutThings"] == 1
    assert job["status"] == "COMPLETED"


def test_the_clock_moves_to_a_time_and_never_backwards(server):
    _, now = advance(server, advanceSeconds=0)
    later = now["epochSeconds"] + 3600
    assert advance(server, epochSeconds=later) == (200, {"epochSeconds": later})
    status, body = advance(server, epochSeconds=later - 1)
    assert (status, body["code"]) == (400, "InvalidRequestException")
    assert "never goes backwards" in body["message"]
    for bad in ({}, {"advanceSeconds": -5}, {"advanceSeconds": "5"},
                {"advanceSeconds": 1, "epochSeconds": later + 10}):
        status, body = advance(server, **bad)
        assert status == 400, bad
    assert advance(server, advanceSeconds=0)[1] == {"epochSeconds": later}


@pytest.mark.server_args()
def test_without_the_flag_there_is_no_clock(server_factory):
    srv = server_factory()
    status, _, _ = srv.raw("POST", "/iotjobs-api/clock", body={"advanceSeconds": 60})
    assert status == 404


def test_only_admins_move_the_clock(server_factory, tmp_path):
    from test_security import ACCT1, KEYS, OP1, credentials_toml
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    import urllib.request

    path = tmp_path / "credentials.toml"
    path.write_text(credentials_toml(KEYS))
    srv = server_factory("--credentials", str(path), "--account-id", ACCT1, "--test-clock")
    req = botocore.awsrequest.AWSRequest(method="POST", url=srv.endpoint + "/iotjobs-api/clock",
                                         data=b'{"advanceSeconds": 60}',
                                         headers={"Content-Type": "application/json"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(OP1.access_key_id,
                                                             OP1.secret_access_key),
                            "iot", "us-east-1").add_auth(req)
    r = urllib.request.Request(req.url, data=req.body, headers=dict(req.headers), method="POST")
    try:
        urllib.request.urlopen(r, timeout=10)
        raise AssertionError("an operator moved the clock")
    except urllib.error.HTTPError as e:
        assert e.code == 403
        assert "AccessDeniedException" in e.headers.get("x-amzn-ErrorType", "")
