"""`iotjobs backup`: a consistent online copy of a running server's SQLite database,
taken while jobs are being created, and restored by serving from the copy (issue 12).
"""

from __future__ import annotations

import subprocess
import threading

from conftest import Server, _clean_env
from iotjobs_helpers import thing_arn

THINGS = [f"t{i}" for i in range(20)]


def test_backup_of_a_busy_server_restores_whole_jobs(server, iotjobs_bin, tmp_path):
    iot = server.client("iot")
    for t in THINGS:
        iot.create_thing(thingName=t)
    created: list[str] = []
    stop = threading.Event()

    def write():
        n = 0
        while not stop.is_set():
            job_id = f"job-{n}"
            iot.create_job(jobId=job_id, targets=[thing_arn(t) for t in THINGS],
                           document='{"op":"x"}')
            iot.cancel_job_execution(jobId=job_id, thingName=THINGS[n % len(THINGS)])
            created.append(job_id)
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(created) < 5:  # the backup starts while writes are under way
            threading.Event().wait(0.01)
        out = tmp_path / "backup"
        p = subprocess.run([str(iotjobs_bin), "backup", "--database", server.database_url,
                            "--to", str(out)], capture_output=True, text=True, timeout=60,
                           env=_clean_env(tmp_path))
    finally:
        stop.set()
        writer.join()
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"backed up {server.db_path} to {out / 'iotjobs.sqlite'}"), p.stdout
    # the same command again refuses to overwrite
    again = subprocess.run([str(iotjobs_bin), "backup", "--database", server.database_url,
                            "--to", str(out)], capture_output=True, text=True, timeout=60,
                           env=_clean_env(tmp_path))
    assert again.returncode != 0 and "never overwrites" in again.stderr

    # Restore: serve from the copy. Every job in it is whole, with consistent counters.
    restored = Server(iotjobs_bin, tmp_path / "restored")
    restored.database_url = f"sqlite://{out / 'iotjobs.sqlite'}"
    restored.start()
    try:
        riot = restored.client("iot")
        jobs = [j["jobId"] for j in riot.list_jobs(maxResults=250)["jobs"]]
        assert len(jobs) >= 5 and set(jobs) <= set(created)
        for job_id in jobs:
            d = riot.describe_job(jobId=job_id)["job"]["jobProcessDetails"]
            execs = riot.list_job_executions_for_job(jobId=job_id, maxResults=100)[
                "executionSummaries"]
            statuses = [e["jobExecutionSummary"]["status"] for e in execs]
            assert len(statuses) == len(THINGS), job_id
            assert d["numberOfQueuedThings"] == statuses.count("QUEUED"), job_id
            assert d.get("numberOfCanceledThings", 0) == statuses.count("CANCELED"), job_id
        assert len(riot.list_things(maxResults=250)["things"]) == len(THINGS)
    finally:
        restored.stop()


def test_backup_of_postgresql_points_to_pg_dump(iotjobs_bin, tmp_path):
    p = subprocess.run([str(iotjobs_bin), "backup", "--database",
                        "postgres://postgres@127.0.0.1:5432/test", "--to", str(tmp_path / "b")],
                       capture_output=True, text=True, timeout=30, env=_clean_env(tmp_path))
    assert p.returncode != 0 and "pg_dump" in p.stderr
    assert not (tmp_path / "b").exists()
