"""Custom job templates (issue 14): CreateJobTemplate, DescribeJobTemplate,
ListJobTemplates and DeleteJobTemplate with boto3 and the AWS CLI v1 (errors with their
codes and HTTP statuses, the boto3 paginator, a template made from a job), and the iotjobs
CLI; CreateJob with `jobTemplateArn`: what a job inherits, what the request overrides, and
that inherited rollout, abort, retry, timeout and window configs are enforced (with
`serve --test-clock`, moved by POST /iotjobs-api/clock).
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from conftest import S3_ACCESS_KEY, S3_SECRET_KEY, _clean_env, _server_args
from iotjobs_helpers import (
    ACCOUNT,
    REGION,
    exact_counters,
    job,
    job_arn,
    make_job,
    raises_aws,
    thing_arn,
)

DOC = {"op": "install", "version": "1.2"}
ROLLOUT = {"maximumPerMinute": 1}
ABORT = {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
                           "thresholdPercentage": 50.0, "minNumberOfExecutedThings": 2}]}
RETRY = {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]}
TIMEOUT = {"inProgressTimeoutInMinutes": 30}
PRESIGNED = {"roleArn": "arn:aws:iam::000000000000:role/s3-read", "expiresInSec": 600}
WINDOWS = [{"startTime": "cron(0 2 * * ? *)", "durationInMinutes": 120}]
PACKAGES = [f"arn:aws:iot:{REGION}:{ACCOUNT}:package/fw/version/1.2"]



# CreateJob reads a `documentSource` at creation (issue 14, documents in S3), so every
# server here has an S3 endpoint holding the documents the tests name.
S3_DOCS = {"doc.json": {"op": "from-s3"}, "other.json": {"op": "other"}}


@pytest.fixture
def server(launch_server, tmp_path, request, s3_server):
    for key, doc in S3_DOCS.items():
        s3_server.put("job-docs", key, json.dumps(doc).encode())
    srv = launch_server(
        tmp_path, "--s3-endpoint", s3_server.endpoint, *_server_args(request),
        env={"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY},
    )
    try:
        yield srv
    finally:
        srv.stop()

def template_arn(template_id: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:jobtemplate/{template_id}"


def full_template(iot, template_id: str, **overrides):
    """A template with every config set (each may be replaced or dropped with None)."""
    kwargs = dict(
        jobTemplateId=template_id,
        description=f"template {template_id}",
        document=json.dumps(DOC),
        presignedUrlConfig=PRESIGNED,
        jobExecutionsRolloutConfig=ROLLOUT,
        abortConfig=ABORT,
        timeoutConfig=TIMEOUT,
        jobExecutionsRetryConfig=RETRY,
        maintenanceWindows=WINDOWS,
        destinationPackageVersions=PACKAGES,
        tags=[{"Key": "team", "Value": "fw"}],
    )
    kwargs.update(overrides)
    return iot.create_job_template(**{k: v for k, v in kwargs.items() if v is not None})


CONFIGS = ("presignedUrlConfig", "jobExecutionsRolloutConfig", "abortConfig",
           "timeoutConfig", "jobExecutionsRetryConfig", "maintenanceWindows",
           "destinationPackageVersions")


# ---------------------------------------------------------------------------
# The four operations
# ---------------------------------------------------------------------------


def test_create_describe_list_and_delete(iot):
    r = full_template(iot, "fw-1")
    assert r["jobTemplateId"] == "fw-1"
    assert r["jobTemplateArn"] == template_arn("fw-1")
    t = iot.describe_job_template(jobTemplateId="fw-1")
    assert t["jobTemplateArn"] == template_arn("fw-1")
    assert t["jobTemplateId"] == "fw-1"
    assert t["description"] == "template fw-1"
    assert json.loads(t["document"]) == DOC
    assert "documentSource" not in t
    assert t["presignedUrlConfig"] == PRESIGNED
    assert t["jobExecutionsRolloutConfig"] == ROLLOUT
    assert t["abortConfig"] == ABORT
    assert t["timeoutConfig"] == TIMEOUT
    assert t["jobExecutionsRetryConfig"] == RETRY
    assert t["maintenanceWindows"] == WINDOWS
    assert t["destinationPackageVersions"] == PACKAGES
    assert "tags" not in t  # not in the model's output
    created = t["createdAt"]

    iot.create_job_template(jobTemplateId="by-source", description="d",
                            documentSource="https://s3.amazonaws.com/bucket/doc.json")
    t = iot.describe_job_template(jobTemplateId="by-source")
    assert t["documentSource"] == "https://s3.amazonaws.com/bucket/doc.json"
    assert "document" not in t
    assert not set(CONFIGS) & t.keys()

    summaries = iot.list_job_templates()["jobTemplates"]
    assert [s["jobTemplateId"] for s in summaries] == ["by-source", "fw-1"]
    fw = summaries[1]
    assert fw == {"jobTemplateArn": template_arn("fw-1"), "jobTemplateId": "fw-1",
                  "description": "template fw-1", "createdAt": created}

    iot.delete_job_template(jobTemplateId="fw-1")
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job_template(jobTemplateId="fw-1")
    assert [s["jobTemplateId"] for s in iot.list_job_templates()["jobTemplates"]] == ["by-source"]
    # the id is free again
    full_template(iot, "fw-1")


def test_errors_have_aws_codes_and_statuses(iot, iot_unchecked):
    full_template(iot, "t1")
    with raises_aws("ConflictException", 409) as e:
        full_template(iot, "t1", description="another")
    assert e.response["Error"]["Message"]
    assert e.response["resourceId"] == "t1"
    assert iot.describe_job_template(jobTemplateId="t1")["description"] == "template t1"

    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job_template(jobTemplateId="nope")
    with raises_aws("ResourceNotFoundException", 404):
        iot.delete_job_template(jobTemplateId="nope")

    # exactly one basis (decided: none, or more than one, is 400)
    with raises_aws("InvalidRequestException", 400):
        iot.create_job_template(jobTemplateId="t2", description="d")
    with raises_aws("InvalidRequestException", 400):
        iot.create_job_template(jobTemplateId="t2", description="d", document="{}",
                                documentSource="https://example.com/d.json")
    with raises_aws("InvalidRequestException", 400):
        iot.create_job_template(jobTemplateId="t2", description="d", document="{}",
                                jobArn=job_arn("j"))
    # description is required by the model (the server's own check, without boto3's)
    with raises_aws("InvalidRequestException", 400):
        iot_unchecked.create_job_template(jobTemplateId="t2", document="{}")
    # the model's id pattern and list bounds
    with raises_aws("InvalidRequestException", 400):
        iot_unchecked.create_job_template(jobTemplateId="bad id", description="d",
                                          document="{}")
    for bad in (0, 251):
        with raises_aws("InvalidRequestException", 400):
            iot_unchecked.list_job_templates(maxResults=bad)
    # an inline document is a JSON object, as for CreateJob
    with raises_aws("InvalidRequestException", 400):
        iot.create_job_template(jobTemplateId="t2", description="d", document="[1, 2]")
    # configs are checked as CreateJob checks them
    bad_configs = [
        {"jobExecutionsRolloutConfig": {"maximumPerMinute": 0}},
        {"jobExecutionsRolloutConfig": {}},
        {"abortConfig": {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
                                           "thresholdPercentage": 10.555,
                                           "minNumberOfExecutedThings": 1}]}},
        {"jobExecutionsRetryConfig": {"criteriaList": [
            {"failureType": "ALL", "numberOfRetries": 1},
            {"failureType": "FAILED", "numberOfRetries": 1}]}},
        {"jobExecutionsRetryConfig": {"criteriaList": [
            {"failureType": "FAILED", "numberOfRetries": 10},
            {"failureType": "TIMED_OUT", "numberOfRetries": 1}]}},
        {"timeoutConfig": {"inProgressTimeoutInMinutes": 10081}},
        {"maintenanceWindows": [{"startTime": "cron(0 2 * * *)", "durationInMinutes": 60}]},
        {"maintenanceWindows": [{"startTime": "cron(0 2 * * ? *)", "durationInMinutes": 1431}]},
    ]
    for config in bad_configs:
        with raises_aws("InvalidRequestException", 400):
            iot_unchecked.create_job_template(jobTemplateId="t2", description="d",
                                              document="{}", **config)
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job_template(jobTemplateId="t2")


def test_window_errors_name_the_template_member(iot):
    with raises_aws("InvalidRequestException", 400) as e:
        iot.create_job_template(jobTemplateId="t", description="d", document="{}",
                                maintenanceWindows=[{"startTime": "every day",
                                                     "durationInMinutes": 60}])
    assert "maintenanceWindows.1.startTime" in e.response["Error"]["Message"]
    assert "schedulingConfig" not in e.response["Error"]["Message"]


def test_list_pages_with_the_boto3_paginator(iot):
    ids = [f"t{i:02d}" for i in range(7)]
    for i in reversed(ids):
        iot.create_job_template(jobTemplateId=i, description=f"d {i}", document="{}")
    pages = list(iot.get_paginator("list_job_templates").paginate(
        PaginationConfig={"PageSize": 3}))
    assert [len(p["jobTemplates"]) for p in pages] == [3, 3, 1]
    assert [s["jobTemplateId"] for p in pages for s in p["jobTemplates"]] == ids
    assert "nextToken" in pages[0] and "nextToken" not in pages[-1]
    one = iot.list_job_templates(maxResults=2)
    assert [s["jobTemplateId"] for s in one["jobTemplates"]] == ids[:2]
    rest = iot.list_job_templates(maxResults=250, nextToken=one["nextToken"])
    assert [s["jobTemplateId"] for s in rest["jobTemplates"]] == ids[2:]
    with raises_aws("InvalidRequestException", 400):
        iot.list_job_templates(nextToken="not-a-token")
    assert iot.list_job_templates()["jobTemplates"][0]["jobTemplateId"] == "t00"


def test_template_from_a_job_copies_it_and_takes_overrides(iot):
    make_job(iot, "src", ["d1"], document=DOC,
             presignedUrlConfig=PRESIGNED, jobExecutionsRolloutConfig=ROLLOUT,
             abortConfig=ABORT, timeoutConfig=TIMEOUT, jobExecutionsRetryConfig=RETRY,
             schedulingConfig={"maintenanceWindows": WINDOWS, "endBehavior": "CANCEL"},
             destinationPackageVersions=PACKAGES, namespaceId="ns", tags=[{"Key": "k", "Value": "v"}])
    iot.create_job_template(jobTemplateId="copy", description="from src", jobArn=job_arn("src"))
    t = iot.describe_job_template(jobTemplateId="copy")
    assert json.loads(t["document"]) == DOC
    assert t["presignedUrlConfig"] == PRESIGNED
    assert t["jobExecutionsRolloutConfig"] == ROLLOUT
    assert t["abortConfig"] == ABORT
    assert t["timeoutConfig"] == TIMEOUT
    assert t["jobExecutionsRetryConfig"] == RETRY
    assert t["maintenanceWindows"] == WINDOWS
    assert t["destinationPackageVersions"] == PACKAGES
    assert t["description"] == "from src"

    # members of the request replace the job's, each whole; the rest is copied
    iot.create_job_template(jobTemplateId="copy2", description="d", jobArn=job_arn("src"),
                            jobExecutionsRolloutConfig={"maximumPerMinute": 5},
                            timeoutConfig={"inProgressTimeoutInMinutes": 5})
    t = iot.describe_job_template(jobTemplateId="copy2")
    assert t["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 5}
    assert t["timeoutConfig"] == {"inProgressTimeoutInMinutes": 5}
    assert t["abortConfig"] == ABORT and t["jobExecutionsRetryConfig"] == RETRY

    # what UpdateJob changed is what is copied
    iot.update_job(jobId="src", abortConfig={"criteriaList": [
        {"failureType": "ALL", "action": "CANCEL", "thresholdPercentage": 10.0,
         "minNumberOfExecutedThings": 1}]})
    iot.create_job_template(jobTemplateId="copy3", description="d", jobArn=job_arn("src"))
    assert iot.describe_job_template(jobTemplateId="copy3")["abortConfig"]["criteriaList"][0][
        "failureType"] == "ALL"

    # a job made from a document source hands the source on
    iot.create_job(jobId="by-url", targets=[f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/d1"],
                   documentSource="https://s3.amazonaws.com/job-docs/doc.json")
    iot.create_job_template(jobTemplateId="copy4", description="d", jobArn=job_arn("by-url"))
    t = iot.describe_job_template(jobTemplateId="copy4")
    assert t["documentSource"] == "https://s3.amazonaws.com/job-docs/doc.json" and "document" not in t
    assert not set(CONFIGS) & t.keys()

    with raises_aws("ResourceNotFoundException", 404):
        iot.create_job_template(jobTemplateId="x", description="d", jobArn=job_arn("nope"))
    for bad in (f"arn:aws:iot:eu-west-1:{ACCOUNT}:job/src", f"arn:aws:iot:{REGION}:111111111111:job/src",
                f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/d1", "src"):
        with raises_aws("InvalidRequestException", 400):
            iot.create_job_template(jobTemplateId="x", description="d", jobArn=bad)
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job_template(jobTemplateId="x")


def test_deleting_a_template_leaves_the_job_it_was_made_from(iot):
    make_job(iot, "src", ["d1"])
    iot.create_job_template(jobTemplateId="copy", description="d", jobArn=job_arn("src"))
    iot.delete_job_template(jobTemplateId="copy")
    assert iot.describe_job(jobId="src")["job"]["status"] == "IN_PROGRESS"


# ---------------------------------------------------------------------------
# CreateJob with jobTemplateArn
# ---------------------------------------------------------------------------


def advance(server, seconds: float) -> float:
    """Move the test clock; the new time (epoch seconds)."""
    status, _, data = server.raw("POST", "/iotjobs-api/clock", body={"advanceSeconds": seconds})
    assert status == 200, data
    return json.loads(data)["epochSeconds"]


def things(iot, *names: str) -> list[str]:
    for n in names:
        iot.create_thing(thingName=n)
    return [thing_arn(n) for n in names]


def update(data, thing: str, job_id: str, status: str):
    return data.update_job_execution(thingName=thing, jobId=job_id, status=status)


def executions(iot, job_id: str) -> dict:
    """{thing: JobExecutionSummary} from ListJobExecutionsForJob."""
    return {s["thingArn"].rsplit("/", 1)[1]: s["jobExecutionSummary"]
            for s in iot.list_job_executions_for_job(jobId=job_id)["executionSummaries"]}


def test_a_job_inherits_the_templates_document_and_configs(iot):
    full_template(iot, "t", maintenanceWindows=None, jobExecutionsRolloutConfig=None)
    targets = things(iot, "d1", "d2")
    r = iot.create_job(jobId="j", targets=targets, jobTemplateArn=template_arn("t"))
    assert r["jobId"] == "j" and "description" not in r  # a template's description stays its own
    j = job(iot, "j")
    assert j["jobTemplateArn"] == template_arn("t")
    assert json.loads(iot.get_job_document(jobId="j")["document"]) == DOC
    assert j["presignedUrlConfig"] == PRESIGNED
    assert j["abortConfig"] == ABORT
    assert j["timeoutConfig"] == TIMEOUT
    assert j["jobExecutionsRetryConfig"] == RETRY
    assert j["destinationPackageVersions"] == PACKAGES
    assert "jobExecutionsRolloutConfig" not in j
    assert j["schedulingConfig"] == {}
    assert "tags" not in j
    assert j["status"] == "IN_PROGRESS"
    exact_counters(iot, "j", Queued=2)

    # a job without a template reports none
    make_job(iot, "plain", ["d1"])
    assert "jobTemplateArn" not in job(iot, "plain")


def test_members_of_the_request_override_the_templates(iot):
    full_template(iot, "t", maintenanceWindows=None)
    targets = things(iot, "d1", "d2", "d3")
    mine = {"criteriaList": [{"failureType": "ALL", "action": "CANCEL",
                              "thresholdPercentage": 90.0, "minNumberOfExecutedThings": 10}]}
    iot.create_job(jobId="j", targets=targets, jobTemplateArn=template_arn("t"),
                   description="mine", document=json.dumps({"op": "other"}),
                   jobExecutionsRolloutConfig={"maximumPerMinute": 100}, abortConfig=mine,
                   schedulingConfig={"endBehavior": "CANCEL"})
    j = job(iot, "j")
    assert j["description"] == "mine"
    assert json.loads(iot.get_job_document(jobId="j")["document"]) == {"op": "other"}
    assert j["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 100}
    assert j["abortConfig"] == mine
    # the members it did not give come from the template
    assert j["timeoutConfig"] == TIMEOUT
    assert j["jobExecutionsRetryConfig"] == RETRY
    assert j["presignedUrlConfig"] == PRESIGNED
    assert j["schedulingConfig"] == {"endBehavior": "CANCEL"}
    exact_counters(iot, "j", Queued=3)  # 100 a minute: all at once

    # a document source in the request replaces the template's inline document
    iot.create_job(jobId="j2", targets=targets[:1], jobTemplateArn=template_arn("t"),
                   documentSource="https://s3.amazonaws.com/job-docs/other.json")
    r = iot.describe_job(jobId="j2")
    assert r["documentSource"] == "https://s3.amazonaws.com/job-docs/other.json"
    # read from S3 when the job was created
    assert json.loads(iot.get_job_document(jobId="j2")["document"]) == S3_DOCS["other.json"]


def test_create_job_template_errors(iot):
    full_template(iot, "t")
    targets = things(iot, "d1")
    with raises_aws("ResourceNotFoundException", 404):
        iot.create_job(jobId="j", targets=targets, jobTemplateArn=template_arn("nope"))
    with raises_aws("InvalidRequestException", 400):
        iot.create_job(jobId="j", targets=targets, jobTemplateArn=template_arn("t"),
                       documentParameters={"k": "v"})
    # an AWS managed template that does not exist
    with raises_aws("ResourceNotFoundException", 404) as e:
        iot.create_job(jobId="j", targets=targets,
                       jobTemplateArn=f"arn:aws:iot:{REGION}::jobtemplate/AWS-Nope:1.0")
    assert "AWS-Nope" in e.response["Error"]["Message"]
    for bad in (f"arn:aws:iot:eu-west-1:{ACCOUNT}:jobtemplate/t",
                f"arn:aws:iot:{REGION}:111111111111:jobtemplate/t",
                f"arn:aws:iot:{REGION}:{ACCOUNT}:job/t"):
        with raises_aws("InvalidRequestException", 400):
            iot.create_job(jobId="j", targets=targets, jobTemplateArn=bad)
    # both document forms in the request: refused as without a template
    with raises_aws("InvalidRequestException", 400):
        iot.create_job(jobId="j", targets=targets, jobTemplateArn=template_arn("t"),
                       document="{}", documentSource="https://example.com/d.json")
    # a request's own config is checked as always
    with raises_aws("InvalidRequestException", 400):
        iot.create_job(jobId="j", targets=targets, jobTemplateArn=template_arn("t"),
                       timeoutConfig={"inProgressTimeoutInMinutes": 0})
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job(jobId="j")


def test_deleting_a_template_does_not_affect_its_jobs(iot):
    full_template(iot, "t", maintenanceWindows=None)
    iot.create_job(jobId="j", targets=things(iot, "d1"), jobTemplateArn=template_arn("t"))
    before = job(iot, "j")
    iot.delete_job_template(jobTemplateId="t")
    after = job(iot, "j")
    assert after == before
    assert json.loads(iot.get_job_document(jobId="j")["document"]) == DOC
    with raises_aws("ResourceNotFoundException", 404):
        iot.create_job(jobId="j2", targets=[thing_arn("d1")], jobTemplateArn=template_arn("t"))
    # a new template under the same id is a new template
    iot.create_job_template(jobTemplateId="t", description="v2", document='{"v": 2}')
    iot.create_job(jobId="j3", targets=[thing_arn("d1")], jobTemplateArn=template_arn("t"))
    assert json.loads(iot.get_job_document(jobId="j3")["document"]) == {"v": 2}
    assert "abortConfig" not in job(iot, "j3")
    assert json.loads(iot.get_job_document(jobId="j")["document"]) == DOC


@pytest.mark.server_args("--test-clock")
def test_an_inherited_rollout_rate_is_enforced(server, iot):
    iot.create_job_template(jobTemplateId="slow", description="one a minute",
                            document=json.dumps(DOC), jobExecutionsRolloutConfig=ROLLOUT)
    targets = things(iot, "d1", "d2", "d3")
    iot.create_job(jobId="j", targets=targets, jobTemplateArn=template_arn("slow"))
    assert job(iot, "j")["jobExecutionsRolloutConfig"] == ROLLOUT
    assert len(executions(iot, "j")) == 1, "one execution at creation"
    exact_counters(iot, "j", Queued=1)
    advance(server, 59)
    assert len(executions(iot, "j")) == 1
    advance(server, 1)
    assert len(executions(iot, "j")) == 2
    advance(server, 60)
    assert len(executions(iot, "j")) == 3
    # the request's own rate replaces the template's
    iot.create_job(jobId="fast", targets=targets, jobTemplateArn=template_arn("slow"),
                   jobExecutionsRolloutConfig={"maximumPerMinute": 10})
    assert len(executions(iot, "fast")) == 3


@pytest.mark.server_args("--test-clock")
def test_inherited_abort_retry_and_timeout_are_enforced(server, iot, jobs_data):
    iot.create_job_template(
        jobTemplateId="safe", description="abort, retry, timeout", document=json.dumps(DOC),
        abortConfig={"criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
                                       "thresholdPercentage": 50.0,
                                       "minNumberOfExecutedThings": 2}]},
        jobExecutionsRetryConfig={"criteriaList": [{"failureType": "TIMED_OUT",
                                                    "numberOfRetries": 1}]},
        timeoutConfig={"inProgressTimeoutInMinutes": 1})
    targets = things(iot, "d1", "d2", "d3", "d4", "d5")
    iot.create_job(jobId="j", targets=targets, jobTemplateArn=template_arn("safe"))

    # timeout (inherited) then retry (inherited): TIMED_OUT goes back to QUEUED once
    jobs_data.start_next_pending_job_execution(thingName="d1")
    advance(server, 61)
    e = executions(iot, "j")["d1"]
    assert (e["status"], e["retryAttempt"]) == ("QUEUED", 1)
    jobs_data.start_next_pending_job_execution(thingName="d1")
    advance(server, 61)
    e = executions(iot, "j")["d1"]
    assert (e["status"], e["retryAttempt"]) == ("TIMED_OUT", 1)

    # abort (inherited): FAILED >= 50 % of at least 2 executed things
    update(jobs_data, "d2", "j", "SUCCEEDED")  # 2 executed: 0 % failed
    assert job(iot, "j")["status"] == "IN_PROGRESS"
    update(jobs_data, "d3", "j", "FAILED")  # 3 executed, 1 failed: 33 %
    assert job(iot, "j")["status"] == "IN_PROGRESS"
    jobs_data.start_next_pending_job_execution(thingName="d4")
    update(jobs_data, "d4", "j", "FAILED")  # 4 executed, 2 failed: 50 %
    j = job(iot, "j")
    assert (j["status"], j["reasonCode"]) == ("CANCELED", "ABORT_CRITERIA_MET")
    exact_counters(iot, "j", TimedOut=1, Succeeded=1, Failed=2, Canceled=1)


@pytest.mark.server_args("--test-clock")
def test_inherited_maintenance_windows_are_enforced(server, iot):
    # the clock at the next 04:00 UTC; the template's window opens daily at 02:00 for an
    # hour, so 22 hours later
    day = 86400
    now = advance(server, 0)
    four = (int(now) // day) * day + 4 * 3600
    now = advance(server, (four if four > now else four + day) - now)
    window = now + 22 * 3600
    iot.create_job_template(jobTemplateId="nightly", description="at night",
                            document=json.dumps(DOC),
                            maintenanceWindows=[{"startTime": "cron(0 2 * * ? *)",
                                                 "durationInMinutes": 60}])
    targets = things(iot, "d1", "d2")
    iot.create_job(jobId="j", targets=targets, jobTemplateArn=template_arn("nightly"),
                   schedulingConfig={"endBehavior": "STOP_ROLLOUT"})
    j = job(iot, "j")
    assert j["schedulingConfig"] == {
        "endBehavior": "STOP_ROLLOUT",
        "maintenanceWindows": [{"startTime": "cron(0 2 * * ? *)", "durationInMinutes": 60}]}
    assert j["status"] == "SCHEDULED"
    assert j["scheduledJobRollouts"][0]["startTime"] == time.strftime(
        "%Y-%m-%dT%H:%M", time.gmtime(window))
    assert executions(iot, "j") == {}
    advance(server, window - now - 1)
    assert executions(iot, "j") == {}
    advance(server, 1)
    assert job(iot, "j")["status"] == "IN_PROGRESS"
    assert len(executions(iot, "j")) == 2
    advance(server, 3600)
    # the request's own windows replace the template's
    iot.create_job(jobId="j2", targets=targets, jobTemplateArn=template_arn("nightly"),
                   schedulingConfig={"maintenanceWindows": [
                       {"startTime": "cron(0 3 * * ? *)", "durationInMinutes": 30}]})
    assert job(iot, "j2")["schedulingConfig"]["maintenanceWindows"] == [
        {"startTime": "cron(0 3 * * ? *)", "durationInMinutes": 30}]


# ---------------------------------------------------------------------------
# The AWS CLI v1 and the iotjobs CLI
# ---------------------------------------------------------------------------


def test_with_the_aws_cli_and_the_iotjobs_cli(server, aws, iotjobs_bin, tmp_path, iot):
    env = _clean_env(tmp_path)

    def iotjobs(*args):
        p = subprocess.run([str(iotjobs_bin), *args, "--endpoint-url", server.endpoint],
                           env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=60, cwd=tmp_path)
        return p.returncode, p.stdout, p.stderr

    for run, name in ((aws, "aws"), (iotjobs, "iotjobs")):
        rc, out, err = run("iot", "create-job-template", "--job-template-id", f"{name}-t",
                           "--description", f"made by {name}", "--document", json.dumps(DOC),
                           "--job-executions-rollout-config", "maximumPerMinute=7",
                           "--timeout-config", "inProgressTimeoutInMinutes=9")
        assert rc == 0, err
        assert json.loads(out) == {"jobTemplateArn": template_arn(f"{name}-t"),
                                   "jobTemplateId": f"{name}-t"}
        rc, out, err = run("iot", "describe-job-template", "--job-template-id", f"{name}-t")
        assert rc == 0, err
        t = json.loads(out)
        assert t["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 7}
        assert t["timeoutConfig"] == {"inProgressTimeoutInMinutes": 9}
        assert json.loads(t["document"]) == DOC

        rc, out, err = run("iot", "create-job-template", "--job-template-id", f"{name}-t",
                           "--description", "again", "--document", "{}")
        assert rc == 255 and "ConflictException" in err, (rc, err)
        rc, out, err = run("iot", "describe-job-template", "--job-template-id", "nope")
        assert rc == 255 and "ResourceNotFoundException" in err, (rc, err)

    for i in range(3):
        iot.create_job_template(jobTemplateId=f"z{i}", description="d", document="{}")
    outs = []
    for run in (aws, iotjobs):
        # all pages, fetched by the CLI's paginator
        rc, out, err = run("iot", "list-job-templates", "--page-size", "2")
        assert rc == 0, err
        outs.append(json.loads(out))
        assert [s["jobTemplateId"] for s in outs[-1]["jobTemplates"]] == [
            "aws-t", "iotjobs-t", "z0", "z1", "z2"]
        rc, out, err = run("iot", "list-job-templates", "--max-items", "1")
        assert rc == 0, err
        assert len(json.loads(out)["jobTemplates"]) == 1 and "NextToken" in json.loads(out)
    assert outs[0] == outs[1]

    for run, name in ((aws, "aws"), (iotjobs, "iotjobs")):
        rc, out, err = run("iot", "delete-job-template", "--job-template-id", f"{name}-t")
        assert (rc, out) == (0, ""), err
    assert [s["jobTemplateId"] for s in iot.list_job_templates()["jobTemplates"]] == [
        "z0", "z1", "z2"]


def test_create_job_from_a_template_with_the_aws_cli(server, aws, iot):
    full_template(iot, "t", maintenanceWindows=None, jobExecutionsRolloutConfig=None)
    things(iot, "d1")
    rc, out, err = aws("iot", "create-job", "--job-id", "j", "--targets", thing_arn("d1"),
                       "--job-template-arn", template_arn("t"),
                       "--timeout-config", "inProgressTimeoutInMinutes=5")
    assert rc == 0, err
    assert json.loads(out)["jobId"] == "j"
    rc, out, err = aws("iot", "describe-job", "--job-id", "j")
    assert rc == 0, err
    j = json.loads(out)["job"]
    assert j["jobTemplateArn"] == template_arn("t")
    assert j["timeoutConfig"] == {"inProgressTimeoutInMinutes": 5}
    assert j["abortConfig"] == ABORT
    rc, out, err = aws("iot", "create-job", "--job-id", "j2", "--targets", thing_arn("d1"),
                       "--job-template-arn", template_arn("nope"))
    assert rc == 255 and "ResourceNotFoundException" in err, (rc, err)
