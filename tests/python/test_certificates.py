"""The certificate registry on the control plane: RegisterCertificateWithoutCA,
DescribeCertificate, UpdateCertificate, DeleteCertificate, ListCertificates and thing
principals (AttachThingPrincipal's `x-amzn-principal` header), with boto3, the AWS CLI v1
and the iotjobs CLI. Certificates are made here with openssl. CreateKeysAndCertificate
needs a server with a CA key: here only its refusal without one; the rest is in
test_mqtt_tls.py, where the created certificates also connect."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess

import pytest

from conftest import _clean_env, cli_runner
from iotjobs_helpers import raises_aws

ACCOUNT_ARN = "arn:aws:iot:us-east-1:000000000000"


def make_cert(tmp_path, cn: str) -> str:
    key, crt = tmp_path / f"{cn}.key", tmp_path / f"{cn}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-subj", f"/CN={cn}", "-days", "30", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True, timeout=30)
    return crt.read_text()


def cert_id(pem: str) -> str:
    body = "".join(l for l in pem.strip().splitlines() if not l.startswith("-----"))
    return hashlib.sha256(base64.b64decode(body)).hexdigest()


@pytest.fixture
def pems(tmp_path):
    return [make_cert(tmp_path, f"dev{i}") for i in range(3)]


def test_register_describe_update_delete(iot, pems):
    pem = pems[0]
    r = iot.register_certificate_without_ca(certificatePem=pem)
    cid = cert_id(pem)
    assert (r["certificateId"], r["certificateArn"]) == (cid, f"{ACCOUNT_ARN}:cert/{cid}")

    d = iot.describe_certificate(certificateId=cid)["certificateDescription"]
    assert d["certificateId"] == cid and d["certificateArn"] == r["certificateArn"]
    assert (d["status"], d["certificatePem"], d["ownedBy"]) == ("ACTIVE", pem, "000000000000")
    assert (d["customerVersion"], d["certificateMode"]) == (1, "DEFAULT")
    assert d["generationId"]
    v = d["validity"]
    assert 29 * 86400 <= (v["notAfter"] - v["notBefore"]).total_seconds() <= 31 * 86400

    # the same certificate again: 409 with the resource
    with raises_aws("ResourceAlreadyExistsException", 409) as e:
        iot.register_certificate_without_ca(certificatePem=pem, status="INACTIVE")
    assert e.response["resourceId"] == cid
    assert e.response["resourceArn"] == r["certificateArn"]

    # ACTIVE cannot be deleted
    with raises_aws("CertificateStateException", 406):
        iot.delete_certificate(certificateId=cid)
    iot.update_certificate(certificateId=cid, newStatus="INACTIVE")
    d2 = iot.describe_certificate(certificateId=cid)["certificateDescription"]
    assert (d2["status"], d2["customerVersion"]) == ("INACTIVE", 2)
    assert d2["lastModifiedDate"] >= d["lastModifiedDate"]
    assert d2["generationId"] != d["generationId"]
    # idempotent
    iot.update_certificate(certificateId=cid, newStatus="INACTIVE")
    assert iot.describe_certificate(certificateId=cid)["certificateDescription"]["customerVersion"] == 2
    # REVOKED is final; internal statuses are refused
    iot.update_certificate(certificateId=cid, newStatus="REVOKED")
    with raises_aws("CertificateStateException", 406):
        iot.update_certificate(certificateId=cid, newStatus="ACTIVE")
    for status in ("PENDING_TRANSFER", "PENDING_ACTIVATION", "REGISTER_INACTIVE"):
        with raises_aws("InvalidRequestException", 400):
            iot.update_certificate(certificateId=cid, newStatus=status)
    iot.delete_certificate(certificateId=cid, forceDelete=True)
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_certificate(certificateId=cid)
    with raises_aws("ResourceNotFoundException", 404):
        iot.update_certificate(certificateId=cid, newStatus="ACTIVE")


def test_register_errors(iot, iot_unchecked, pems):
    for bad in ("hello", "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
                pems[0] + pems[1]):
        with raises_aws("CertificateValidationException", 400):
            iot.register_certificate_without_ca(certificatePem=bad)
    with raises_aws("InvalidRequestException", 400):
        iot.register_certificate_without_ca(certificatePem=pems[0], status="REVOKED")
    with raises_aws("InvalidRequestException", 400):
        iot_unchecked.register_certificate_without_ca(certificatePem=pems[0], status="NOPE")
    r = iot.register_certificate_without_ca(certificatePem=pems[0], status="INACTIVE")
    d = iot.describe_certificate(certificateId=r["certificateId"])["certificateDescription"]
    assert d["status"] == "INACTIVE"
    with raises_aws("InvalidRequestException", 400):
        iot_unchecked.describe_certificate(certificateId="ab" * 31)  # 62 characters: model min 64


def test_list_certificates_pages_with_markers(iot, pems):
    ids = [iot.register_certificate_without_ca(certificatePem=p)["certificateId"] for p in pems]
    seen, kwargs = [], {}
    while True:
        page = iot.list_certificates(pageSize=2, ascendingOrder=True, **kwargs)
        assert len(page["certificates"]) <= 2
        seen += [c["certificateId"] for c in page["certificates"]]
        if "nextMarker" not in page:
            break
        kwargs = {"marker": page["nextMarker"]}
    assert seen == ids
    c = page["certificates"][-1]
    assert (c["status"], c["certificateMode"], c["certificateArn"]) == (
        "ACTIVE", "DEFAULT", f"{ACCOUNT_ARN}:cert/{ids[-1]}")
    newest_first = [c["certificateId"] for c in iot.list_certificates()["certificates"]]
    assert newest_first == ids[::-1]
    # botocore's paginator follows nextMarker
    paged = iot.get_paginator("list_certificates").paginate(
        ascendingOrder=True, PaginationConfig={"PageSize": 1})
    assert [c["certificateId"] for p in paged for c in p["certificates"]] == ids
    with raises_aws("InvalidRequestException", 400):
        iot.list_certificates(marker="AAAA")


def test_thing_principals(iot, pems):
    iot.create_thing(thingName="dev1")
    iot.create_thing(thingName="dev2")
    arns = [iot.register_certificate_without_ca(certificatePem=p)["certificateArn"] for p in pems]
    a0, a1, a2 = arns
    iot.attach_thing_principal(thingName="dev1", principal=a0)  # boto3 sends x-amzn-principal
    iot.attach_thing_principal(thingName="dev1", principal=a0)  # idempotent
    iot.attach_thing_principal(thingName="dev1", principal=a1)
    assert sorted(iot.list_thing_principals(thingName="dev1")["principals"]) == sorted([a0, a1])
    page = iot.list_thing_principals(thingName="dev1", maxResults=1)
    rest = iot.list_thing_principals(thingName="dev1", nextToken=page["nextToken"])
    assert sorted(page["principals"] + rest["principals"]) == sorted([a0, a1])
    paged = iot.get_paginator("list_thing_principals").paginate(
        thingName="dev1", PaginationConfig={"PageSize": 1})
    assert sorted(p for pg in paged for p in pg["principals"]) == sorted([a0, a1])

    with raises_aws("ResourceNotFoundException", 404):
        iot.attach_thing_principal(thingName="ghost", principal=a0)
    with raises_aws("ResourceNotFoundException", 404):
        iot.attach_thing_principal(thingName="dev1", principal=f"{ACCOUNT_ARN}:cert/{'0' * 64}")
    for bad in (f"{ACCOUNT_ARN}:thing/dev1", "us-east-1:0000-1111", a0.replace("000000000000", "111111111111")):
        with raises_aws("InvalidRequestException", 400):
            iot.attach_thing_principal(thingName="dev1", principal=bad)
    with raises_aws("ResourceNotFoundException", 404):
        iot.list_thing_principals(thingName="ghost")

    # exclusive attachments
    iot.attach_thing_principal(thingName="dev2", principal=a2, thingPrincipalType="EXCLUSIVE_THING")
    with raises_aws("InvalidRequestException", 400):
        iot.attach_thing_principal(thingName="dev1", principal=a2)

    # AWS refuses to delete a thing with principals, and a certificate attached to a thing
    with raises_aws("InvalidRequestException", 400) as e:
        iot.delete_thing(thingName="dev1")
    assert e.response["Error"]["Message"] == (
        "Cannot delete. Thing dev1 is still attached to one or more principals")
    cid0 = a0.rsplit("/", 1)[1]
    iot.update_certificate(certificateId=cid0, newStatus="INACTIVE")
    with raises_aws("DeleteConflictException", 409) as e:
        iot.delete_certificate(certificateId=cid0)
    assert a0 in e.response["Error"]["Message"]

    for a in (a0, a1, a1):
        iot.detach_thing_principal(thingName="dev1", principal=a)
    assert iot.list_thing_principals(thingName="dev1")["principals"] == []
    iot.delete_certificate(certificateId=cid0)
    iot.delete_thing(thingName="dev1")


def test_aws_cli_and_iotjobs_cli(aws_cli, iotjobs_bin, server, iot, tmp_path, pems):
    aws = cli_runner(aws_cli, server, tmp_path)
    env = _clean_env(tmp_path)

    def iotjobs(*args):
        p = subprocess.run([str(iotjobs_bin), *args, "--endpoint-url", server.endpoint], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                           cwd=tmp_path)
        return p.returncode, p.stdout, p.stderr

    (tmp_path / "c0.pem").write_text(pems[0])
    (tmp_path / "c1.pem").write_text(pems[1])
    iot.create_thing(thingName="dev1")
    for i, run in enumerate((aws, iotjobs)):
        rc, out, err = run("iot", "register-certificate-without-ca", "--certificate-pem",
                           f"file://{tmp_path}/c{i}.pem", "--status", "ACTIVE")
        assert rc == 0, err
        r = json.loads(out)
        assert r["certificateId"] == cert_id(pems[i])
        rc, out, err = run("iot", "attach-thing-principal", "--thing-name", "dev1", "--principal",
                           r["certificateArn"])
        assert (rc, out) == (0, ""), err
        rc, out, err = run("iot", "describe-certificate", "--certificate-id", r["certificateId"])
        assert rc == 0, err
        assert json.loads(out)["certificateDescription"]["status"] == "ACTIVE"
    arns = sorted(iot.list_thing_principals(thingName="dev1")["principals"])
    for run in (aws, iotjobs):
        rc, out, err = run("iot", "list-thing-principals", "--thing-name", "dev1")
        assert rc == 0, err
        assert sorted(json.loads(out)["principals"]) == arns
        # all pages without options; `--page-size` is ListCertificates' own member here, and
        # giving it turns the AWS CLI's pagination off: one page and its nextMarker
        rc, out, err = run("iot", "list-certificates")
        assert rc == 0, err
        assert len(json.loads(out)["certificates"]) == 2
    # `--page-size` shadows ListCertificates' own `pageSize` member: pagination is off and
    # both CLIs answer one page and its nextMarker, the same output.
    outs = []
    for run in (aws, iotjobs):
        rc, out, err = run("iot", "list-certificates", "--page-size", "1")
        assert rc == 0, err
        one = json.loads(out)
        assert len(one["certificates"]) == 1 and "nextMarker" in one, out
        outs.append(one)
    assert outs[0] == outs[1]
    rc, out, err = iotjobs("iot", "detach-thing-principal", "--thing-name", "dev1", "--principal", arns[0])
    assert (rc, out) == (0, ""), err
    rc, out, err = aws("iot", "detach-thing-principal", "--thing-name", "dev1", "--principal", arns[1])
    assert (rc, out) == (0, ""), err
    assert iot.list_thing_principals(thingName="dev1")["principals"] == []
    rc, out, err = iotjobs("iot", "update-certificate", "--certificate-id", cert_id(pems[0]),
                           "--new-status", "REVOKED")
    assert (rc, out) == (0, ""), err
    rc, out, err = iotjobs("iot", "update-certificate", "--certificate-id", cert_id(pems[0]),
                           "--new-status", "ACTIVE")
    assert rc == 255
    assert "An error occurred (CertificateStateException) when calling the UpdateCertificate operation" in err


def test_create_keys_and_certificate_needs_a_ca_key(iot, aws):
    # a server without --mqtt-client-ca-key has no CA to sign with: AWS's
    # InvalidRequestException (400, not retried by the SDKs), saying what to start it with
    with raises_aws("InvalidRequestException", 400) as e:
        iot.create_keys_and_certificate(setAsActive=True)
    assert "--mqtt-client-ca-key" in e.response["Error"]["Message"]
    rc, out, err = aws("iot", "create-keys-and-certificate", "--set-as-active")
    assert (rc, out) == (255, "")
    assert ("An error occurred (InvalidRequestException) when calling the "
            "CreateKeysAndCertificate operation") in err
    assert "--mqtt-client-ca-key" in err
    assert iot.list_certificates()["certificates"] == []
