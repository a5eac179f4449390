"""Helpers shared by the test modules (constants, error assertions, setup shortcuts)."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT = "000000000000"
ACCESS_KEY = "test"
SECRET_KEY = "test"

DOC = {"op": "update", "url": "https://example.com/fw.bin"}


def thing_arn(name: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/{name}"


def job_arn(job_id: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:job/{job_id}"


@contextmanager
def raises_aws(code: str, status: int):
    """Expect a botocore ClientError with exactly this error code and HTTP status.
    Yields a holder whose `.response` is the parsed error response afterwards."""

    class Holder:
        response: dict = {}

    holder = Holder()
    with pytest.raises(ClientError) as info:
        yield holder
    resp = info.value.response
    holder.response = resp
    got = (resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"])
    assert got == (code, status), (
        f"expected {code} ({status}), got {got[0]} ({got[1]}): "
        f"{resp['Error'].get('Message')!r}"
    )
    assert resp["ResponseMetadata"].get("RequestId"), "error response without x-amzn-RequestId"


class RawCapture:
    """Records the raw HTTP response of every call a boto3 client makes. botocore drops
    error-body members that its error shape does not model (e.g. `executionState`), and
    parses timestamps, so the raw body is the only way to see them."""

    def __init__(self, client):
        self.responses: list[tuple[str, int, dict, bytes]] = []
        client.meta.events.register("after-call", self._on_after_call)

    def _on_after_call(self, http_response, model, **_):
        self.responses.append(
            (
                model.name,
                http_response.status_code,
                {k.lower(): v for k, v in http_response.headers.items()},
                http_response.content,
            )
        )

    @property
    def last(self):
        return self.responses[-1]

    def last_json(self):
        body = self.last[3]
        return json.loads(body) if body else None


def make_job(iot, job_id: str, things, document=None, create_things=True, **kwargs):
    """Create the things (idempotent) and a job targeting them."""
    if create_things:
        for t in things:
            iot.create_thing(thingName=t)
    return iot.create_job(
        jobId=job_id,
        targets=[thing_arn(t) for t in things],
        document=json.dumps(DOC if document is None else document),
        **kwargs,
    )


def execution(iot, thing: str, job_id: str) -> dict:
    """Control-plane DescribeJobExecution → the `execution` member."""
    return iot.describe_job_execution(jobId=job_id, thingName=thing)["execution"]


def details(iot, thing: str, job_id: str) -> dict:
    """The execution's status details as a plain map (control-plane representation
    `statusDetails.detailsMap`; an absent or empty map counts as `{}`)."""
    return execution(iot, thing, job_id).get("statusDetails", {}).get("detailsMap") or {}


def job(iot, job_id: str) -> dict:
    return iot.describe_job(jobId=job_id)["job"]


def counters(iot, job_id: str) -> dict:
    return job(iot, job_id)["jobProcessDetails"]


def count(iot, job_id: str, name: str) -> int:
    """One job counter, e.g. count(iot, 'j', 'Canceled') → numberOfCanceledThings."""
    return counters(iot, job_id).get(f"numberOf{name}Things", 0)


def snapshot(iot, thing: str, job_id: str) -> tuple:
    """What must not change when a request is rejected."""
    e = execution(iot, thing, job_id)
    return (
        e["status"],
        e["versionNumber"],
        e.get("forceCanceled", False),
        (e.get("statusDetails") or {}).get("detailsMap") or {},
        e["lastUpdatedAt"],
        counters(iot, job_id),
        job(iot, job_id)["status"],
    )


# ---------------------------------------------------------------------------
# Thing groups, device shortcuts, lists (issue "The service, part 2")
# ---------------------------------------------------------------------------


def group_arn(name: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/{name}"


def make_group_job(iot, job_id: str, groups, document=None, **kwargs):
    """A job targeting thing groups (by ARN)."""
    return iot.create_job(
        jobId=job_id,
        targets=[group_arn(g) for g in groups],
        document=json.dumps(DOC if document is None else document),
        **kwargs,
    )


def start_execution(jobs_data, thing: str, job_id: str, **kwargs) -> dict:
    """Device sets the execution IN_PROGRESS (data plane UpdateJobExecution)."""
    return jobs_data.update_job_execution(
        thingName=thing, jobId=job_id, status="IN_PROGRESS", **kwargs
    )


def finish_execution(jobs_data, thing: str, job_id: str, status: str = "SUCCEEDED") -> dict:
    """Device reports a terminal status (SUCCEEDED, FAILED or REJECTED)."""
    return jobs_data.update_job_execution(thingName=thing, jobId=job_id, status=status)


def all_pages(iot, operation: str, result_key: str, **kwargs) -> list:
    """Every item of a paginated control-plane list, through botocore's paginator."""
    items = []
    for page in iot.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(result_key, []))
    return items


def statuses_for_job(iot, job_id: str) -> dict:
    """{thing name: status} of every execution of a job (the latest execution number
    wins), from ListJobExecutionsForJob: it also shows executions of deleted things."""
    latest: dict[str, tuple[int, str]] = {}
    for s in all_pages(iot, "list_job_executions_for_job", "executionSummaries", jobId=job_id):
        thing = s["thingArn"].rsplit("/", 1)[1]
        n = s["jobExecutionSummary"]["executionNumber"]
        if thing not in latest or n > latest[thing][0]:
            latest[thing] = (n, s["jobExecutionSummary"]["status"])
    return {t: st for t, (_, st) in latest.items()}


ZERO_COUNTERS = {
    f"numberOf{name}Things": 0
    for name in ("Canceled", "Succeeded", "Failed", "Rejected", "Queued", "InProgress",
                 "Removed", "TimedOut")
}


def exact_counters(iot, job_id: str, **nonzero: int) -> None:
    """Assert all eight jobProcessDetails counters at once, e.g.
    exact_counters(iot, 'j', Queued=1, Canceled=2); unnamed ones must be 0."""
    want = dict(ZERO_COUNTERS)
    for name, n in nonzero.items():
        key = f"numberOf{name}Things"
        assert key in want, f"unknown counter {name}"
        want[key] = n
    got = {k: v for k, v in counters(iot, job_id).items() if k in want}
    got = {k: got.get(k, 0) for k in want}
    assert got == want
