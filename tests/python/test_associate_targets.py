"""AssociateTargetsWithJob (issue 13): boto3, the AWS CLI v1 and a device over MQTT.
A CONTINUOUS, IN_PROGRESS job takes more things and groups; each thing they bring gets a
QUEUED execution (and its device hears notify-next); the limits and refusals are AWS's.
"""

from __future__ import annotations

import json

import pytest

from iotjobs_helpers import group_arn, thing_arn

DOC = json.dumps({"op": "update"})


def continuous_job(iot, job_id, targets):
    return iot.create_job(jobId=job_id, targets=targets, document=DOC,
                          targetSelection="CONTINUOUS")


def test_associate_adds_things_and_groups_to_a_continuous_job(server):
    iot = server.client("iot")
    for t in ("t1", "t2", "t3", "t4"):
        iot.create_thing(thingName=t)
    iot.create_thing_group(thingGroupName="fleet")
    for t in ("t2", "t3"):
        iot.add_thing_to_thing_group(thingGroupName="fleet", thingName=t)
    continuous_job(iot, "c1", [thing_arn("t1")])
    r = iot.associate_targets_with_job(jobId="c1", targets=[group_arn("fleet"), thing_arn("t4")],
                                       comment="wave 2")
    assert r["jobId"] == "c1" and r["jobArn"].endswith(":job/c1")
    job = iot.describe_job(jobId="c1")["job"]
    assert sorted(job["targets"]) == sorted([thing_arn("t1"), group_arn("fleet"), thing_arn("t4")])
    assert job["jobProcessDetails"]["numberOfQueuedThings"] == 4
    things = sorted(e["thingArn"].rsplit("/", 1)[1] for e in
                    iot.list_job_executions_for_job(jobId="c1")["executionSummaries"])
    assert things == ["t1", "t2", "t3", "t4"]
    # the group keeps the job following it
    iot.create_thing(thingName="t5")
    iot.add_thing_to_thing_group(thingGroupName="fleet", thingName="t5")
    assert iot.describe_job_execution(jobId="c1", thingName="t5")["execution"]["status"] == "QUEUED"


def test_associate_refusals(server):
    iot = server.client("iot")
    iot.create_thing(thingName="t1")
    iot.create_job(jobId="snap", targets=[thing_arn("t1")], document=DOC)
    with pytest.raises(iot.exceptions.InvalidRequestException) as e:
        iot.associate_targets_with_job(jobId="snap", targets=[thing_arn("t1")])
    assert "CONTINUOUS" in str(e.value)
    continuous_job(iot, "c1", [thing_arn("t1")])
    with pytest.raises(iot.exceptions.LimitExceededException):
        iot.associate_targets_with_job(
            jobId="c1", targets=[thing_arn(f"x{i}") for i in range(100)])
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.associate_targets_with_job(jobId="c1", targets=[group_arn("nope")])
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.associate_targets_with_job(jobId="nope", targets=[thing_arn("t1")])
    iot.cancel_job(jobId="c1")
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.associate_targets_with_job(jobId="c1", targets=[thing_arn("t1")])
    assert iot.describe_job(jobId="c1")["job"]["targets"] == [thing_arn("t1")]


def test_associate_with_the_aws_cli(server, aws):
    iot = server.client("iot")
    iot.create_thing(thingName="t1")
    iot.create_thing(thingName="t2")
    continuous_job(iot, "c1", [thing_arn("t1")])
    rc, out, err = aws("iot", "associate-targets-with-job", "--job-id", "c1",
                       "--targets", thing_arn("t2"))
    assert rc == 0, err
    assert json.loads(out)["jobId"] == "c1"
    assert iot.describe_job_execution(jobId="c1", thingName="t2")["execution"]["status"] == "QUEUED"


@pytest.mark.server_args("--mqtt-listen", "127.0.0.1:0")
def test_associate_notifies_the_new_things_device(server):
    from mqtt_device import Device

    iot = server.client("iot")
    iot.create_thing(thingName="t1")
    iot.create_thing(thingName="t2")
    continuous_job(iot, "c1", [thing_arn("t1")])
    with Device("v2-mqtt5", server.mqtt_port, "t2") as d:
        nn = d.subscribe_notify_next()
        iot.associate_targets_with_job(jobId="c1", targets=[thing_arn("t2")])
        ev = nn.next(timeout=5)
        assert (ev.execution.job_id, ev.execution.status) == ("c1", "QUEUED")
