"""Operability (issue 12): `GET /health` (readiness: the store answers) and
`GET /health/live` without authentication, Prometheus `GET /metrics`, and one request log
line per request at the default level (text, or JSON with `--log-format json`).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import Server
from iotjobs_helpers import make_job

PG_URL = os.environ.get("IOTJOBS_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")


def get(server, path):
    try:
        with urllib.request.urlopen(server.endpoint + path, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample of the exposition (labels must match exactly)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"^([a-z_]+)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        if got == {k: str(v) for k, v in labels.items()}:
            return float(m.group(4))
    raise AssertionError(f"no sample {name}{labels} in:\n{text}")


def test_health_is_unauthenticated_and_ready(server):
    status, _, body = get(server, "/health/live")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, headers, body = get(server, "/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["x-amzn-RequestId"]


def test_metrics_count_requests_executions_and_the_store(server):
    iot = server.client("iot")
    make_job(iot, "job-1", ["t1", "t2", "t3"])
    iot.cancel_job_execution(jobId="job-1", thingName="t1")
    with pytest.raises(iot.exceptions.InvalidStateTransitionException):
        iot.cancel_job_execution(jobId="job-1", thingName="t1")
    status, headers, text = get(server, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert metric(text, "iotjobs_requests_total", operation="CancelJobExecution",
                  status=200) == 1
    # the second cancel of a CANCELED execution: refused (a 400-class AWS error)
    refused = [line for line in text.splitlines()
               if line.startswith('iotjobs_requests_total{operation="CancelJobExecution",status="4')]
    assert len(refused) == 1 and refused[0].endswith(" 1"), refused
    assert metric(text, "iotjobs_requests_total", operation="CreateThing", status=200) == 3
    assert metric(text, "iotjobs_request_duration_seconds_count",
                  operation="CancelJobExecution") == 2
    assert metric(text, "iotjobs_executions", status="QUEUED") == 2
    assert metric(text, "iotjobs_executions", status="CANCELED") == 1
    assert metric(text, "iotjobs_http_connections") >= 1
    commits = metric(text, "iotjobs_store_commits_total", account="000000000000")
    writes = metric(text, "iotjobs_store_committed_writes_total", account="000000000000")
    assert 1 <= commits <= writes and writes >= 5
    assert metric(text, "iotjobs_sqlite_wal_bytes", account="000000000000") >= 0
    # scrapes count themselves too
    _, _, again = get(server, "/metrics")
    assert metric(again, "iotjobs_requests_total", operation="metrics", status=200) >= 1


def describe_and_await_log(server) -> str:
    """A DescribeThing; its request id, once the server's log names it."""
    iot = server.client("iot")
    iot.create_thing(thingName="t1")
    request_id = iot.describe_thing(thingName="t1")["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 5
    while request_id not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    return request_id


def test_every_request_is_logged_at_the_default_level(server):
    request_id = describe_and_await_log(server)
    line = next(line for line in server.log().splitlines() if request_id in line)
    for part in ("operation=\"DescribeThing\"", "status=200", "account=\"000000000000\"",
                 "latency_ms="):
        assert part in line, line


def test_log_format_json(server_factory):
    srv = server_factory("--log-format", "json")
    request_id = describe_and_await_log(srv)
    records = [json.loads(line) for line in srv.log().splitlines() if line.startswith("{")]
    assert records and len(records) == len([l for l in srv.log().splitlines() if l.strip()])
    mine = [r for r in records if r.get("fields", {}).get("request_id") == request_id]
    assert len(mine) == 1
    assert mine[0]["fields"]["operation"] == "DescribeThing"
    assert mine[0]["fields"]["status"] == 200
    assert mine[0]["level"] == "INFO"


def test_health_turns_503_while_the_database_refuses_and_recovers(iotjobs_bin, tmp_path):
    """Readiness follows the store: PostgreSQL refusing connections (ALLOW_CONNECTIONS
    false, live backends terminated) makes /health 503 with the reason; allowing them
    again makes it 200 without a restart."""
    import subprocess

    def psql(sql, db="postgres"):
        url = PG_URL.rsplit("/", 1)[0] + "/" + db
        p = subprocess.run(["psql", url, "-tAc", sql], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    db = f"iotjobs_health_{os.getpid()}_{time.monotonic_ns()}"
    psql(f"CREATE DATABASE {db}")
    srv = Server(iotjobs_bin, tmp_path / "srv")
    srv.database_url = PG_URL.rsplit("/", 1)[0] + "/" + db
    srv.start()
    try:
        assert get(srv, "/health")[0] == 200
        psql(f"ALTER DATABASE {db} ALLOW_CONNECTIONS false")
        psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")
        status, _, body = get(srv, "/health")
        assert status == 503, body
        assert json.loads(body)["status"] == "unavailable"
        assert get(srv, "/health/live")[0] == 200, "the process is alive"
        psql(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true")
        deadline = time.monotonic() + 10
        while get(srv, "/health")[0] != 200:
            assert time.monotonic() < deadline, "not ready again"
            time.sleep(0.1)
    finally:
        srv.stop()
        psql(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true")
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
