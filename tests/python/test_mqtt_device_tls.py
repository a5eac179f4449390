"""The device suite over mutual TLS: every test of `test_mqtt_device.py` but the README
ones (which run the plain-TCP quickstart) runs unchanged against
`iotjobs serve --mqtt-listen … --mqtt-tls-cert … --mqtt-client-ca …`, with each device
provisioned the AWS way first: a client certificate signed by the client CA, registered
(RegisterCertificateWithoutCA, ACTIVE) and attached to its thing (AttachThingPrincipal)
through boto3, and the SDK connecting with that certificate and key (`awscrt` TLS context,
as `mtls_from_path` builds it). Same three SDK clients, MQTT 3.1.1 and 5.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mqtt_device import Devices, MutualTls
from test_mqtt_tls import _ca, _leaf

# The device suite, collected here too with this module's fixtures.
from test_mqtt_device import (  # noqa: F401
    test_mqtt_authz_subscribe_to_another_things_topics_is_refused,
    test_mqtt_describe_job_execution_by_job_id,
    test_mqtt_describe_job_execution_finished_is_terminal_state_reached,
    test_mqtt_describe_job_execution_next_does_not_start_it,
    test_mqtt_describe_job_execution_next_with_nothing_pending,
    test_mqtt_describe_job_execution_unknown_is_resource_not_found,
    test_mqtt_get_pending_job_executions_client_token_verbatim_or_omitted,
    test_mqtt_get_pending_job_executions_empty_payload_is_accepted,
    test_mqtt_get_pending_job_executions_in_creation_order,
    test_mqtt_notifications_cancel_job_notifies_every_target,
    test_mqtt_notifications_follow_the_pending_list,
    test_mqtt_notifications_in_progress_entries_come_first,
    test_mqtt_qos1_requests_are_acknowledged_and_subscriptions_granted_at_most_qos1,
    test_mqtt_request_not_json_is_invalid_json,
    test_mqtt_start_next_pending_job_execution_invalid_request,
    test_mqtt_start_next_pending_job_execution_starts_the_oldest,
    test_mqtt_start_next_pending_job_execution_with_nothing_pending,
    test_mqtt_unknown_jobs_topic_is_invalid_topic,
    test_mqtt_update_job_execution_after_forced_cancel_is_invalid_state_transition,
    test_mqtt_update_job_execution_invalid_status,
    test_mqtt_update_job_execution_succeeded,
    test_mqtt_update_job_execution_with_state_and_document,
    test_mqtt_update_job_execution_wrong_expected_version_is_version_mismatch,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """Server and client CAs and the server's certificate; device certificates are made
    on demand (`device_cert`)."""
    d = tmp_path_factory.mktemp("pki-devices")
    _ca(d, "server-ca")
    _ca(d, "device-ca")
    _leaf(d, "server", "server-ca",
          "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    return d


def device_cert(pki: Path, thing: str) -> tuple[Path, Path]:
    """The thing's certificate and key, signed by the client CA (made once per module)."""
    name = f"dev-{thing}"
    if not (pki / f"{name}.pem").exists():
        _leaf(pki, name, "device-ca", "extendedKeyUsage=clientAuth\n")
    return pki / f"{name}.pem", pki / f"{name}.key"


@pytest.fixture
def mqtt_server(launch_server, tmp_path, pki):
    srv = launch_server(
        tmp_path, "--mqtt-listen", "127.0.0.1:0",
        "--mqtt-tls-cert", str(pki / "server.pem"), "--mqtt-tls-key", str(pki / "server.key"),
        "--mqtt-client-ca", str(pki / "device-ca.pem"))
    try:
        assert srv.mqtt_endpoint.startswith("mqtts://")
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def iot(mqtt_server):
    return mqtt_server.client("iot")


@pytest.fixture
def jobs_data(mqtt_server):
    return mqtt_server.client("iot-jobs-data")


@pytest.fixture
def devices(mqtt_server, iot, pki):
    """devices(kind, thing): provision the thing's certificate (register, attach; the
    thing is created if the test has not), then connect over mutual TLS."""
    provisioned: dict[str, MutualTls] = {}

    def tls_for(thing: str) -> MutualTls:
        if thing not in provisioned:
            cert, key = device_cert(pki, thing)
            if thing not in {t["thingName"] for t in iot.list_things()["things"]}:
                iot.create_thing(thingName=thing)
            r = iot.register_certificate_without_ca(certificatePem=cert.read_text(),
                                                    status="ACTIVE")
            iot.attach_thing_principal(thingName=thing, principal=r["certificateArn"])
            provisioned[thing] = MutualTls(str(cert), str(key), str(pki / "server-ca.pem"))
        return provisioned[thing]

    opened = Devices(lambda: mqtt_server.mqtt_port, tls_for=tls_for)
    try:
        yield opened
    finally:
        opened.close_all()
