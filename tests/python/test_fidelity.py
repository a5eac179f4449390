"""Fidelity fixes (issue 14): where iotjobs answered differently from AWS in details that
clients can see. Each test names the AWS behaviour it holds iotjobs to; the choices where
AWS is silent are recorded in docs/compatibility.md.

- statusDetails: the control plane answers `{}` for an execution without details, the data
  plane (HTTP and MQTT) leaves the member out (AWS CLI examples).
- Job documents: any JSON object up to 32768 characters, at any depth, with numbers of
  any size, stored and returned as given; clear refusals for everything else.
- A target ARN of another region or account: 404 (wire spec §7 #17); malformed: 400.
- A device asking for a status only the service sets is refused before any lookup.
- UpdateJob with nothing to update, or with empty configs: AWS-shaped 400s.
- CONTINUOUS jobs and things that rejoin a target group; REMOVED and versions.
"""

from __future__ import annotations

import json

import pytest

from iotjobs_helpers import (
    ACCOUNT,
    REGION,
    RawCapture,
    execution,
    group_arn,
    make_group_job,
    make_job,
    raises_aws,
    snapshot,
    statuses_for_job,
    thing_arn,
)
from mqtt_device import jobs_topic


def raw_json(raw: RawCapture) -> dict:
    return json.loads(raw.last[3])


# --- statusDetails: `{}` on the control plane, absent on the data plane -----------------


def test_control_plane_status_details_is_an_empty_object_without_details(iot, jobs_data):
    """`aws iot describe-job-execution` (AWS CLI example, a QUEUED execution):
    `"statusDetails": {}`, no `detailsMap`; with details, `{"detailsMap": {...}}`."""
    make_job(iot, "job-1", ["t1"])
    raw = RawCapture(iot)
    ex = iot.describe_job_execution(jobId="job-1", thingName="t1")["execution"]
    assert ex["statusDetails"] == {}
    assert raw_json(raw)["execution"]["statusDetails"] == {}

    jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="IN_PROGRESS",
                                   statusDetails={"step": "download"})
    iot.describe_job_execution(jobId="job-1", thingName="t1")
    assert raw_json(raw)["execution"]["statusDetails"] == {"detailsMap": {"step": "download"}}


def test_data_plane_leaves_status_details_out_without_details(iot, jobs_data):
    """`aws iot-jobs-data describe-job-execution` and `start-next-pending-job-execution`
    (AWS CLI examples) show no `statusDetails` for an execution without details; the same
    holds for `executionState` (live AWS's VersionMismatch rejection, wire spec §8)."""
    make_job(iot, "job-1", ["t1"])
    make_job(iot, "job-2", ["t1"], create_things=False)
    raw = RawCapture(jobs_data)

    ex = jobs_data.describe_job_execution(jobId="job-1", thingName="t1")["execution"]
    assert "statusDetails" not in ex
    assert "statusDetails" not in raw_json(raw)["execution"]
    jobs_data.describe_job_execution(jobId="$next", thingName="t1")
    assert "statusDetails" not in raw_json(raw)["execution"]

    started = jobs_data.start_next_pending_job_execution(thingName="t1")["execution"]
    assert started["jobId"] == "job-1" and "statusDetails" not in started
    assert "statusDetails" not in raw_json(raw)["execution"]

    state = jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="IN_PROGRESS",
                                           includeJobExecutionState=True)["executionState"]
    assert state == {"status": "IN_PROGRESS", "versionNumber": 3}
    # the error body's executionState too
    with raises_aws("InvalidRequestException", 400):
        jobs_data.update_job_execution(jobId="job-1", thingName="t1", status="SUCCEEDED",
                                       expectedVersion=1)
    assert raw_json(raw)["executionState"] == {"status": "IN_PROGRESS", "versionNumber": 3}

    # with details, they are there, flat
    state = jobs_data.update_job_execution(jobId="job-2", thingName="t1", status="IN_PROGRESS",
                                           statusDetails={"k": "v"},
                                           includeJobExecutionState=True)["executionState"]
    assert state["statusDetails"] == {"k": "v"}
    ex = jobs_data.describe_job_execution(jobId="job-2", thingName="t1")["execution"]
    assert ex["statusDetails"] == {"k": "v"}


def test_mqtt_payloads_leave_status_details_out_without_details(mqtt_server, devices):
    """MQTT follows the data plane: AWS's `notify-next` examples carry no
    `statusDetails` for an execution without details."""
    iot = mqtt_server.client("iot")
    iot.create_thing(thingName="t1")
    d = devices("v2-mqtt3", "t1")
    nxt = d.subscribe_notify_next()
    make_job(iot, "job-1", ["t1"], create_things=False)
    nxt.next()
    body = d.raw.json(jobs_topic("t1", "notify-next"))
    assert body["execution"]["jobId"] == "job-1"
    assert "statusDetails" not in body["execution"]

    d.describe("job-1")
    body = d.raw.for_token(jobs_topic("t1", "job-1", "get", "accepted"), d.last_client_token)
    assert "statusDetails" not in body["execution"]
    d.start_next()
    body = d.raw.for_token(jobs_topic("t1", "start-next", "accepted"), d.last_client_token)
    assert "statusDetails" not in body["execution"]
    d.update("job-1", "IN_PROGRESS", include_job_execution_state=True)
    body = d.raw.for_token(jobs_topic("t1", "job-1", "update", "accepted"), d.last_client_token)
    assert body["executionState"] == {"status": "IN_PROGRESS", "versionNumber": 3}

    d.update("job-1", "IN_PROGRESS", status_details={"step": "2"},
             include_job_execution_state=True)
    body = d.raw.for_token(jobs_topic("t1", "job-1", "update", "accepted"), d.last_client_token)
    assert body["executionState"]["statusDetails"] == {"step": "2"}


# --- job documents: any object, stored as given -----------------------------------------


DEEP = 16_000  # 32 KB of brackets: far past serde_json's default recursion limit of 128


def deep_document() -> str:
    return '{"a":' + "[" * DEEP + "1" + "]" * DEEP + "}"


# key order, spacing, a 40-digit integer, numbers beyond f64, escapes, a newline at the end
ODD_DOCUMENT = ('{"z": 1, "a": {"big": 1234567890123456789012345678901234567890, '
                '"tiny": 1e-400, "huge": -1.5E+400, "pi": 3.14159265358979323846264338},\n'
                ' "s": "caf\\u00e9 \\"q\\""}\n')


def test_job_documents_of_any_depth_and_numbers_are_stored_verbatim(iot, jobs_data):
    iot.create_thing(thingName="t1")
    for job_id, doc in (("deep", deep_document()), ("odd", ODD_DOCUMENT)):
        assert len(doc) <= 32768
        iot.create_job(jobId=job_id, targets=[thing_arn("t1")], document=doc)
        assert iot.get_job_document(jobId=job_id)["document"] == doc
        ex = jobs_data.describe_job_execution(jobId=job_id, thingName="t1")["execution"]
        assert ex["jobDocument"] == doc
    # the longest document the model allows
    longest = '{"pad":"' + "x" * (32768 - 10) + '"}'
    assert len(longest) == 32768
    iot.create_job(jobId="longest", targets=[thing_arn("t1")], document=longest)
    assert iot.get_job_document(jobId="longest")["document"] == longest


def test_mqtt_embeds_the_job_document_as_stored(mqtt_server, devices):
    """Over MQTT the document is an object inside the payload: the stored text, not a
    re-encoding (key order, digits and depth kept)."""
    iot = mqtt_server.client("iot")
    iot.create_thing(thingName="t1")
    iot.create_job(jobId="odd", targets=[thing_arn("t1")], document=ODD_DOCUMENT)
    iot.create_job(jobId="deep", targets=[thing_arn("t1")], document=deep_document())
    d = devices("mqtt3", "t1")
    for job_id, doc in (("odd", ODD_DOCUMENT), ("deep", deep_document())):
        topic = jobs_topic("t1", job_id, "get")
        d.subscribe_raw(f"{topic}/accepted")
        mark = len(d.raw)
        d.publish_raw(topic, b"{}")
        # Python's json module cannot read 16k levels either: compare the bytes
        _, payload = d.raw.wait_for(lambda item: item[0] == f"{topic}/accepted", since=mark)
        assert ('"jobDocument":' + doc.strip()).encode() in payload, payload[:300]


@pytest.mark.parametrize("doc,what", [
    ("[1, 2]", "an array"),
    ('"a string"', "a string"),
    ("42", "a number"),
    ("true", "a boolean"),
    ("null", "null"),
])
def test_a_job_document_that_is_not_an_object_says_what_it_is(iot, doc, what):
    iot.create_thing(thingName="t1")
    with raises_aws("InvalidRequestException", 400) as e:
        iot.create_job(jobId="j", targets=[thing_arn("t1")], document=doc)
    assert e.response["Error"]["Message"] == (
        f"The job document must be a JSON object; got {what}")


def test_a_job_document_that_is_not_json_says_where(iot):
    iot.create_thing(thingName="t1")
    for doc, where in (('{"a": 1,\n  "b": }', "line 2 column 8"),
                       ("not json", "line 1 column 2"),
                       ('{"a": 1} x', "line 1 column 10"),
                       ('{"a":' + "[" * DEEP, f"line 1 column {5 + DEEP}")):
        with raises_aws("InvalidRequestException", 400) as e:
            iot.create_job(jobId="j", targets=[thing_arn("t1")], document=doc)
        msg = e.response["Error"]["Message"]
        assert msg.startswith(f"The job document is not valid JSON at {where}: "), msg
    with pytest.raises(Exception):
        iot.describe_job(jobId="j")


def test_a_job_document_over_the_model_limit_is_a_validation_error(iot_unchecked):
    iot_unchecked.create_thing(thingName="t1")
    doc = '{"pad":"' + "x" * (32768 - 9) + '"}'
    assert len(doc) == 32769
    with raises_aws("InvalidRequestException", 400) as e:
        iot_unchecked.create_job(jobId="j", targets=[thing_arn("t1")], document=doc)
    assert "Member must have length less than or equal to 32768" in e.response["Error"]["Message"]


# --- target ARNs of another region or account -------------------------------------------


ELSEWHERE = [
    f"arn:aws:iot:eu-west-1:{ACCOUNT}:thing/t1",
    f"arn:aws:iot:{REGION}:111111111111:thing/t1",
    f"arn:aws:iot:{REGION}:111111111111:thinggroup/g1",
]
MALFORMED = [
    "t1",
    f"arn:aws:iot:{REGION}:thing/t1",
    f"arn:aws:iot:{REGION}:{ACCOUNT}:job/j1",
    f"arn:aws:iot:eu-west-1:{ACCOUNT}:thing/",
]


def test_create_job_target_of_another_region_or_account_is_not_found(iot):
    """Wire spec §7 #17: a target CreateJob cannot find is ResourceNotFoundException; one
    in another region or account is such a target. A malformed ARN stays 400."""
    iot.create_thing(thingName="t1")
    iot.create_thing_group(thingGroupName="g1")
    for arn in ELSEWHERE:
        with raises_aws("ResourceNotFoundException", 404) as e:
            iot.create_job(jobId="j", targets=[thing_arn("t1"), arn], document="{}")
        assert arn in e.response["Error"]["Message"]
    for arn in MALFORMED:
        with raises_aws("InvalidRequestException", 400):
            iot.create_job(jobId="j", targets=[arn], document="{}")
    assert iot.list_jobs()["jobs"] == []


def test_associate_targets_of_another_region_or_account_is_not_found(iot):
    iot.create_thing_group(thingGroupName="g1")
    make_group_job(iot, "cont", ["g1"], targetSelection="CONTINUOUS")
    for arn in ELSEWHERE:
        with raises_aws("ResourceNotFoundException", 404):
            iot.associate_targets_with_job(jobId="cont", targets=[arn])
    for arn in MALFORMED:
        with raises_aws("InvalidRequestException", 400):
            iot.associate_targets_with_job(jobId="cont", targets=[arn])
    assert iot.describe_job(jobId="cont")["job"]["targets"] == [group_arn("g1")]


def test_cli_create_job_target_of_another_account(iot, aws):
    iot.create_thing(thingName="t1")
    code, out, err = aws("iot", "create-job", "--job-id", "j", "--document", "{}",
                         "--targets", f"arn:aws:iot:{REGION}:111111111111:thing/t1")
    assert code == 255 and out == ""
    assert "An error occurred (ResourceNotFoundException) when calling the CreateJob" in err


# --- a device asking for a status only the service sets ---------------------------------


SERVICE_STATUSES = ["QUEUED", "CANCELED", "TIMED_OUT", "REMOVED"]


@pytest.mark.parametrize("status", SERVICE_STATUSES)
def test_device_status_refusal_comes_before_any_lookup(iot, jobs_data, status):
    """Live AWS checks the requested status first (wire spec §8), and a device's refusal
    must reveal nothing: an unknown job or thing gets the same 409 as a known one, without
    `executionState`."""
    make_job(iot, "job-1", ["t1"])
    before = snapshot(iot, "t1", "job-1")
    raw = RawCapture(jobs_data)
    message = f"The status of job execution cannot be changed to be {status}"
    for thing, job_id in (("t1", "job-1"), ("t1", "no-such-job"), ("no-such-thing", "job-1"),
                          ("no-such-thing", "no-such-job")):
        with raises_aws("InvalidStateTransitionException", 409) as e:
            jobs_data.update_job_execution(jobId=job_id, thingName=thing, status=status)
        assert e.response["Error"]["Message"] == message
        assert "executionState" not in raw_json(raw)
    assert snapshot(iot, "t1", "job-1") == before
    # a status a device may set still finds the unknown job missing
    with raises_aws("ResourceNotFoundException", 404):
        jobs_data.update_job_execution(jobId="no-such-job", thingName="t1", status="SUCCEEDED")


def test_mqtt_device_status_refusal_comes_before_any_lookup(mqtt_server, devices):
    iot = mqtt_server.client("iot")
    make_job(iot, "job-1", ["t1"])
    d = devices("mqtt5", "t1")
    for job_id in ("job-1", "no-such-job"):
        for status in SERVICE_STATUSES:
            topic = jobs_topic("t1", job_id, "update")
            suffix, body = d.raw_request(topic, json.dumps({"status": status}).encode(),
                                         answer="rejected")
            assert suffix == "rejected"
            assert body["code"] == "InvalidStateTransition", body
            assert body["message"] == (
                f"The status of job execution cannot be changed to be {status}")
            assert "executionState" not in body
    assert execution(iot, "t1", "job-1")["status"] == "QUEUED"


# --- UpdateJob with nothing to update, or with empty configs ----------------------------

NOTHING = ("UpdateJob needs something to update: at least one of description, "
           "presignedUrlConfig, jobExecutionsRolloutConfig, abortConfig, timeoutConfig and "
           "jobExecutionsRetryConfig")

# (members, message): where the model states the constraint, AWS's validation shape
EMPTY_CONFIGS = {
    "abort-without-criteria": (
        {"abortConfig": {}},
        "1 validation error detected: Value null at 'abortConfig.criteriaList' failed to "
        "satisfy constraint: Member must not be null"),
    "abort-empty-criteria": (
        {"abortConfig": {"criteriaList": []}},
        "1 validation error detected: Value '[]' at 'abortConfig.criteriaList' failed to "
        "satisfy constraint: Member must have length greater than or equal to 1"),
    "retry-without-criteria": (
        {"jobExecutionsRetryConfig": {}},
        "1 validation error detected: Value null at 'jobExecutionsRetryConfig.criteriaList' "
        "failed to satisfy constraint: Member must not be null"),
    "retry-empty-criteria": (
        {"jobExecutionsRetryConfig": {"criteriaList": []}},
        "1 validation error detected: Value '[]' at 'jobExecutionsRetryConfig.criteriaList' "
        "failed to satisfy constraint: Member must have length greater than or equal to 1"),
    "exponential-rate-empty": (
        {"jobExecutionsRolloutConfig": {"exponentialRate": {}}},
        "3 validation errors detected: Value null at "
        "'jobExecutionsRolloutConfig.exponentialRate.baseRatePerMinute' failed to satisfy "
        "constraint: Member must not be null; Value null at "
        "'jobExecutionsRolloutConfig.exponentialRate.incrementFactor' failed to satisfy "
        "constraint: Member must not be null; Value null at "
        "'jobExecutionsRolloutConfig.exponentialRate.rateIncreaseCriteria' failed to satisfy "
        "constraint: Member must not be null"),
    # the model makes both members optional: a rule of its own, worded plainly
    "rollout-empty": (
        {"jobExecutionsRolloutConfig": {}},
        "jobExecutionsRolloutConfig must set maximumPerMinute or exponentialRate"),
    "rate-increase-empty": (
        {"jobExecutionsRolloutConfig": {"exponentialRate": {
            "baseRatePerMinute": 2, "incrementFactor": 1.5, "rateIncreaseCriteria": {}}}},
        "jobExecutionsRolloutConfig.exponentialRate.rateIncreaseCriteria must set "
        "numberOfNotifiedThings or numberOfSucceededThings"),
}


def test_update_job_with_nothing_to_update_is_refused(iot, iot_unchecked):
    """Every UpdateJob member but jobId is optional in the model; a request that sets
    none would succeed doing nothing, hiding the caller's mistake. AWS documents no answer
    (research notes §6d): iotjobs refuses it with 400, before looking the job up."""
    make_job(iot, "j1", ["t1"], description="kept")
    before = iot.describe_job(jobId="j1")["job"]
    for kwargs in ({}, {"namespaceId": "ns"}):
        with raises_aws("InvalidRequestException", 400) as e:
            iot.update_job(jobId="j1", **kwargs)
        assert e.response["Error"]["Message"] == NOTHING
    with raises_aws("InvalidRequestException", 400):
        iot.update_job(jobId="no-such-job")
    assert iot.describe_job(jobId="j1")["job"] == before
    # one member is enough, even one that changes nothing
    iot.update_job(jobId="j1", description="kept")


@pytest.mark.parametrize("case", sorted(EMPTY_CONFIGS))
def test_update_job_with_an_empty_config_is_a_validation_error(iot_unchecked, case):
    members, message = EMPTY_CONFIGS[case]
    make_job(iot_unchecked, "j1", ["t1"])
    before = iot_unchecked.describe_job(jobId="j1")["job"]
    with raises_aws("InvalidRequestException", 400) as e:
        iot_unchecked.update_job(jobId="j1", **members)
    assert e.response["Error"]["Message"] == message
    assert iot_unchecked.describe_job(jobId="j1")["job"] == before
    # a request error, whatever the job: also for one that does not exist
    with raises_aws("InvalidRequestException", 400):
        iot_unchecked.update_job(jobId="no-such-job", **members)


def test_update_job_empty_timeout_and_presigned_configs_are_accepted(iot):
    """Both members of timeoutConfig and presignedUrlConfig are optional: `{}` is a
    config. An empty timeoutConfig removes the in-progress timeout for executions that
    start afterwards, and DescribeJob shows `{}`, as for a job created without one."""
    make_job(iot, "j1", ["t1"], timeoutConfig={"inProgressTimeoutInMinutes": 30})
    iot.update_job(jobId="j1", timeoutConfig={}, presignedUrlConfig={})
    j = iot.describe_job(jobId="j1")["job"]
    assert j["timeoutConfig"] == {} and j["presignedUrlConfig"] == {}


def test_cli_update_job_with_nothing_to_update(iot, aws):
    make_job(iot, "j1", ["t1"])
    code, out, err = aws("iot", "update-job", "--job-id", "j1")
    assert (code, out) == (255, "")
    assert err.strip().endswith(
        "An error occurred (InvalidRequestException) when calling the UpdateJob operation: "
        + NOTHING)
    code, out, err = aws("iot", "update-job", "--job-id", "j1", "--abort-config", "{}")
    assert code == 255
    # the AWS CLI checks required members itself, before sending
    assert "Missing required parameter in abortConfig: \"criteriaList\"" in err


# --- CONTINUOUS jobs: rejoining a target group; REMOVED and versions --------------------


def executions_of(iot, thing: str, job_id: str) -> list:
    """(executionNumber, status, versionNumber, retryAttempt) of the thing's executions
    of the job, oldest first."""
    out = []
    for s in iot.list_job_executions_for_thing(thingName=thing, jobId=job_id)[
            "executionSummaries"]:
        n = s["jobExecutionSummary"]["executionNumber"]
        e = iot.describe_job_execution(jobId=job_id, thingName=thing, executionNumber=n)
        out.append((n, s["jobExecutionSummary"]["status"], e["execution"]["versionNumber"],
                    s["jobExecutionSummary"]["retryAttempt"]))
    return sorted(out)


@pytest.fixture
def continuous(iot):
    """A CONTINUOUS job over group g1 (things t1, t2)."""
    iot.create_thing_group(thingGroupName="g1")
    for t in ("t1", "t2"):
        iot.create_thing(thingName=t)
        iot.add_thing_to_thing_group(thingGroupName="g1", thingName=t)
    make_group_job(iot, "cont", ["g1"], targetSelection="CONTINUOUS")
    return "cont"


def leave_and_rejoin(iot, thing: str = "t1"):
    iot.remove_thing_from_thing_group(thingGroupName="g1", thingName=thing)
    iot.add_thing_to_thing_group(thingGroupName="g1", thingName=thing)


@pytest.mark.parametrize("finish", ["SUCCEEDED", "FAILED", "REJECTED", "CANCELED"])
def test_continuous_job_does_not_run_again_on_a_thing_that_finished_it(
        iot, jobs_data, continuous, finish):
    """AWS documents a new execution on rejoining only for a REMOVED one ("you can
    re-attach the thing to your target group and restart the job execution", Jobs and
    job execution states); a continuous job runs on things newly added to the group, and
    a thing that already ran it is not new to it. So a finished execution stays the
    thing's last: no second run."""
    if finish == "CANCELED":
        iot.cancel_job_execution(jobId="cont", thingName="t1")
    else:
        jobs_data.update_job_execution(jobId="cont", thingName="t1", status=finish)
    finished = executions_of(iot, "t1", "cont")
    assert [e[1] for e in finished] == [finish]

    leave_and_rejoin(iot)
    assert executions_of(iot, "t1", "cont") == finished
    pending = jobs_data.get_pending_job_executions(thingName="t1")
    assert pending["inProgressJobs"] == [] and pending["queuedJobs"] == []
    assert statuses_for_job(iot, "cont") == {"t1": finish, "t2": "QUEUED"}

    # the way to run it again: delete the finished execution, then the thing is new to
    # the job (the model: "the executionNumber may be reused")
    iot.delete_job_execution(jobId="cont", thingName="t1", executionNumber=1)
    leave_and_rejoin(iot)
    assert executions_of(iot, "t1", "cont") == [(1, "QUEUED", 1, 0)]


def test_continuous_job_runs_again_after_removed_with_retries_reset(iot, jobs_data):
    """QUEUED → REMOVED when the thing leaves (version +1, as every state change:
    wire spec §7 #1); rejoining queues execution n+1 at version 1 with its retry count
    back at 0 ("the number of retry attempts is reset to zero" when a thing leaves and
    rejoins, AWS "Job configurations": retries)."""
    iot.create_thing_group(thingGroupName="g1")
    iot.create_thing(thingName="t1")
    iot.add_thing_to_thing_group(thingGroupName="g1", thingName="t1")
    make_group_job(iot, "cont", ["g1"], targetSelection="CONTINUOUS",
                   jobExecutionsRetryConfig={"criteriaList": [
                       {"failureType": "FAILED", "numberOfRetries": 3}]})
    jobs_data.update_job_execution(jobId="cont", thingName="t1", status="FAILED")
    # retried at once: QUEUED again, version 1 → 2 (FAILED) → 3 (QUEUED), attempt 1
    assert executions_of(iot, "t1", "cont") == [(1, "QUEUED", 3, 1)]

    iot.remove_thing_from_thing_group(thingGroupName="g1", thingName="t1")
    assert executions_of(iot, "t1", "cont") == [(1, "REMOVED", 4, 1)]
    iot.add_thing_to_thing_group(thingGroupName="g1", thingName="t1")
    assert executions_of(iot, "t1", "cont") == [(1, "REMOVED", 4, 1), (2, "QUEUED", 1, 0)]
    nxt = jobs_data.start_next_pending_job_execution(thingName="t1")["execution"]
    assert (nxt["executionNumber"], nxt["versionNumber"]) == (2, 2)


def test_removed_bumps_the_version_of_a_queued_execution(iot, jobs_data):
    """REMOVED is a state change like any other: version +1 (wire spec §7 #1, confirmed
    for cancels in §8; the model's "incremented each time they are updated by a device"
    is the device's case, and CancelJobExecution's expectedVersion doc counts operator
    changes too)."""
    iot.create_thing_group(thingGroupName="g1")
    for t in ("t1", "t2"):
        iot.create_thing(thingName=t)
        iot.add_thing_to_thing_group(thingGroupName="g1", thingName=t)
    make_group_job(iot, "cont", ["g1"], targetSelection="CONTINUOUS")
    assert execution(iot, "t1", "cont")["versionNumber"] == 1
    iot.remove_thing_from_thing_group(thingGroupName="g1", thingName="t1")
    e = execution(iot, "t1", "cont")
    assert (e["status"], e["versionNumber"]) == ("REMOVED", 2)
    assert e["lastUpdatedAt"] >= e["queuedAt"]
    # DeleteThing REMOVEs too (the same state-machine step; the thing is gone, so only
    # the job's list shows the execution)
    iot.delete_thing(thingName="t2")
    summary = [s for s in iot.list_job_executions_for_job(jobId="cont")["executionSummaries"]
               if s["thingArn"] == thing_arn("t2")][0]["jobExecutionSummary"]
    assert summary["status"] == "REMOVED"
