"""The unmodified AWS CLI v1 against iotjobs: the README quickstart and the
CancelJobExecution error lines (aws-cli-v1-behaviour.md §2, §3.4, §5, §8); and the help a
newcomer finds in the `iotjobs` binary itself (`iotjobs --help`, `iotjobs help …`)."""

import json
import subprocess

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


# ---------------------------------------------------------------------------
# `iotjobs --help` and `iotjobs help …` (no server needed)
# ---------------------------------------------------------------------------


def run_iotjobs(iotjobs_bin, *args: str):
    p = subprocess.run(
        [str(iotjobs_bin), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return p.returncode, p.stdout, p.stderr


def flat(text: str) -> str:
    """Whitespace runs as one space: help pages wrap their sentences."""
    return " ".join(text.split())


def test_top_level_help_lists_the_cli_commands(iotjobs_bin):
    rc, out, err = run_iotjobs(iotjobs_bin, "--help")
    assert rc == 0, err
    commands = {line.split()[0]: flat(line) for line in out.splitlines() if line.startswith("  ") and line.split()}
    assert {"serve", "iot", "iot-jobs-data"} <= commands.keys(), out
    assert "control plane" in commands["iot"] and "`iotjobs help iot` lists its operations" in commands["iot"]
    assert "`iotjobs help iot-jobs-data` lists its operations" in commands["iot-jobs-data"]

    rc, out, err = run_iotjobs(iotjobs_bin, "help")
    assert (rc, err) == (0, "")
    for command in ("serve", "iot", "iot-jobs-data"):
        assert f"\n       o {command}\n" in out


def test_help_iot_lists_the_served_operations(iotjobs_bin):
    rc, out, err = run_iotjobs(iotjobs_bin, "help", "iot")
    assert (rc, err) == (0, ""), err
    listed = [line.strip()[2:] for line in out.splitlines() if line.startswith("       o ")]
    assert "cancel-job-execution" in listed and "create-job" in listed
    assert "list-policies" not in listed  # in the AWS model, not served
    assert "Cancel one thing's execution of a job" in flat(out)
    assert run_iotjobs(iotjobs_bin, "iot", "help")[1] == out

    rc, out, err = run_iotjobs(iotjobs_bin, "help", "iot-jobs-data")
    assert (rc, err) == (0, "")
    listed = [line.strip()[2:] for line in out.splitlines() if line.startswith("       o ")]
    assert listed == [
        "describe-job-execution",
        "get-pending-job-executions",
        "start-next-pending-job-execution",
        "update-job-execution",
    ]


def test_help_of_an_operation_is_its_help_page(iotjobs_bin):
    rc, out, err = run_iotjobs(iotjobs_bin, "help", "iot", "cancel-job-execution")
    assert (rc, err) == (0, ""), err
    assert out == run_iotjobs(iotjobs_bin, "iot", "cancel-job-execution", "help")[1]
    page = flat(out)
    assert (
        "--force | --no-force (boolean) Also cancel an execution that is IN_PROGRESS; without it "
        "only QUEUED executions can be canceled. The device can then no longer update it."
    ) in page
    # our sentence first, then the constraints generated from the model
    assert "--job-id (string) The job whose execution is canceled. Constraints: required; min 1; max 64" in page
    assert " member." not in page and " member;" not in page  # the old "The force member."


def test_unknown_help_topics_are_usage_errors(iotjobs_bin):
    rc, out, err = run_iotjobs(iotjobs_bin, "help", "iott")
    assert (rc, out) == (2, "")
    assert "iotjobs: error: argument command: no help for 'iott': the commands are serve, backup, audit, iot, iot-jobs-data" in err
    assert "maybe you meant 'iot'" in err

    rc, out, err = run_iotjobs(iotjobs_bin, "help", "iot", "cancel-job-executions")
    assert (rc, out) == (2, "")
    assert "iot has no operation 'cancel-job-executions' (maybe you meant 'cancel-job-execution'?)" in err
    assert "cancel-job-execution, create-job" in flat(err)  # the served operations are named

    rc, out, err = run_iotjobs(iotjobs_bin, "help", "iot", "list-policies")
    assert (rc, out) == (2, "")
    assert "iotjobs does not serve ListPolicies (iot list-policies) yet" in err
