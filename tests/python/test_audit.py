"""The audit log (issue 12): every change recorded with who, from where, what, old and new
status, and when, kept in the database and read with `iotjobs audit` (a signed client of
`GET /iotjobs-api/audit`), with filters by job, thing, principal and time.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from conftest import _clean_env
from iotjobs_helpers import ACCESS_KEY, make_job


def audit(server, iotjobs_bin, tmp_path, *args, env=None, check=True):
    p = subprocess.run(
        [str(iotjobs_bin), "audit", "--endpoint-url", server.endpoint, "--output", "json",
         *args],
        capture_output=True, text=True, timeout=30, env=env or _clean_env(tmp_path))
    if check:
        assert p.returncode == 0, p.stderr
        return [json.loads(line) for line in p.stdout.splitlines()]
    return p


def test_audit_records_who_what_from_where_old_and_new(server, iotjobs_bin, tmp_path):
    iot = server.client("iot")
    data = server.client("iot-jobs-data")
    started = time.time()
    make_job(iot, "fw-1", ["dev1", "dev2"])
    cancel = iot.cancel_job_execution(jobId="fw-1", thingName="dev1")
    data.start_next_pending_job_execution(thingName="dev2")
    data.update_job_execution(jobId="fw-1", thingName="dev2", status="SUCCEEDED")

    log = audit(server, iotjobs_bin, tmp_path)
    summary = [(r["operation"], r["subject"], r.get("jobId"), r.get("name"),
                r.get("oldStatus"), r.get("newStatus")) for r in log]
    assert summary == [
        ("CreateThing", "THING", None, "dev1", None, None),
        ("CreateThing", "THING", None, "dev2", None, None),
        ("CreateJob", "JOB", "fw-1", None, None, "IN_PROGRESS"),
        ("CancelJobExecution", "JOB_EXECUTION", "fw-1", "dev1", "QUEUED", "CANCELED"),
        ("StartNextPendingJobExecution", "JOB_EXECUTION", "fw-1", "dev2", "QUEUED",
         "IN_PROGRESS"),
        ("UpdateJobExecution", "JOB_EXECUTION", "fw-1", "dev2", "IN_PROGRESS", "SUCCEEDED"),
        ("UpdateJobExecution", "JOB", "fw-1", None, "IN_PROGRESS", "COMPLETED"),
    ]
    for r in log:
        assert r["principal"] == ACCESS_KEY
        assert r["source"].startswith("127.0.0.1:")
        assert started - 1 <= r["at"] <= time.time() + 1
    assert log[2]["detail"] == "executions=2"
    # the request id the caller was given (x-amzn-RequestId) names the record
    assert log[3]["requestId"] == cancel["ResponseMetadata"]["RequestId"]
    assert [r["seq"] for r in log] == sorted(r["seq"] for r in log)

    # filters
    assert [r["name"] for r in audit(server, iotjobs_bin, tmp_path, "--thing-name", "dev2")] \
        == ["dev2", "dev2", "dev2"]
    assert len(audit(server, iotjobs_bin, tmp_path, "--job-id", "fw-1")) == 5
    assert audit(server, iotjobs_bin, tmp_path, "--principal", "nobody") == []
    assert len(audit(server, iotjobs_bin, tmp_path, "--max-items", "3")) == 3
    at = log[3]["at"]
    since = audit(server, iotjobs_bin, tmp_path, "--since", str(at))
    assert since[0]["seq"] == log[3]["seq"]
    until = audit(server, iotjobs_bin, tmp_path, "--until", str(at))
    assert all(r["at"] < at for r in until) and len(until) >= 3
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started - 60))
    assert len(audit(server, iotjobs_bin, tmp_path, "--since", iso)) == len(log)


def test_audit_text_output_and_paging_over_many_records(server, iotjobs_bin, tmp_path):
    iot = server.client("iot")
    for i in range(260):
        iot.create_thing(thingName=f"t{i:03}")
    p = subprocess.run([str(iotjobs_bin), "audit", "--endpoint-url", server.endpoint],
                       capture_output=True, text=True, timeout=30, env=_clean_env(tmp_path))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 260  # more than one page of 250
    first = lines[0].split("\t")
    assert first[1:6] == [ACCESS_KEY, first[2], "CreateThing", "THING", "-"]
    assert first[0].endswith("Z") and first[6] == "t000"


def test_audit_is_for_admins_and_operators(server_factory, iotjobs_bin, tmp_path):
    from test_security import ACCT1, DEV_A, KEYS, OP1, credentials_toml

    path = tmp_path / "credentials.toml"
    path.write_text(credentials_toml(KEYS))
    srv = server_factory("--credentials", str(path), "--account-id", ACCT1)
    env = _clean_env(tmp_path)
    for key, ok in ((OP1, True), (DEV_A, False)):
        env = {**env, "AWS_ACCESS_KEY_ID": key.access_key_id,
               "AWS_SECRET_ACCESS_KEY": key.secret_access_key}
        p = audit(srv, iotjobs_bin, tmp_path, env=env, check=False)
        if ok:
            assert p.returncode == 0, p.stderr
        else:
            assert p.returncode != 0 and "AccessDeniedException" in p.stderr, p.stderr
    bad = {**env, "AWS_SECRET_ACCESS_KEY": "wrong"}
    p = audit(srv, iotjobs_bin, tmp_path, env=bad, check=False)
    assert p.returncode == 255 and "InvalidSignatureException" in p.stderr, p.stderr


@pytest.mark.server_args("--mqtt-listen", "127.0.0.1:0")
def test_audit_names_a_device_over_mqtt_by_its_thing(server, iotjobs_bin, tmp_path):
    from mqtt_device import Device

    iot = server.client("iot")
    make_job(iot, "fw-1", ["dev1"])
    with Device("v2-mqtt5", server.mqtt_port, "dev1") as d:
        d.start_next()
    log = audit(server, iotjobs_bin, tmp_path, "--principal", "thing/dev1")
    assert [(r["operation"], r["oldStatus"], r["newStatus"]) for r in log] == [
        ("StartNextPendingJobExecution", "QUEUED", "IN_PROGRESS")]
