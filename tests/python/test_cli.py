"""The unmodified AWS CLI v1 against iotjobs: the README quickstart and the
CancelJobExecution error lines (aws-cli-v1-behaviour.md §2, §3.4, §5, §8)."""

import json

from iotjobs_helpers import execution, make_job, thing_arn

ARN = thing_arn("dev1")


def error_line(code: str, operation: str) -> str:
    return f"An error occurred ({code}) when calling the {operation} operation: "


def ok_json(result):
    rc, out, err = result
    assert rc == 0, f"exit {rc}\nstdout: {out}\nstderr: {err}"
    return json.loads(out)


def ok_empty(result):
    rc, out, err = result
    assert rc == 0, f"exit {rc}\nstdout: {out}\nstderr: {err}"
    assert out == "", f"expected no output, got {out!r}"


def service_error(result, code: str, operation: str):
    rc, out, err = result
    assert rc == 255, f"exit {rc}\nstdout: {out}\nstderr: {err}"
    assert out == ""
    assert error_line(code, operation) in err, err
    # the line is the whole of stderr: a leading empty line, then the message line
    assert err.startswith("\n" + error_line(code, operation)), repr(err)
    assert "(reached max retries" not in err


def create_dev1_job(aws, job_id="fw-1"):
    thing = ok_json(aws("iot", "create-thing", "--thing-name", "dev1"))
    assert thing["thingName"] == "dev1"
    assert thing["thingArn"] == ARN
    created = ok_json(
        aws("iot", "create-job", "--job-id", job_id, "--targets", ARN, "--document", '{"op":"update"}')
    )
    assert created["jobId"] == job_id
    assert created["jobArn"] == f"arn:aws:iot:us-east-1:000000000000:job/{job_id}"


def describe(aws, job_id="fw-1", thing="dev1"):
    return ok_json(
        aws("iot", "describe-job-execution", "--job-id", job_id, "--thing-name", thing)
    )["execution"]


def test_readme_quickstart(aws):
    create_dev1_job(aws)

    started = ok_json(aws("iot-jobs-data", "start-next-pending-job-execution", "--thing-name", "dev1"))
    ex = started["execution"]
    assert (ex["jobId"], ex["thingName"], ex["status"]) == ("fw-1", "dev1", "IN_PROGRESS")
    assert ex["versionNumber"] == 2
    assert json.loads(ex["jobDocument"]) == {"op": "update"}
    assert isinstance(ex["queuedAt"], int)

    ok_empty(aws("iot", "cancel-job-execution", "--job-id", "fw-1", "--thing-name", "dev1", "--force"))

    service_error(
        aws(
            "iot-jobs-data",
            "update-job-execution",
            "--thing-name",
            "dev1",
            "--job-id",
            "fw-1",
            "--status",
            "SUCCEEDED",
        ),
        "InvalidStateTransitionException",
        "UpdateJobExecution",
    )

    ex = describe(aws)
    assert ex["status"] == "CANCELED"
    assert ex["forceCanceled"] is True
    assert ex["versionNumber"] == 3
    assert ex["thingArn"] == ARN
    # the CLI prints the raw epoch-seconds number
    assert isinstance(ex["queuedAt"], (int, float))


def test_cli_cancel_queued_with_status_details_shorthand(aws, iot):
    make_job(iot, "fw-1", ["dev1"])  # the quickstart covers creating it with the CLI
    ok_empty(
        aws(
            "iot",
            "cancel-job-execution",
            "--job-id",
            "fw-1",
            "--thing-name",
            "dev1",
            "--status-details",
            "k1=v1,k2=v2",
        )
    )
    ex = describe(aws)
    assert ex["status"] == "CANCELED"
    assert ex["versionNumber"] == 2
    assert ex["statusDetails"] == {"detailsMap": {"k1": "v1", "k2": "v2"}}
    assert ex.get("forceCanceled", False) is False


def test_cli_errors(aws, iot):
    make_job(iot, "fw-1", ["dev1"])
    cancel = ("iot", "cancel-job-execution", "--job-id", "fw-1")

    service_error(
        aws(*cancel, "--thing-name", "dev1", "--expected-version", "99"),
        "VersionConflictException",
        "CancelJobExecution",
    )
    service_error(
        aws(*cancel, "--thing-name", "nope"),
        "ResourceNotFoundException",
        "CancelJobExecution",
    )
    eleven = ",".join(f"k{i}=v{i}" for i in range(11))
    service_error(
        aws(*cancel, "--thing-name", "dev1", "--status-details", eleven),
        "InvalidRequestException",
        "CancelJobExecution",
    )
    # none of these changed the execution
    ex = execution(iot, "dev1", "fw-1")
    assert (ex["status"], ex["versionNumber"]) == ("QUEUED", 1)

    # a matching version cancels; a second cancel of the now terminal execution is 409
    ok_empty(aws(*cancel, "--thing-name", "dev1", "--expected-version", "1", "--no-force"))
    service_error(
        aws(*cancel, "--thing-name", "dev1", "--force"),
        "InvalidStateTransitionException",
        "CancelJobExecution",
    )
    ex = execution(iot, "dev1", "fw-1")
    assert (ex["status"], ex["versionNumber"]) == ("CANCELED", 2)
