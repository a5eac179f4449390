"""Devices over MQTT with mutual TLS (`serve --mqtt-tls-cert/--mqtt-tls-key/
--mqtt-client-ca`), as a device connects to AWS IoT: the real AWS IoT Device SDK v2's
`mtls_from_path` builders (MQTT 5 and 3.1.1), identity from the certificate registry.

A device's certificate must be signed by the client CA (else the TLS handshake fails),
registered in the account (RegisterCertificateWithoutCA), ACTIVE and attached to the thing
its client id names (else CONNACK "not authorized"). Certificates are made with `openssl`
in a temporary directory once per module, or by the server: the module's server has the
client CA's key (`--mqtt-client-ca-key`), so CreateKeysAndCertificate makes a key pair and
a certificate that the device then connects with, as with AWS IoT.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import subprocess
from concurrent.futures import Future
from pathlib import Path

import pytest
from awscrt import mqtt5, mqtt_request_response
from awsiot import iotjobs, mqtt5_client_builder, mqtt_connection_builder

from conftest import _clean_env
from iotjobs_helpers import make_job, raises_aws

TIMEOUT_S = 5


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def _leaf(d: Path, name: str, ca: str, ext: str) -> None:
    (d / f"{name}.ext").write_text(ext)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.pem",
             "-extfile", f"{name}.ext", cwd=d)


DEVICES = ("dev-a", "dev-b", "dev-c", "dev-unreg")


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    _ca(d, "server-ca")
    _ca(d, "device-ca")
    _ca(d, "other-ca")
    _leaf(d, "server", "server-ca",
          "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    for name in DEVICES:
        _leaf(d, name, "device-ca", "extendedKeyUsage=clientAuth\n")
    _leaf(d, "stranger", "other-ca", "extendedKeyUsage=clientAuth\n")
    return d


@pytest.fixture(scope="module")
def tls_server(launch_server, tmp_path_factory, certs):
    srv = launch_server(
        tmp_path_factory.mktemp("server"), "--mqtt-listen", "127.0.0.1:0",
        "--mqtt-tls-cert", str(certs / "server.pem"), "--mqtt-tls-key", str(certs / "server.key"),
        "--mqtt-client-ca", str(certs / "device-ca.pem"),
        "--mqtt-client-ca-key", str(certs / "device-ca.key"),
        # live connections' certificates rechecked often, so the revocation test is quick
        "--mqtt-certificate-recheck-ms", "200")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def iot(tls_server, certs):
    """The control plane, with dev-a/dev-b/dev-c registered: dev-a attached to thing-a,
    dev-b to thing-b, dev-c (deactivated by its test) to thing-c."""
    iot = tls_server.client("iot")
    for name, thing in (("dev-a", "thing-a"), ("dev-b", "thing-b"), ("dev-c", "thing-c")):
        iot.create_thing(thingName=thing)
        r = iot.register_certificate_without_ca(
            certificatePem=(certs / f"{name}.pem").read_text(), status="ACTIVE")
        iot.attach_thing_principal(thingName=thing, principal=r["certificateArn"])
    return iot


def _connect5(srv, certs: Path, cert: str, client_id: str) -> mqtt5.Client:
    """An MQTT 5 client connected over mutual TLS; raises with the failure's CONNACK."""
    up: Future = Future()
    client = mqtt5_client_builder.mtls_from_path(
        endpoint="localhost", port=srv.mqtt_port,
        cert_filepath=str(certs / f"{cert}.pem"), pri_key_filepath=str(certs / f"{cert}.key"),
        ca_filepath=str(certs / "server-ca.pem"), client_id=client_id,
        on_lifecycle_connection_success=lambda d: up.done() or up.set_result(d),
        on_lifecycle_connection_failure=lambda d: up.done() or up.set_exception(
            ConnectFailed(d.exception, d.connack_packet)),
    )
    client.start()
    try:
        up.result(TIMEOUT_S)
    except BaseException:
        client.stop()
        raise
    return client


class ConnectFailed(Exception):
    def __init__(self, exception, connack):
        super().__init__(f"{exception!r}, CONNACK {connack!r}")
        self.exception = exception
        self.connack = connack


def _connect3(srv, certs: Path, cert: str, client_id: str):
    conn = mqtt_connection_builder.mtls_from_path(
        endpoint="127.0.0.1", port=srv.mqtt_port,
        cert_filepath=str(certs / f"{cert}.pem"), pri_key_filepath=str(certs / f"{cert}.key"),
        ca_filepath=str(certs / "server-ca.pem"), client_id=client_id, clean_session=True)
    conn.connect().result(TIMEOUT_S)
    return conn


# CONNACK "accepted" of MQTT 3.1.1
ACCEPTED3 = b"\x20\x02\x00\x00"


def _client_ctx(certs: Path, cert: str, alpn=None) -> ssl.SSLContext:
    """A TLS client context with `cert` as the client certificate (and ALPN ids)."""
    ctx = ssl.create_default_context(cafile=str(certs / "server-ca.pem"))
    ctx.load_cert_chain(str(certs / f"{cert}.pem"), str(certs / f"{cert}.key"))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def _raw_connect3(srv, certs: Path, cert: str, client_id: str, alpn=None):
    """A raw MQTT 3.1.1 CONNECT over mutual TLS: (the TLS socket, the CONNACK's up to 4
    bytes). The caller closes the socket."""
    cid = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
    raw = socket.create_connection(("127.0.0.1", srv.mqtt_port), timeout=TIMEOUT_S)
    try:
        tls = _client_ctx(certs, cert, alpn).wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise
    tls.sendall(bytes([0x10, len(body)]) + body)
    got = b""
    while len(got) < 4:
        chunk = tls.recv(4 - len(got))
        if not chunk:
            break
        got += chunk
    return tls, got


def _raw_connack3(srv, certs: Path, cert: str, client_id: str) -> bytes:
    """The CONNACK (4 bytes) answering a raw MQTT 3.1.1 CONNECT over mutual TLS."""
    tls, connack = _raw_connect3(srv, certs, cert, client_id)
    tls.close()
    return connack


def _jobs(client) -> iotjobs.IotJobsClientV2:
    return iotjobs.IotJobsClientV2(client, mqtt_request_response.ClientOptions(
        max_request_response_subscriptions=3, max_streaming_subscriptions=2,
        operation_timeout_in_seconds=TIMEOUT_S))


def test_registered_attached_certificate_runs_jobs_over_mqtt5_and_mqtt3(tls_server, certs, iot):
    assert tls_server.mqtt_endpoint.startswith("mqtts://")
    make_job(iot, "tls-job-1", ["thing-a"], create_things=False)
    make_job(iot, "tls-job-2", ["thing-a"], create_things=False)

    client = _connect5(tls_server, certs, "dev-a", "thing-a")
    try:
        jobs = _jobs(client)
        pending = jobs.get_pending_job_executions(
            iotjobs.GetPendingJobExecutionsRequest(thing_name="thing-a")).result(TIMEOUT_S)
        assert [e.job_id for e in pending.queued_jobs] == ["tls-job-1", "tls-job-2"]
        started = jobs.start_next_pending_job_execution(
            iotjobs.StartNextPendingJobExecutionRequest(thing_name="thing-a")).result(TIMEOUT_S)
        assert (started.execution.job_id, started.execution.status) == ("tls-job-1", "IN_PROGRESS")
    finally:
        client.stop()

    conn = _connect3(tls_server, certs, "dev-a", "thing-a")
    try:
        jobs = _jobs(conn)
        pending = jobs.get_pending_job_executions(
            iotjobs.GetPendingJobExecutionsRequest(thing_name="thing-a")).result(TIMEOUT_S)
        assert [e.job_id for e in pending.in_progress_jobs] == ["tls-job-1"]
        assert [e.job_id for e in pending.queued_jobs] == ["tls-job-2"]
    finally:
        conn.disconnect().result(TIMEOUT_S)
    assert iot.describe_job_execution(jobId="tls-job-1", thingName="thing-a")[
        "execution"]["status"] == "IN_PROGRESS"


@pytest.mark.parametrize("cert, client_id", [
    ("dev-unreg", "thing-a"),  # signed by the client CA, not registered
    ("dev-b", "thing-a"),      # registered and active, attached to another thing
    ("dev-a", "no-such-thing"),
], ids=["unregistered", "other-thing", "unknown-thing"])
def test_connect_refused_not_authorized(tls_server, certs, iot, cert, client_id):
    with pytest.raises(ConnectFailed) as e:
        _connect5(tls_server, certs, cert, client_id)
    assert e.value.connack is not None, e.value
    assert e.value.connack.reason_code == mqtt5.ConnectReasonCode.NOT_AUTHORIZED
    # the SDK's MQTT 3.1.1 client reports a refused CONNACK as a protocol error without
    # its return code, so the CONNACK itself is read raw
    with pytest.raises(Exception, match="PROTOCOL_ERROR"):
        _connect3(tls_server, certs, cert, client_id)
    assert _raw_connack3(tls_server, certs, cert, client_id) == bytes([0x20, 2, 0, 5])


def test_deactivated_certificate_refused_on_next_connect(tls_server, certs, iot):
    _connect5(tls_server, certs, "dev-c", "thing-c").stop()
    cert_id = next(c["certificateId"] for c in iot.list_certificates()["certificates"]
                   if c["certificateId"] in iot.list_thing_principals(thingName="thing-c")[
                       "principals"][0])
    iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")
    try:
        with pytest.raises(ConnectFailed) as e:
            _connect5(tls_server, certs, "dev-c", "thing-c")
        assert e.value.connack.reason_code == mqtt5.ConnectReasonCode.NOT_AUTHORIZED
    finally:
        iot.update_certificate(certificateId=cert_id, newStatus="ACTIVE")
    _connect5(tls_server, certs, "dev-c", "thing-c").stop()
    # detached: refused as well
    principal = iot.list_thing_principals(thingName="thing-c")["principals"][0]
    iot.detach_thing_principal(thingName="thing-c", principal=principal)
    with pytest.raises(ConnectFailed):
        _connect5(tls_server, certs, "dev-c", "thing-c")


def test_certificate_from_unknown_ca_fails_the_handshake(tls_server, certs, iot):
    with pytest.raises(ConnectFailed) as e:
        _connect5(tls_server, certs, "stranger", "thing-a")
    assert e.value.connack is None, "no CONNACK: the TLS handshake failed"
    with pytest.raises(Exception, match="TLS|SOCKET|CLOSED|HANGUP"):
        _connect3(tls_server, certs, "stranger", "thing-a")
    assert "handshake failed" in tls_server.log()


def test_plain_mqtt_is_not_served_on_the_tls_port(tls_server):
    # a plain TCP client never gets a CONNACK
    from mqtt_device import Device, MqttTimeout
    with pytest.raises((MqttTimeout, Exception)):
        Device("mqtt3", tls_server.mqtt_port, "thing-a").connect()


@pytest.mark.parametrize("offered, selected", [
    (["x-amzn-mqtt-ca"], "x-amzn-mqtt-ca"),  # what the Device SDK offers on port 443
    (["mqtt"], "mqtt"),
    (None, None),                           # no ALPN at all (SDK on 8883, mosquitto_sub)
])
def test_alpn_as_the_device_sdk_offers_it_on_port_443(tls_server, certs, iot, offered,
                                                      selected):
    """The SDK builders default to port 443 with ALPN `x-amzn-mqtt-ca` (research note
    §2.8); the endpoint accepts that id (and `mqtt`, and none) on whatever port it listens
    on, so a device needs only the port, not a TLS change."""
    tls, connack = _raw_connect3(tls_server, certs, "dev-a", "thing-a", alpn=offered)
    with tls:
        assert tls.selected_alpn_protocol() == selected
        assert connack == ACCEPTED3


def test_alpn_unknown_protocol_fails_the_handshake(tls_server, certs):
    ctx = _client_ctx(certs, "dev-a", alpn=["h2"])
    with socket.create_connection(("127.0.0.1", tls_server.mqtt_port), timeout=TIMEOUT_S) as raw:
        with pytest.raises(ssl.SSLError):
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.recv(1)


def _raw_session3(srv, certs: Path, cert: str, client_id: str):
    """A raw MQTT 3.1.1 session over mutual TLS, CONNACK read (accepted)."""
    tls, connack = _raw_connect3(srv, certs, cert, client_id)
    assert connack == ACCEPTED3
    return tls


def _closed_within(tls, seconds: float) -> bool:
    tls.settimeout(seconds)
    try:
        return tls.recv(1) == b""
    except (socket.timeout, TimeoutError):
        return False
    except (ConnectionError, ssl.SSLError):
        return True


@pytest.mark.parametrize("change", ["deactivate", "revoke", "detach"])
def test_live_connection_is_closed_when_its_certificate_stops_being_valid(
        tls_server, certs, iot, change):
    """AWS IoT disconnects the devices of a certificate that leaves ACTIVE "within a few
    minutes" (UpdateCertificate); iotjobs rechecks live connections every
    --mqtt-certificate-recheck-ms (200 ms here) and closes them, also after
    DetachThingPrincipal. A connection whose certificate stays valid is kept."""
    _leaf(certs, f"dev-{change}", "device-ca", "extendedKeyUsage=clientAuth\n")
    thing = f"thing-{change}"
    iot.create_thing(thingName=thing)
    r = iot.register_certificate_without_ca(
        certificatePem=(certs / f"dev-{change}.pem").read_text(), status="ACTIVE")
    iot.attach_thing_principal(thingName=thing, principal=r["certificateArn"])

    victim = _raw_session3(tls_server, certs, f"dev-{change}", thing)
    bystander = _raw_session3(tls_server, certs, "dev-a", "thing-a")
    try:
        assert not _closed_within(victim, 0.5), "closed before any change"
        if change == "deactivate":
            iot.update_certificate(certificateId=r["certificateId"], newStatus="INACTIVE")
        elif change == "revoke":
            iot.update_certificate(certificateId=r["certificateId"], newStatus="REVOKED")
        else:
            iot.detach_thing_principal(thingName=thing, principal=r["certificateArn"])
        assert _closed_within(victim, 5), f"still connected after {change}"
        assert not _closed_within(bystander, 0.5), "a valid certificate's connection was cut"
        assert "certificate no longer valid" in tls_server.log()
    finally:
        victim.close()
        bystander.close()


# ---------------------------------------------------------------------------
# CreateKeysAndCertificate: keys and certificates made by the server
# ---------------------------------------------------------------------------


def _der(pem: str) -> bytes:
    body = "".join(l for l in pem.strip().splitlines() if not l.startswith("-----"))
    return base64.b64decode(body)


def _openssl_out(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(["openssl", *args], input=stdin, check=True, capture_output=True,
                          text=True, timeout=30).stdout


def _save(certs: Path, name: str, created: dict) -> None:
    """The created certificate and key as `<name>.pem` / `<name>.key`, as a device keeps them."""
    (certs / f"{name}.pem").write_text(created["certificatePem"])
    (certs / f"{name}.key").write_text(created["keyPair"]["PrivateKey"])


def test_create_keys_and_certificate_registers_what_it_returns(tls_server, certs, iot):
    r = iot.create_keys_and_certificate(setAsActive=True)
    cid = r["certificateId"]
    assert cid == hashlib.sha256(_der(r["certificatePem"])).hexdigest()
    assert r["certificateArn"] == f"arn:aws:iot:us-east-1:000000000000:cert/{cid}"
    keys = r["keyPair"]
    assert keys["PrivateKey"].startswith("-----BEGIN PRIVATE KEY-----\n")
    assert keys["PublicKey"].startswith("-----BEGIN PUBLIC KEY-----\n")

    d = iot.describe_certificate(certificateId=cid)["certificateDescription"]
    assert (d["status"], d["certificatePem"], d["certificateArn"]) == (
        "ACTIVE", r["certificatePem"], r["certificateArn"])
    assert d["customerVersion"] == 1
    # valid until the client CA expires (2 days), sooner than AWS's 2049-12-31
    v = d["validity"]
    assert 2 * 86400 <= (v["notAfter"] - v["notBefore"]).total_seconds() <= 2 * 86400 + 600

    # signed by the client CA, for client authentication; the key pair is the certificate's
    crt = certs / "created-check.pem"
    crt.write_text(r["certificatePem"])
    assert "OK" in _openssl_out("verify", "-CAfile", str(certs / "device-ca.pem"),
                                "-purpose", "sslclient", str(crt))
    text = _openssl_out("x509", "-in", str(crt), "-noout", "-text")
    assert "Issuer: CN = device-ca" in text and "Subject: CN = iotjobs device certificate" in text
    assert "NIST CURVE: P-256" in text
    cert_pub = _openssl_out("x509", "-in", str(crt), "-noout", "-pubkey")
    key_pub = _openssl_out("pkey", "-pubout", stdin=keys["PrivateKey"])
    assert cert_pub == key_pub == keys["PublicKey"]

    # not active unless asked; every call is a new key and certificate
    for kwargs in ({}, {"setAsActive": False}):
        other = iot.create_keys_and_certificate(**kwargs)
        assert other["certificateId"] != cid
        assert other["keyPair"]["PrivateKey"] != keys["PrivateKey"]
        assert iot.describe_certificate(certificateId=other["certificateId"])[
            "certificateDescription"]["status"] == "INACTIVE"
    listed = {c["certificateId"] for c in iot.list_certificates()["certificates"]}
    assert cid in listed


def test_created_certificate_connects_and_runs_jobs(tls_server, certs, iot):
    iot.create_thing(thingName="thing-k")
    created = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_thing_principal(thingName="thing-k", principal=created["certificateArn"])
    _save(certs, "created-k", created)
    make_job(iot, "keys-job-1", ["thing-k"], create_things=False)

    client = _connect5(tls_server, certs, "created-k", "thing-k")
    try:
        jobs = _jobs(client)  # kept: the request-response client stops when collected
        pending = jobs.get_pending_job_executions(
            iotjobs.GetPendingJobExecutionsRequest(thing_name="thing-k")).result(TIMEOUT_S)
        assert [e.job_id for e in pending.queued_jobs] == ["keys-job-1"]
    finally:
        client.stop()
    conn = _connect3(tls_server, certs, "created-k", "thing-k")
    try:
        jobs = _jobs(conn)
        pending = jobs.get_pending_job_executions(
            iotjobs.GetPendingJobExecutionsRequest(thing_name="thing-k")).result(TIMEOUT_S)
        assert [e.job_id for e in pending.queued_jobs] == ["keys-job-1"]
    finally:
        conn.disconnect().result(TIMEOUT_S)

    # the registry decides as for any certificate: created INACTIVE, it is refused
    iot.create_thing(thingName="thing-i")
    inactive = iot.create_keys_and_certificate()
    iot.attach_thing_principal(thingName="thing-i", principal=inactive["certificateArn"])
    _save(certs, "created-i", inactive)
    with pytest.raises(ConnectFailed) as e:
        _connect5(tls_server, certs, "created-i", "thing-i")
    assert e.value.connack.reason_code == mqtt5.ConnectReasonCode.NOT_AUTHORIZED
    iot.update_certificate(certificateId=inactive["certificateId"], newStatus="ACTIVE")
    _connect5(tls_server, certs, "created-i", "thing-i").stop()


def test_private_key_is_returned_once_and_never_stored(tls_server, iot):
    created = iot.create_keys_and_certificate(setAsActive=True)
    key_lines = [l for l in created["keyPair"]["PrivateKey"].splitlines() if not l.startswith("-----")]
    cert_lines = [l for l in created["certificatePem"].splitlines() if not l.startswith("-----")]
    # the database (and its WAL) and the server's log
    files = sorted(p for p in tls_server.db_dir.iterdir() if p.is_file())
    assert any(p.name.endswith(".sqlite") for p in files), files
    stored = b"".join(p.read_bytes() for p in files)
    # the certificate is there (so the search looks in the right place) ...
    assert all(l.encode() in stored for l in cert_lines)
    # ... its private key is not, neither as PEM nor as DER, nor in the log
    key_der = _der(created["keyPair"]["PrivateKey"])
    assert not [l for l in key_lines if l.encode() in stored]
    assert key_der not in stored
    log = tls_server.log()
    assert not [l for l in key_lines if l in log]
    # and DescribeCertificate answers no key
    d = iot.describe_certificate(certificateId=created["certificateId"])["certificateDescription"]
    assert not [l for l in key_lines if l in json.dumps(d, default=str)]


def test_aws_cli_and_iotjobs_cli_create_keys_and_certificate(tls_server, iot, aws_for, iotjobs_bin,
                                                             tmp_path):
    aws = aws_for(tls_server, tmp_path)

    def iotjobs_cli(*args):
        p = subprocess.run([str(iotjobs_bin), *args, "--endpoint-url", tls_server.endpoint],
                           env=_clean_env(tmp_path), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
        return p.returncode, p.stdout, p.stderr

    for run in (aws, iotjobs_cli):
        for flag, status in (("--set-as-active", "ACTIVE"), ("--no-set-as-active", "INACTIVE"),
                             (None, "INACTIVE")):
            rc, out, err = run("iot", "create-keys-and-certificate", *([flag] if flag else []))
            assert rc == 0, err
            r = json.loads(out)
            assert sorted(r) == ["certificateArn", "certificateId", "certificatePem", "keyPair"]
            assert sorted(r["keyPair"]) == ["PrivateKey", "PublicKey"]
            assert r["certificateId"] == hashlib.sha256(_der(r["certificatePem"])).hexdigest()
            d = iot.describe_certificate(certificateId=r["certificateId"])["certificateDescription"]
            assert (d["status"], d["certificatePem"]) == (status, r["certificatePem"]), (run, flag)
        # --query, as scripts take the pieces apart
        rc, out, err = run("iot", "create-keys-and-certificate", "--query", "keyPair.PrivateKey",
                           "--output", "text")
        assert rc == 0, err
        assert out.startswith("-----BEGIN PRIVATE KEY-----")


def test_start_up_refuses_a_key_of_another_ca(iotjobs_bin, certs, tmp_path):
    common = [str(iotjobs_bin), "serve", "--listen", "127.0.0.1:0",
              "--database", f"sqlite://{tmp_path}/db.sqlite", "--mqtt-listen", "127.0.0.1:0",
              "--mqtt-tls-cert", str(certs / "server.pem"), "--mqtt-tls-key", str(certs / "server.key")]
    env = _clean_env(tmp_path)
    p = subprocess.run([*common, "--mqtt-client-ca", str(certs / "device-ca.pem"),
                        "--mqtt-client-ca-key", str(certs / "other-ca.key")],
                       env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=30, cwd=tmp_path)
    assert p.returncode != 0
    assert "--mqtt-client-ca-key" in p.stderr and "none of the 1 certificate" in p.stderr, p.stderr
    assert "listening on" not in p.stdout
    # the key alone, without the CA it belongs to: a usage error
    p = subprocess.run([str(iotjobs_bin), "serve", "--mqtt-client-ca-key", str(certs / "device-ca.key")],
                       env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=30, cwd=tmp_path)
    assert p.returncode == 2 and "--mqtt-client-ca" in p.stderr, p.stderr
