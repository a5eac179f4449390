"""Custom job templates (issue 14): CreateJobTemplate, DescribeJobTemplate,
ListJobTemplates and DeleteJobTemplate with boto3 and the AWS CLI v1 (errors with their
codes and HTTP statuses, the boto3 paginator, a template made from a job), and the iotjobs
CLI.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import _clean_env
from iotjobs_helpers import ACCOUNT, REGION, job_arn, make_job, raises_aws

DOC = {"op": "install", "version": "1.2"}
ROLLOUT = {"maximumPerMinute": 1}
ABORT = {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
                           "thresholdPercentage": 50.0, "minNumberOfExecutedThings": 2}]}
RETRY = {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]}
TIMEOUT = {"inProgressTimeoutInMinutes": 30}
PRESIGNED = {"roleArn": "arn:aws:iam::000000000000:role/s3-read", "expiresInSec": 600}
WINDOWS = [{"startTime": "cron(0 2 * * ? *)", "durationInMinutes": 120}]
PACKAGES = [f"arn:aws:iot:{REGION}:{ACCOUNT}:package/fw/version/1.2"]


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
                   documentSource="https://s3.amazonaws.com/b/doc.json")
    iot.create_job_template(jobTemplateId="copy4", description="d", jobArn=job_arn("by-url"))
    t = iot.describe_job_template(jobTemplateId="copy4")
    assert t["documentSource"] == "https://s3.amazonaws.com/b/doc.json" and "document" not in t
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
