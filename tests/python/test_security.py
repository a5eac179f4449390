"""Security (issue "Security"): SigV4 verification of every request, access keys from a
`--credentials` file with roles and accounts, `--auth none`, and HTTPS.

- real clients: boto3 (both planes) and the AWS CLI v1 sign requests that are accepted;
- tampering: a request signed with botocore's SigV4 code and then changed in exactly one
  part (method, path, query, body, a signed header, X-Amz-Date, the signature) is
  403 InvalidSignatureException, while the untouched request is accepted;
- rejected credentials: no signature (MissingAuthenticationTokenException), a malformed
  Authorization header (IncompleteSignatureException), an unknown key or a missing/wrong
  session token (UnrecognizedClientException), a wrong secret, region or service, an
  unsigned `host`, a date 20 minutes off, an expired presigned URL
  (InvalidSignatureException); presigned URLs that are valid are accepted;
- keys: a `--credentials` file replaces test/test, an invalid file stops the server at
  start, IOTJOBS_ACCESS_KEY_ID/IOTJOBS_SECRET_ACCESS_KEY give an admin key in --account-id;
- roles and accounts from `--credentials`: admin (both planes, reset), operator (control
  plane only), device (data plane, own thing only), per-account isolation and ARNs;
- `--auth none` accepts unsigned and wrongly signed requests (plane from the scope, else
  from Host);
- `--tls-cert/--tls-key`: HTTPS with the test CA of tests/data/tls (AWS CLI and boto3).

Errors are checked as status + x-amzn-ErrorType (raw HTTP) or with `raises_aws` (boto3).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
import pytest

from conftest import _clean_env

from iotjobs_helpers import ACCESS_KEY, ACCOUNT, DOC, REGION, SECRET_KEY, make_job, raises_aws, thing_arn

TLS_DIR = Path(__file__).resolve().parents[1] / "data" / "tls"
CA_PEM = TLS_DIR / "ca.pem"
TLS_ARGS = ("--tls-cert", str(TLS_DIR / "server.pem"), "--tls-key", str(TLS_DIR / "server.key"))

DATA_HOST = "data.jobs.iot.us-east-1.amazonaws.com"
RESET = "/moto-api/reset"


# ---------------------------------------------------------------------------
# Access keys for `--credentials`
# ---------------------------------------------------------------------------

ACCT1 = "111111111111"
ACCT2 = "222222222222"


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret_access_key: str
    account_id: str
    role: str
    thing_name: str | None = None
    session_token: str | None = None


ADMIN1 = Key("AKADMIN1", "secret-admin1", ACCT1, "admin")
OP1 = Key("AKOP1", "secret-op1", ACCT1, "operator")
DEV_A = Key("AKDEVA", "secret-dev-a", ACCT1, "device", thing_name="thing-a")
OP2 = Key("AKOP2", "secret-op2", ACCT2, "operator")
DEV2_A = Key("AKDEV2A", "secret-dev2-a", ACCT2, "device", thing_name="thing-a")
TOKEN = Key("AKTOKEN", "secret-token", ACCT1, "admin", session_token="tok-123")
KEYS = (ADMIN1, OP1, DEV_A, OP2, DEV2_A, TOKEN)


def credentials_toml(keys) -> str:
    out = []
    for k in keys:
        out.append("[[keys]]")
        for name in ("access_key_id", "secret_access_key", "account_id", "role", "thing_name",
                     "session_token"):
            value = getattr(k, name)
            if value is not None:
                out.append(f"{name} = {json.dumps(value)}")
        out.append("")
    return "\n".join(out)


@pytest.fixture
def keyed_server(server_factory, tmp_path):
    """start(*extra_args) -> a server with KEYS in a --credentials file (and no test/test)."""

    def start(*extra_args: str):
        path = tmp_path / "credentials.toml"
        path.write_text(credentials_toml(KEYS))
        return server_factory("--credentials", str(path), *extra_args)

    return start


def arn(account: str, kind: str, name: str) -> str:
    return f"arn:aws:iot:{REGION}:{account}:{kind}/{name}"


# ---------------------------------------------------------------------------
# boto3 clients with chosen credentials
# ---------------------------------------------------------------------------

def client(server, service: str, key: str = ACCESS_KEY, secret: str = SECRET_KEY, **kwargs):
    """A one-attempt boto3 client for `service` on the server's endpoint (conftest's,
    with these credentials; kwargs: token, region, verify)."""
    return server.client(service, key=key, secret=secret, **kwargs)


def client_as(server, service: str, k: Key, **kwargs):
    kwargs.setdefault("token", k.session_token)
    return client(server, service, k.access_key_id, k.secret_access_key, **kwargs)


# ---------------------------------------------------------------------------
# Raw signed requests
# ---------------------------------------------------------------------------

SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"


class Signer(botocore.auth.SigV4Auth):
    """botocore's SigV4, with a chosen signing time (`when`, aware or naive UTC) and
    optionally without `host` among the SignedHeaders (the signature stays correct for
    what is signed)."""

    def __init__(self, credentials, service, region, when: dt.datetime | None = None,
                 sign_host: bool = True):
        super().__init__(credentials, service, region)
        self._when = when
        self._sign_host = sign_host

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        if not self._sign_host:
            del headers["host"]
        return headers

    def add_auth(self, request):
        when = self._when or dt.datetime.now(dt.timezone.utc)
        request.context["timestamp"] = when.strftime(SIGV4_TIMESTAMP)
        # the rest of SigV4Auth.add_auth, which takes the current time itself
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))


@dataclass(frozen=True)
class Req:
    """What goes on the wire (Host and Content-Length are added by http.client)."""

    method: str
    path: str  # path and query
    headers: dict
    body: bytes = b""

    def with_header(self, name: str, value: str | None) -> "Req":
        headers = {k: v for k, v in self.headers.items() if k.lower() != name.lower()}
        if value is not None:
            headers[name] = value
        return replace(self, headers=headers)

    def header(self, name: str) -> str:
        return next(v for k, v in self.headers.items() if k.lower() == name.lower())


@dataclass(frozen=True)
class Resp:
    status: int
    headers: dict  # lower-cased names
    body: bytes

    def json(self):
        return json.loads(self.body)


def sign(server, method: str, path: str, *, service: str = "iot", body=None, key: str = ACCESS_KEY,
         secret: str = SECRET_KEY, token: str | None = None, region: str = REGION,
         when: dt.datetime | None = None, sign_host: bool = True, headers=None) -> Req:
    data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    hdrs = dict(headers or {})
    if body is not None:
        hdrs.setdefault("Content-Type", "application/json")
    req = botocore.awsrequest.AWSRequest(method=method, url=server.endpoint + path, data=data,
                                         headers=hdrs)
    Signer(botocore.credentials.Credentials(key, secret, token), service, region, when,
           sign_host).add_auth(req)
    prepared = req.prepare()
    out = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
    body_bytes = prepared.body or b""
    if isinstance(body_bytes, str):
        body_bytes = body_bytes.encode()
    return Req(method, path, out, body_bytes)


def send(server, req: Req, *, host: str | None = None) -> Resp:
    """Sends exactly `req` (plus Host, Content-Length) with http.client."""
    u = urllib.parse.urlsplit(server.endpoint)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=str(CA_PEM))
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=15, context=ctx)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=15)
    try:
        headers = dict(req.headers)
        if host is not None:
            headers["Host"] = host
        body = req.body if req.body or req.method in ("POST", "PUT", "PATCH") else None
        conn.request(req.method, req.path, body=body, headers=headers)
        resp = conn.getresponse()
        return Resp(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def unsigned(server, method: str, path: str, body=None, host: str | None = None) -> Resp:
    data = b"" if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    return send(server, Req(method, path, headers, data), host=host)


def url_get(url: str) -> Resp:
    """A plain urllib GET (what a presigned URL is for)."""
    try:
        with urllib.request.urlopen(url, timeout=15) as r:
            return Resp(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def assert_ok(resp: Resp, status: int = 200):
    assert resp.status == status, f"{resp.status} {resp.headers.get('x-amzn-errortype')}: {resp.body[:300]!r}"


def assert_error(resp: Resp, code: str, status: int = 403, message_prefix: str | None = None):
    etype = resp.headers.get("x-amzn-errortype", "")
    got = (resp.status, etype.split(":", 1)[0])
    assert got == (status, code), f"expected {status} {code}, got {got}: {resp.body[:300]!r}"
    assert resp.headers.get("x-amzn-requestid"), "error without x-amzn-RequestId"
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    err = resp.json()
    message = err.get("message", err.get("Message"))
    assert isinstance(message, str) and message, err
    if message_prefix is not None:
        assert message.startswith(message_prefix), message


def create_job_body(thing: str, description: str) -> dict:
    return {"targets": [thing_arn(thing)], "document": json.dumps(DOC), "description": description}


# ---------------------------------------------------------------------------
# The AWS CLI v1 with chosen credentials and options
# ---------------------------------------------------------------------------


def run_aws(aws_cli: Path, server, workdir: Path, *args: str, key: str = ACCESS_KEY,
            secret: str = SECRET_KEY, token: str | None = None):
    """(exit code, stdout, stderr) of `aws ARGS --endpoint-url URL` in a clean environment
    (as conftest's `aws`, with these credentials; one attempt)."""
    env = _clean_env(workdir)
    env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_MAX_ATTEMPTS="1")
    if token is not None:
        env["AWS_SESSION_TOKEN"] = token
    p = subprocess.run(
        [str(aws_cli), *args, "--endpoint-url", server.endpoint],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        cwd=workdir,
    )
    return p.returncode, p.stdout, p.stderr


def cli_ok(result) -> dict:
    rc, out, err = result
    assert rc == 0, f"exit {rc}\nstdout: {out}\nstderr: {err}"
    return json.loads(out) if out.strip() else {}


def cli_error(result, code: str, operation: str):
    rc, out, err = result
    assert rc == 255, f"exit {rc}\nstdout: {out}\nstderr: {err}"
    assert f"An error occurred ({code}) when calling the {operation} operation" in err, err


# ===========================================================================
# 1. Real clients sign requests that are accepted (default key test/test)
# ===========================================================================


def test_boto3_signed_requests_on_both_planes_are_accepted(server):
    iot = client(server, "iot")
    data = client(server, "iot-jobs-data")
    created = make_job(iot, "j1", ["t1"])
    assert created["jobArn"] == f"arn:aws:iot:{REGION}:{ACCOUNT}:job/j1"
    assert [j["jobId"] for j in iot.list_jobs()["jobs"]] == ["j1"]
    assert [j["jobId"] for j in data.get_pending_job_executions(thingName="t1")["queuedJobs"]] == ["j1"]
    ex = data.start_next_pending_job_execution(thingName="t1")["execution"]
    assert (ex["jobId"], ex["status"]) == ("j1", "IN_PROGRESS")
    data.update_job_execution(thingName="t1", jobId="j1", status="SUCCEEDED")
    assert iot.describe_job_execution(jobId="j1", thingName="t1")["execution"]["status"] == "SUCCEEDED"


def test_aws_cli_signed_requests_on_both_planes_are_accepted(server, aws):
    thing = cli_ok(aws("iot", "create-thing", "--thing-name", "t1"))
    assert thing["thingArn"] == thing_arn("t1")
    job = cli_ok(aws("iot", "create-job", "--job-id", "j1", "--targets", thing_arn("t1"),
                     "--document", json.dumps(DOC)))
    assert job["jobArn"] == f"arn:aws:iot:{REGION}:{ACCOUNT}:job/j1"
    assert [j["jobId"] for j in cli_ok(aws("iot", "list-jobs"))["jobs"]] == ["j1"]
    pending = cli_ok(aws("iot-jobs-data", "get-pending-job-executions", "--thing-name", "t1"))
    assert [j["jobId"] for j in pending["queuedJobs"]] == ["j1"]
    cli_ok(aws("iot-jobs-data", "update-job-execution", "--thing-name", "t1", "--job-id", "j1",
               "--status", "IN_PROGRESS"))
    assert client(server, "iot").describe_job_execution(jobId="j1", thingName="t1")[
        "execution"]["status"] == "IN_PROGRESS"


def test_aws_cli_with_wrong_credentials_is_rejected(server, aws_cli, tmp_path):
    cli_error(run_aws(aws_cli, server, tmp_path, "iot", "list-jobs", key="AKNOBODY"),
              "UnrecognizedClientException", "ListJobs")
    cli_error(run_aws(aws_cli, server, tmp_path, "iot-jobs-data", "get-pending-job-executions",
                      "--thing-name", "t1", secret="not-the-secret"),
              "InvalidSignatureException", "GetPendingJobExecutions")


# ===========================================================================
# 2. Tampering after signing
# ===========================================================================


@pytest.fixture
def two_jobs(server):
    iot = client(server, "iot")
    make_job(iot, "j1", ["t1"])
    make_job(iot, "j2", ["t1"], create_things=False)
    return iot


# name -> (method, path, service, body) of the request that is signed
SIGNED = {
    "describe-job": ("GET", "/jobs/j1", "iot", None),
    "list-jobs-query": ("GET", "/jobs?maxResults=1", "iot", None),
    "create-job-body": ("PUT", "/jobs/j3", "iot", create_job_body("t1", "signed")),
    "update-execution-body": ("POST", "/things/t1/jobs/j1", "iot-jobs-data",
                              {"status": "IN_PROGRESS"}),
}


def _shift_date(req: Req, seconds: int) -> Req:
    t = dt.datetime.strptime(req.header("X-Amz-Date"), SIGV4_TIMESTAMP) + dt.timedelta(seconds=seconds)
    return req.with_header("X-Amz-Date", t.strftime(SIGV4_TIMESTAMP))


def _flip_signature(req: Req) -> Req:
    auth = req.header("Authorization")
    last = auth[-1]
    return req.with_header("Authorization", auth[:-1] + ("0" if last != "0" else "1"))


# name -> (signed request, tampering); each change alone would be a valid, different request
TAMPERS = {
    "method": ("describe-job", lambda r: replace(r, method="DELETE")),
    "path": ("describe-job", lambda r: replace(r, path="/jobs/j2")),
    "query": ("list-jobs-query", lambda r: replace(r, path="/jobs?maxResults=2")),
    "query-added": ("describe-job", lambda r: replace(r, path="/jobs/j1?maxResults=1")),
    "body": ("create-job-body",
             lambda r: replace(r, body=r.body.replace(b'"signed"', b'"tampered"'))),
    "data-plane-body": ("update-execution-body",
                        lambda r: replace(r, body=r.body.replace(b"IN_PROGRESS", b"REJECTED"))),
    "signed-header-content-type": (
        "create-job-body", lambda r: r.with_header("Content-Type", "application/json; charset=utf-8")),
    "x-amz-date": ("create-job-body", lambda r: _shift_date(r, 1)),
    "signature": ("describe-job", _flip_signature),
}


@pytest.mark.parametrize("name", list(SIGNED))
def test_untampered_signed_request_is_accepted(server, two_jobs, name):
    method, path, service, body = SIGNED[name]
    resp = send(server, sign(server, method, path, service=service, body=body))
    assert_ok(resp)
    if name == "describe-job":
        assert resp.json()["job"]["jobId"] == "j1"
    elif name == "list-jobs-query":
        assert len(resp.json()["jobs"]) == 1
    elif name == "create-job-body":
        assert two_jobs.describe_job(jobId="j3")["job"]["description"] == "signed"
    else:
        assert two_jobs.describe_job_execution(jobId="j1", thingName="t1")["execution"][
            "status"] == "IN_PROGRESS"


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tampered_signed_request_is_rejected(server, two_jobs, tamper):
    base, change = TAMPERS[tamper]
    method, path, service, body = SIGNED[base]
    req = sign(server, method, path, service=service, body=body)
    tampered = change(req)
    assert tampered != req
    assert_error(send(server, tampered), "InvalidSignatureException")
    # nothing happened
    iot = two_jobs
    assert sorted(j["jobId"] for j in iot.list_jobs()["jobs"]) == ["j1", "j2"]
    assert iot.describe_job(jobId="j1")["job"]["status"] == "IN_PROGRESS"
    assert iot.describe_job_execution(jobId="j1", thingName="t1")["execution"]["status"] == "QUEUED"


# ===========================================================================
# 3. Rejected credentials, scopes and dates; presigned URLs
# ===========================================================================


def test_missing_authentication(server):
    client(server, "iot").create_thing(thingName="t1")
    for resp in (
        unsigned(server, "GET", "/jobs"),
        unsigned(server, "GET", "/things/t1/jobs"),
        unsigned(server, "GET", "/things/t1/jobs", host=DATA_HOST),
        unsigned(server, "PUT", "/jobs/j1", body=create_job_body("t1", "unsigned")),
        url_get(server.endpoint + "/jobs/j1"),
    ):
        assert_error(resp, "MissingAuthenticationTokenException")
    assert client(server, "iot").list_jobs()["jobs"] == []


def _drop_part(auth: str, prefix: str) -> str:
    algo, rest = auth.split(" ", 1)
    parts = [p.strip() for p in rest.split(",") if not p.strip().startswith(prefix)]
    return f"{algo} {', '.join(parts)}"


MALFORMED = {
    "no-signature": lambda a: _drop_part(a, "Signature="),
    "no-credential": lambda a: _drop_part(a, "Credential="),
    "no-signed-headers": lambda a: _drop_part(a, "SignedHeaders="),
    "short-scope": lambda a: a.replace("/aws4_request", ""),
    "algorithm-only": lambda a: "AWS4-HMAC-SHA256",
}


@pytest.mark.parametrize("variant", list(MALFORMED))
def test_malformed_authorization_header_is_incomplete_signature(server, variant):
    req = sign(server, "GET", "/jobs")
    bad = req.with_header("Authorization", MALFORMED[variant](req.header("Authorization")))
    assert_error(send(server, bad), "IncompleteSignatureException")


def test_unknown_access_key_is_unrecognized_client(server):
    for service, call in (("iot", lambda c: c.list_jobs()),
                          ("iot-jobs-data", lambda c: c.get_pending_job_executions(thingName="t1"))):
        with raises_aws("UnrecognizedClientException", 403):
            call(client(server, service, "AKNOBODY", SECRET_KEY))


def test_wrong_secret_is_invalid_signature(server):
    for service, call in (("iot", lambda c: c.create_thing(thingName="t1")),
                          ("iot-jobs-data", lambda c: c.get_pending_job_executions(thingName="t1"))):
        with raises_aws("InvalidSignatureException", 403):
            call(client(server, service, ACCESS_KEY, "not-the-secret"))
    assert client(server, "iot").list_things()["things"] == []


def test_scope_with_another_region_is_invalid_signature(server):
    with raises_aws("InvalidSignatureException", 403):
        client(server, "iot", region="eu-west-1").list_jobs()
    with raises_aws("InvalidSignatureException", 403):
        client(server, "iot-jobs-data", region="eu-west-1").get_pending_job_executions(thingName="t1")


@pytest.mark.server_args("--region", "eu-west-1")
def test_server_region_is_the_accepted_scope_region(server):
    with raises_aws("InvalidSignatureException", 403):
        client(server, "iot").list_jobs()  # us-east-1
    thing = client(server, "iot", region="eu-west-1").create_thing(thingName="t1")
    assert thing["thingArn"] == f"arn:aws:iot:eu-west-1:{ACCOUNT}:thing/t1"


def test_scope_with_another_service_is_invalid_signature(server):
    assert_ok(send(server, sign(server, "GET", "/jobs", service="iot")))
    for service in ("s3", "execute-api"):
        assert_error(send(server, sign(server, "GET", "/jobs", service=service)),
                     "InvalidSignatureException")


def test_host_not_among_signed_headers_is_invalid_signature(server):
    req = sign(server, "GET", "/jobs", sign_host=False)
    assert "SignedHeaders=x-amz-date," in req.header("Authorization")
    assert_error(send(server, req), "InvalidSignatureException")
    req = sign(server, "PUT", "/jobs/j1", body=create_job_body("t1", "x"), sign_host=False)
    assert "SignedHeaders=content-type;x-amz-date," in req.header("Authorization")
    assert_error(send(server, req), "InvalidSignatureException")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def test_signing_time_within_15_minutes_is_accepted(server):
    for minutes in (-5, 5):
        req = sign(server, "GET", "/jobs", when=_now() + dt.timedelta(minutes=minutes))
        assert_ok(send(server, req))


@pytest.mark.parametrize(
    "minutes,prefix", [(-20, "Signature expired"), (20, "Signature not yet current")],
    ids=["old", "future"],
)
def test_signing_time_20_minutes_off_is_rejected(server, minutes, prefix):
    when = _now() + dt.timedelta(minutes=minutes)
    for service, path in (("iot", "/jobs"), ("iot-jobs-data", "/things/t1/jobs")):
        req = sign(server, "GET", path, service=service, when=when)
        assert_error(send(server, req), "InvalidSignatureException", message_prefix=prefix)


def test_presigned_urls_are_accepted(server):
    iot = client(server, "iot")
    make_job(iot, "j1", ["t1"])
    url = iot.generate_presigned_url("describe_job", Params={"jobId": "j1"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in url
    resp = url_get(url)
    assert_ok(resp)
    assert resp.json()["job"]["jobId"] == "j1"

    data = client(server, "iot-jobs-data")
    url = data.generate_presigned_url("get_pending_job_executions", Params={"thingName": "t1"},
                                      ExpiresIn=300)
    resp = url_get(url)
    assert_ok(resp)
    assert [j["jobId"] for j in resp.json()["queuedJobs"]] == ["j1"]


def test_presigned_url_tampered_is_rejected(server):
    iot = client(server, "iot")
    make_job(iot, "j1", ["t1"])
    make_job(iot, "j2", ["t1"], create_things=False)
    url = iot.generate_presigned_url("describe_job", Params={"jobId": "j1"}, ExpiresIn=300)
    assert "/jobs/j1?" in url
    assert_error(url_get(url.replace("/jobs/j1?", "/jobs/j2?")), "InvalidSignatureException")
    assert_error(url_get(url.replace("X-Amz-Expires=300", "X-Amz-Expires=301")),
                 "InvalidSignatureException")


def test_presigned_url_expired_is_rejected(server):
    iot = client(server, "iot")
    make_job(iot, "j1", ["t1"])
    url = iot.generate_presigned_url("describe_job", Params={"jobId": "j1"}, ExpiresIn=1)
    time.sleep(2.1)
    assert_error(url_get(url), "InvalidSignatureException")


# ===========================================================================
# 4. Session tokens (a key with session_token in --credentials)
# ===========================================================================


def test_session_token_is_required_for_a_key_that_has_one(keyed_server):
    server = keyed_server()
    ok_iot = client_as(server, "iot", TOKEN)
    ok_iot.create_thing(thingName="t1")
    assert ok_iot.list_things()["things"][0]["thingArn"] == arn(ACCT1, "thing", "t1")
    assert client_as(server, "iot-jobs-data", TOKEN).get_pending_job_executions(
        thingName="t1")["queuedJobs"] == []
    for service, call in (("iot", lambda c: c.list_things()),
                          ("iot-jobs-data", lambda c: c.get_pending_job_executions(thingName="t1"))):
        for token in (None, "tok-1234", "wrong"):
            with raises_aws("UnrecognizedClientException", 403):
                call(client_as(server, service, TOKEN, token=token))
    # the header is checked, and signed: a raw request with the token header added after
    # signing is not accepted
    req = sign(server, "GET", "/things", key=TOKEN.access_key_id, secret=TOKEN.secret_access_key)
    assert_error(send(server, req), "UnrecognizedClientException")
    req = sign(server, "GET", "/things", key=TOKEN.access_key_id, secret=TOKEN.secret_access_key,
               token="tok-123")
    assert "x-amz-security-token" in req.header("Authorization")
    assert_ok(send(server, req))
    assert_error(send(server, req.with_header("X-Amz-Security-Token", "wrong")),
                 "UnrecognizedClientException")


def test_credentials_file_replaces_the_default_key(keyed_server, aws_cli, tmp_path):
    server = keyed_server()
    with raises_aws("UnrecognizedClientException", 403):
        client(server, "iot").list_jobs()  # test/test
    with raises_aws("InvalidSignatureException", 403):
        client(server, "iot", OP1.access_key_id, "secret-admin1").list_jobs()
    assert client_as(server, "iot", OP1).list_jobs()["jobs"] == []
    # the AWS CLI with a key of the file
    assert cli_ok(run_aws(aws_cli, server, tmp_path, "iot", "list-jobs", key=OP1.access_key_id,
                          secret=OP1.secret_access_key)) == {"jobs": []}
    cli_error(run_aws(aws_cli, server, tmp_path, "iot-jobs-data", "get-pending-job-executions",
                      "--thing-name", "thing-a", key=OP1.access_key_id,
                      secret=OP1.secret_access_key),
              "AccessDeniedException", "GetPendingJobExecutions")


def test_admin_key_from_the_environment(server_factory):
    env = {"IOTJOBS_ACCESS_KEY_ID": "AKENV", "IOTJOBS_SECRET_ACCESS_KEY": "secret-env"}
    srv = server_factory("--account-id", "333333333333", env=env)
    iot = client(srv, "iot", "AKENV", "secret-env")
    assert iot.create_thing(thingName="t1")["thingArn"] == arn("333333333333", "thing", "t1")
    job = iot.create_job(jobId="j1", targets=[arn("333333333333", "thing", "t1")],
                         document=json.dumps(DOC))
    assert job["jobArn"] == arn("333333333333", "job", "j1")
    data = client(srv, "iot-jobs-data", "AKENV", "secret-env")
    assert data.start_next_pending_job_execution(thingName="t1")["execution"]["jobId"] == "j1"
    with raises_aws("InvalidSignatureException", 403):
        client(srv, "iot", "AKENV", "secret-wrong").list_jobs()


BAD_CREDENTIALS = {
    "device-without-thing": Key("AKBAD", "s", ACCT1, "device"),
    "operator-with-thing": Key("AKBAD", "s", ACCT1, "operator", thing_name="thing-a"),
    "admin-with-thing": Key("AKBAD", "s", ACCT1, "admin", thing_name="thing-a"),
    "unknown-role": Key("AKBAD", "s", ACCT1, "root"),
}


@pytest.mark.parametrize("bad", list(BAD_CREDENTIALS))
def test_invalid_credentials_file_stops_the_server_at_start(iotjobs_bin, tmp_path, bad):
    path = tmp_path / "credentials.toml"
    path.write_text(credentials_toml([ADMIN1, BAD_CREDENTIALS[bad]]))
    # A server that starts anyway never exits: the timeout fails the test.
    proc = subprocess.run(
        [str(iotjobs_bin), "serve", "--listen", "127.0.0.1:0",
         "--database", f"sqlite://{tmp_path / 'iotjobs.sqlite'}", "--credentials", str(path)],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=15,
        env=_clean_env(tmp_path), cwd=tmp_path,
    )
    assert not proc.stdout.startswith(b"listening on"), f"started with a bad file: {proc.stdout!r}"
    assert proc.returncode != 0
    assert proc.stderr.strip(), "no reason given on stderr"


# ===========================================================================
# 5. Roles and accounts
# ===========================================================================


def _setup_account1(server):
    """Admin of account 1: thing-a, thing-b and job j1 on both."""
    admin = client_as(server, "iot", ADMIN1)
    for t in ("thing-a", "thing-b"):
        assert admin.create_thing(thingName=t)["thingArn"] == arn(ACCT1, "thing", t)
    job = admin.create_job(jobId="j1", targets=[arn(ACCT1, "thing", "thing-a"),
                                                arn(ACCT1, "thing", "thing-b")],
                           document=json.dumps(DOC))
    assert job["jobArn"] == arn(ACCT1, "job", "j1")
    return admin


def test_device_may_use_the_data_plane_for_its_own_thing_only(keyed_server):
    server = keyed_server()
    admin = _setup_account1(server)
    dev = client_as(server, "iot-jobs-data", DEV_A)

    # its own thing: all four operations
    assert [j["jobId"] for j in dev.get_pending_job_executions(thingName="thing-a")["queuedJobs"]] == ["j1"]
    assert dev.describe_job_execution(jobId="j1", thingName="thing-a")["execution"]["status"] == "QUEUED"
    ex = dev.start_next_pending_job_execution(thingName="thing-a")["execution"]
    assert (ex["jobId"], ex["status"]) == ("j1", "IN_PROGRESS")
    dev.update_job_execution(jobId="j1", thingName="thing-a", status="SUCCEEDED")
    # lookups for its own thing answer as usual
    with raises_aws("ResourceNotFoundException", 404):
        dev.describe_job_execution(jobId="nope", thingName="thing-a")

    # another thing, existing or not: denied before any lookup
    for thing in ("thing-b", "no-such-thing"):
        for call in (
            lambda: dev.get_pending_job_executions(thingName=thing),
            lambda: dev.describe_job_execution(jobId="j1", thingName=thing),
            lambda: dev.start_next_pending_job_execution(thingName=thing),
            lambda: dev.update_job_execution(jobId="j1", thingName=thing, status="IN_PROGRESS"),
            lambda: dev.describe_job_execution(jobId="nope", thingName=thing),
        ):
            with raises_aws("AccessDeniedException", 403):
                call()

    # the control plane: denied
    dev_iot = client_as(server, "iot", DEV_A)
    for call in (
        lambda: dev_iot.list_jobs(),
        lambda: dev_iot.describe_job(jobId="j1"),
        lambda: dev_iot.cancel_job_execution(jobId="j1", thingName="thing-b"),
        lambda: dev_iot.cancel_job_execution(jobId="j1", thingName="thing-a", force=True),
        lambda: dev_iot.create_thing(thingName="thing-c"),
    ):
        with raises_aws("AccessDeniedException", 403):
            call()

    b = admin.describe_job_execution(jobId="j1", thingName="thing-b")["execution"]
    assert (b["status"], b["versionNumber"]) == ("QUEUED", 1)
    assert admin.describe_job_execution(jobId="j1", thingName="thing-a")["execution"]["status"] == "SUCCEEDED"
    assert [t["thingName"] for t in admin.list_things()["things"]] == ["thing-a", "thing-b"]


def test_operator_may_use_the_control_plane_only(keyed_server):
    server = keyed_server()
    op = client_as(server, "iot", OP1)
    op.create_thing(thingName="thing-a")
    job = op.create_job(jobId="j1", targets=[arn(ACCT1, "thing", "thing-a")], document=json.dumps(DOC))
    assert job["jobArn"] == arn(ACCT1, "job", "j1")
    assert [j["jobId"] for j in op.list_jobs()["jobs"]] == ["j1"]

    op_data = client_as(server, "iot-jobs-data", OP1)
    for call in (
        lambda: op_data.get_pending_job_executions(thingName="thing-a"),
        lambda: op_data.describe_job_execution(jobId="j1", thingName="thing-a"),
        lambda: op_data.start_next_pending_job_execution(thingName="thing-a"),
        lambda: op_data.update_job_execution(jobId="j1", thingName="thing-a", status="IN_PROGRESS"),
    ):
        with raises_aws("AccessDeniedException", 403):
            call()

    ex = op.describe_job_execution(jobId="j1", thingName="thing-a")["execution"]
    assert (ex["status"], ex["versionNumber"]) == ("QUEUED", 1)
    op.cancel_job_execution(jobId="j1", thingName="thing-a")
    assert op.describe_job_execution(jobId="j1", thingName="thing-a")["execution"]["status"] == "CANCELED"


def test_admin_may_use_both_planes_for_any_thing_and_reset(keyed_server):
    server = keyed_server("--enable-reset")
    admin = _setup_account1(server)
    admin_data = client_as(server, "iot-jobs-data", ADMIN1)
    for thing in ("thing-a", "thing-b"):
        ex = admin_data.start_next_pending_job_execution(thingName=thing)["execution"]
        assert (ex["jobId"], ex["status"]) == ("j1", "IN_PROGRESS")

    # reset: not for a device, yes for an admin
    assert_error(send(server, sign(server, "POST", RESET, key=DEV_A.access_key_id,
                                   secret=DEV_A.secret_access_key)),
                 "AccessDeniedException")
    assert [j["jobId"] for j in admin.list_jobs()["jobs"]] == ["j1"]
    resp = send(server, sign(server, "POST", RESET, key=ADMIN1.access_key_id,
                             secret=ADMIN1.secret_access_key))
    assert_ok(resp)
    assert resp.json() == {}
    assert admin.list_jobs()["jobs"] == []
    assert admin.list_things()["things"] == []


def test_accounts_are_isolated(keyed_server):
    server = keyed_server()
    op1 = client_as(server, "iot", OP1)
    op2 = client_as(server, "iot", OP2)
    dev2 = client_as(server, "iot-jobs-data", DEV2_A)

    assert op1.create_thing(thingName="thing-a")["thingArn"] == arn(ACCT1, "thing", "thing-a")
    j1 = op1.create_job(jobId="j1", targets=[arn(ACCT1, "thing", "thing-a")], document=json.dumps(DOC))
    assert j1["jobArn"] == arn(ACCT1, "job", "j1")

    # account 2 sees nothing of account 1
    assert op2.list_jobs()["jobs"] == []
    assert op2.list_things()["things"] == []
    with raises_aws("ResourceNotFoundException", 404):
        op2.describe_job(jobId="j1")
    with raises_aws("ResourceNotFoundException", 404):
        op2.describe_thing(thingName="thing-a")
    with raises_aws("ResourceNotFoundException", 404):
        op2.describe_job_execution(jobId="j1", thingName="thing-a")
    with raises_aws("ResourceNotFoundException", 404):
        dev2.get_pending_job_executions(thingName="thing-a")

    # the same names in account 2
    assert op2.create_thing(thingName="thing-a")["thingArn"] == arn(ACCT2, "thing", "thing-a")
    j1b = op2.create_job(jobId="j1", targets=[arn(ACCT2, "thing", "thing-a")],
                         document=json.dumps({"op": "account-2"}))
    assert j1b["jobArn"] == arn(ACCT2, "job", "j1")
    job2 = op2.describe_job(jobId="j1")["job"]
    assert (job2["jobArn"], job2["targets"]) == (arn(ACCT2, "job", "j1"), [arn(ACCT2, "thing", "thing-a")])
    assert [j["jobArn"] for j in op2.list_jobs()["jobs"]] == [arn(ACCT2, "job", "j1")]
    ex = dev2.start_next_pending_job_execution(thingName="thing-a")["execution"]
    assert (ex["jobId"], ex["status"]) == ("j1", "IN_PROGRESS")
    assert json.loads(ex["jobDocument"]) == {"op": "account-2"}
    op2.cancel_job(jobId="j1")

    # account 1 is untouched
    job1 = op1.describe_job(jobId="j1")["job"]
    assert (job1["jobArn"], job1["status"]) == (arn(ACCT1, "job", "j1"), "IN_PROGRESS")
    assert job1["targets"] == [arn(ACCT1, "thing", "thing-a")]
    assert [j["jobArn"] for j in op1.list_jobs()["jobs"]] == [arn(ACCT1, "job", "j1")]
    ex1 = op1.describe_job_execution(jobId="j1", thingName="thing-a")["execution"]
    assert (ex1["status"], ex1["thingArn"]) == ("QUEUED", arn(ACCT1, "thing", "thing-a"))
    assert json.loads(op1.get_job_document(jobId="j1")["document"]) == DOC


# ===========================================================================
# 6. --auth none
# ===========================================================================


@pytest.mark.server_args("--auth", "none")
def test_auth_none_accepts_unsigned_and_wrongly_signed_requests(server):
    assert_ok(unsigned(server, "POST", "/things/t1", body={}))
    assert_ok(unsigned(server, "PUT", "/jobs/j1", body=create_job_body("t1", "unsigned")))
    resp = unsigned(server, "GET", "/jobs")
    assert_ok(resp)
    assert [j["jobId"] for j in resp.json()["jobs"]] == ["j1"]

    # unsigned: the plane from Host
    cp = unsigned(server, "GET", "/things/t1/jobs")
    assert_ok(cp)
    assert "executionSummaries" in cp.json()  # ListJobExecutionsForThing
    dp = unsigned(server, "GET", "/things/t1/jobs", host=DATA_HOST)
    assert_ok(dp)
    assert [j["jobId"] for j in dp.json()["queuedJobs"]] == ["j1"]  # GetPendingJobExecutions

    # garbage signatures: the plane from the scope
    def garbage(service):
        return (f"AWS4-HMAC-SHA256 Credential=AKNOBODY/20000101/us-east-1/{service}/aws4_request, "
                "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)

    cp = send(server, Req("GET", "/things/t1/jobs", {"Authorization": garbage("iot"),
                                                      "X-Amz-Date": "20000101T000000Z"}))
    assert_ok(cp)
    assert "executionSummaries" in cp.json()
    dp = send(server, Req("GET", "/things/t1/jobs", {"Authorization": garbage("iot-jobs-data"),
                                                      "X-Amz-Date": "20000101T000000Z"}))
    assert_ok(dp)
    assert [j["jobId"] for j in dp.json()["queuedJobs"]] == ["j1"]

    # clients with unknown keys, wrong secrets or another region
    assert [j["jobId"] for j in client(server, "iot", "AKNOBODY", "x").list_jobs()["jobs"]] == ["j1"]
    data = client(server, "iot-jobs-data", ACCESS_KEY, "wrong", region="eu-west-1")
    assert data.start_next_pending_job_execution(thingName="t1")["execution"]["status"] == "IN_PROGRESS"
    # a tampered body is taken as sent
    req = sign(server, "PUT", "/jobs/j2", body=create_job_body("t1", "signed"))
    assert_ok(send(server, replace(req, body=req.body.replace(b'"signed"', b'"tampered"'))))
    assert client(server, "iot").describe_job(jobId="j2")["job"]["description"] == "tampered"


# ===========================================================================
# 7. HTTPS
# ===========================================================================


@pytest.mark.server_args(*TLS_ARGS)
def test_https_with_boto3_and_the_test_ca(server):
    assert server.endpoint.startswith("https://127.0.0.1:")
    iot = client(server, "iot", verify=str(CA_PEM))
    make_job(iot, "j1", ["t1"])
    assert [j["jobId"] for j in iot.list_jobs()["jobs"]] == ["j1"]
    data = client(server, "iot-jobs-data", verify=str(CA_PEM))
    assert data.start_next_pending_job_execution(thingName="t1")["execution"]["jobId"] == "j1"
    # signatures are checked over TLS too
    with raises_aws("InvalidSignatureException", 403):
        client(server, "iot", ACCESS_KEY, "wrong", verify=str(CA_PEM)).list_jobs()
    # the default trust store does not know the test CA
    with pytest.raises(botocore.exceptions.SSLError):
        client(server, "iot").list_jobs()


@pytest.mark.server_args(*TLS_ARGS, "--max-connections", "4")
def test_https_clients_stalling_their_handshake_do_not_lock_out_others(server):
    """20 connections that never start their TLS handshake, at a cap of 4: the server
    drops handshakes to make room (well before the 10 s header timeout)."""
    port = int(server.endpoint.rsplit(":", 1)[1])
    stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    try:
        started = time.monotonic()
        assert client(server, "iot", verify=str(CA_PEM)).list_jobs()["jobs"] == []
        assert time.monotonic() - started < 3
    finally:
        for s in stalled:
            s.close()


@pytest.mark.server_args(*TLS_ARGS)
def test_https_with_the_aws_cli(server, aws_cli, tmp_path):
    client(server, "iot", verify=str(CA_PEM)).create_thing(thingName="t1")

    def aws(*args):
        return run_aws(aws_cli, server, tmp_path, *args)  # one attempt: no retries on SSL errors

    for opts in (("--no-verify-ssl",), ("--ca-bundle", str(CA_PEM))):
        assert cli_ok(aws("iot", "list-jobs", *opts)) == {"jobs": []}, opts
        things = cli_ok(aws("iot", "list-things", *opts))["things"]
        assert [t["thingName"] for t in things] == ["t1"], opts
    rc, out, err = aws("iot", "list-jobs")
    assert rc == 255, f"exit {rc}\nstdout: {out}\nstderr: {err}"
    assert out == ""
    assert "SSL validation failed" in err and "CERTIFICATE_VERIFY_FAILED" in err, err
