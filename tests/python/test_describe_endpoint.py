"""DescribeEndpoint (issue 14): iotjobs answers where clients reach this server, per
endpoint type, so that SDK samples, which look the device endpoint up first and connect
there, work unchanged (docs/compatibility.md, "Endpoints").

- iot:Data, iot:Data-ATS (and no type): the MQTT address, or the HTTP one without MQTT;
- iot:CredentialProvider: the HTTP address; iot:Jobs: 400 pointing to iot:Data-ATS, as
  live AWS answers since it retired that endpoint (wire spec §8);
- any letter case; another type: 400 "Endpoint type X not recognized." (AWS's wording);
- `serve --public-http-address` / `--public-mqtt-address` replace the bound addresses.
"""

from __future__ import annotations

import subprocess

import pytest

from conftest import _clean_env, cli_runner
from iotjobs_helpers import make_job, raises_aws

DEVICE_TYPES = ["iot:Data", "iot:Data-ATS"]
HTTP_TYPES = ["iot:CredentialProvider"]


def address(iot, endpoint_type=None) -> str:
    kwargs = {} if endpoint_type is None else {"endpointType": endpoint_type}
    return iot.describe_endpoint(**kwargs)["endpointAddress"]


def host_port(server_endpoint: str) -> str:
    """`http://127.0.0.1:PORT` → `127.0.0.1:PORT`."""
    return server_endpoint.split("://", 1)[1]


def test_without_mqtt_every_type_is_the_http_address(iot, server):
    http = host_port(server.endpoint)
    assert address(iot) == http
    for t in DEVICE_TYPES + HTTP_TYPES:
        assert address(iot, t) == http, t
        assert address(iot, t.lower()) == http, t
        assert address(iot, t.upper()) == http, t


@pytest.mark.parametrize("bad", ["iot:Bogus", "Data-ATS", "iot:Data-ATS ", "", "x" * 128])
def test_unknown_endpoint_type_is_invalid_request(iot, bad):
    with raises_aws("InvalidRequestException", 400) as e:
        address(iot, bad)
    assert e.response["Error"]["Message"] == f"Endpoint type {bad} not recognized."


def test_endpoint_type_longer_than_the_model_allows(iot_unchecked):
    with raises_aws("InvalidRequestException", 400) as e:
        address(iot_unchecked, "x" * 129)
    assert "Member must have length less than or equal to 128" in e.response["Error"]["Message"]


def test_device_connects_to_the_data_ats_address(mqtt_server, devices):
    """What SDK samples do: DescribeEndpoint(iot:Data-ATS), then connect there over MQTT
    and talk to IoT Jobs. The HTTP data plane stays on the server's endpoint URL."""
    iot = mqtt_server.client("iot")
    make_job(iot, "job-1", ["t1"])
    ats = address(iot, "iot:Data-ATS")
    assert ats == f"127.0.0.1:{mqtt_server.mqtt_port}"
    assert address(iot) == address(iot, "iot:Data") == ats
    host, port = ats.rsplit(":", 1)

    from mqtt_device import Device
    with Device("v2-mqtt5", int(port), "t1", host=host) as d:
        pending = d.get_pending()
        assert [j.job_id for j in pending.queued_jobs] == ["job-1"]
        started = d.start_next().execution
        assert (started.job_id, started.status) == ("job-1", "IN_PROGRESS")

    jobs_host = host_port(mqtt_server.endpoint)
    assert address(iot, "iot:CredentialProvider") == jobs_host
    import boto3
    data = boto3.session.Session().client(
        "iot-jobs-data", endpoint_url=f"http://{jobs_host}", region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test")
    ex = data.describe_job_execution(jobId="job-1", thingName="t1")["execution"]
    assert ex["status"] == "IN_PROGRESS"


def test_public_addresses_replace_the_bound_ones(server_factory):
    srv = server_factory("--public-http-address", "jobs.example.com",
                         "--public-mqtt-address", "devices.example.com:8883")
    iot = srv.client("iot")
    for t in [None] + DEVICE_TYPES:
        assert address(iot, t) == "devices.example.com:8883", t
    for t in HTTP_TYPES:
        assert address(iot, t) == "jobs.example.com", t
    # without MQTT and without a public MQTT address, devices get the HTTP one
    srv = server_factory("--public-http-address", "[2001:db8::1]:8443")
    assert address(srv.client("iot"), "iot:Data-ATS") == "[2001:db8::1]:8443"


def test_public_mqtt_address_wins_over_the_bound_listener(server_factory):
    srv = server_factory("--mqtt-listen", "127.0.0.1:0",
                         "--public-mqtt-address", "devices.example.com")
    iot = srv.client("iot")
    assert address(iot, "iot:Data-ATS") == "devices.example.com"
    assert address(iot, "iot:CredentialProvider") == host_port(srv.endpoint)


@pytest.mark.parametrize("flag,value", [
    ("--public-mqtt-address", "mqtts://devices.example.com:8883"),
    ("--public-http-address", "jobs.example.com/prefix"),
    ("--public-http-address", "jobs.example.com:0"),
    ("--public-mqtt-address", "::1"),
])
def test_a_public_address_that_is_not_host_and_port_stops_the_server(
        iotjobs_bin, tmp_path, flag, value):
    p = subprocess.run(
        [str(iotjobs_bin), "serve", "--listen", "127.0.0.1:0", "--database",
         f"sqlite://{tmp_path}/db.sqlite", flag, value],
        env=_clean_env(tmp_path), capture_output=True, text=True, timeout=30,
        stdin=subprocess.DEVNULL)
    assert p.returncode == 2, p
    assert flag in p.stderr and "is not HOST[:PORT]" in p.stderr, p.stderr


def test_cli_describe_endpoint(server, aws, iotjobs_bin, tmp_path):
    """The AWS CLI v1 and iotjobs' own CLI print the same answer."""
    http = host_port(server.endpoint)
    iotjobs = cli_runner(iotjobs_bin, server, tmp_path)
    for run in (aws, iotjobs):
        code, out, err = run("iot", "describe-endpoint", "--endpoint-type", "iot:data-ats")
        assert code == 0, err
        assert out == '{\n    "endpointAddress": "' + http + '"\n}\n'
        code, out, err = run("iot", "describe-endpoint", "--endpoint-type", "iot:Nope",
                             "--output", "text")
        assert (code, out) == (255, ""), err
        assert ("An error occurred (InvalidRequestException) when calling the "
                "DescribeEndpoint operation: Endpoint type iot:Nope not recognized.") in err
        code, out, err = run("iot", "describe-endpoint", "--query", "endpointAddress",
                             "--output", "text")
        assert (code, out) == (0, http + "\n"), err


def test_iot_jobs_is_refused_as_live_aws_refuses_it(iot):
    """AWS retired the separate jobs endpoint: DescribeEndpoint(iot:Jobs) is 400, pointing
    to iot:Data-ATS (wire spec §8), in any letter case."""
    for t in ("iot:Jobs", "IOT:JOBS"):
        with raises_aws("InvalidRequestException", 400) as e:
            address(iot, t)
        assert "iot:Data-ATS" in e.response["Error"]["Message"]
