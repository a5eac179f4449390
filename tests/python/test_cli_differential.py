"""Differential suite: the AWS CLI v1 (`.venv/bin/aws`) and `iotjobs` run the same argument
vectors against the same local capture listener; exit code, stdout bytes, the requests sent
(method, path and query, content type, body bytes, SigV4 scope and signed headers) and the
stderr lines the behaviour spec mandates (aws-cli-v1-behaviour.md §0) must be equal, and
every iotjobs signature must verify with botocore's own SigV4 code.

The vectors cover §2-§9 of the spec. Where the spec lets iotjobs word a message itself
(Python internals, the help page, `--query` parse errors, the usage block), the vector says
so in `ours` and only the exit code, stdout and requests are compared; those differences are
listed in docs/compatibility.md ("CLI").

Environment: IOTJOBS_BIN (default target/debug/iotjobs), IOTJOBS_AWS_CLI (default
.venv/bin/aws). Vectors run in parallel (the AWS CLI takes ~0.5 s per call, retry vectors
several seconds of back-off).
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

REPO = Path(__file__).resolve().parents[2]
IOTJOBS = os.environ.get("IOTJOBS_BIN", str(REPO / "target" / "debug" / "iotjobs"))
AWS = os.environ.get("IOTJOBS_AWS_CLI", str(REPO / ".venv" / "bin" / "aws"))

CJE = ["iot", "cancel-job-execution"]
BASE = CJE + ["--job-id", "j1", "--thing-name", "t1"]
EMPTY = (200, {}, b"")


def js(status: int, body: dict, **headers) -> tuple:
    return (status, {k.replace("_", "-"): v for k, v in headers.items()}, json.dumps(body).encode())


def err(status: int, code: str, message: str) -> tuple:
    return (status, {"x-amzn-ErrorType": code}, json.dumps({"message": message}).encode())


@dataclass
class Vector:
    name: str
    argv: list
    responses: list = field(default_factory=lambda: [EMPTY])
    env: dict = field(default_factory=dict)
    unset: tuple = ()
    files: dict = field(default_factory=dict)
    # Set when the spec lets iotjobs word stderr itself; the reason is shown in failures.
    ours: str | None = None
    # `closed`: run against a port nobody listens on.
    closed: bool = False
    # False where stdout is ours to word (the help page).
    same_stdout: bool = True


V: list[Vector] = []


def v(name, args, **kw):
    V.append(Vector(name, args, **kw))


# §2 / §6: options, argparse conventions, exit codes -------------------------------------
v("minimal", BASE)
v("force", BASE + ["--force"])
v("no-force", BASE + ["--no-force"])
v("force-then-no-force", BASE + ["--force", "--no-force"])
v("expected-version", BASE + ["--expected-version", "3"])
for i, val in enumerate(["-1", "+5", " 7 ", "1_000", "007", "٣", "99999999999999999999", "-9223372036854775809"]):
    v(f"expected-version-ok-{i}", BASE + ["--expected-version", val])
for i, val in enumerate(["abc", "", "3.5", "1e3", "0x10"]):
    v(f"expected-version-bad-{i}", BASE + ["--expected-version", val])
v("equals-form", CJE + ["--job-id=j1", "--thing-name=t1", "--expected-version=4"])
v("equals-dash-value", CJE + ["--job-id=-x", "--thing-name", "t1"])
v("dash-value", CJE + ["--job-id", "-x", "--thing-name", "t1"])
v("negative-number-value", CJE + ["--job-id", "-1", "--thing-name", "t1"])
v("status-details-dash", BASE + ["--status-details", "-a=b"])
v("expected-version-dash", BASE + ["--expected-version", "-x"])
v("prefixes", CJE + ["--job", "j1", "--thing", "t1", "--f", "--exp", "3"])
v("ambiguous-no", BASE + ["--no"])
v("force-explicit", BASE + ["--force=true"])
v("missing-both", CJE)
v("missing-job-id", CJE + ["--thing-name", "t1"])
v("missing-thing-name", CJE + ["--job-id", "j1"])
v("required-wins-over-unknown", CJE + ["--bogus"])
v("unknown-options", BASE + ["--bogus", "x", "--other"])
v("stray-positionals", BASE + ["p1", "p2"])
v("flag-then-word", BASE + ["--force", "true"])
v("dash-help-is-unknown", BASE + ["--help"])
v("repeated-last-wins", CJE + ["--job-id", "a", "--job-id", "b", "--thing-name", "t1"])
v("unknown-operation", ["iot", "cancel-job-executions"])
v("no-operation", ["iot"])
v("global-after-op", BASE + ["--region", "eu-west-1"])

# §5: --status-details shorthand --------------------------------------------------------
SH = [
    "a=b", "a=b,c=d", "a=b ", "a=x y", "a= b", "a=b=c", "a=x\\y", "a=]", 'a="x,y"', 'a=" b "',
    "a=x,y,c=d", "a=x\\,y", "a.b/c=1,a#b/c=2", "a=1,b=true", "a=b,,c=d", "a=h\u00e9llo \u2713",
    "a=x\ty", "a@=plain", "a='it\\'s'", "k1=v,k2=v,k3=v,k4=v,k5=v,k6=v,k7=v,k8=v,k9=v,k10=v,k11=v",
    # errors
    " a=b", "", "   ", "a=x\"y", "a=x}y", "a=x]y", 'a="abc', "a='abc", "a=1,a=2", "a=b,",
    "a=\U0001F600", "a=x,\n'\nzz", "a", "a=b c=d",
    # validation errors
    'a=""', "a=x,y", "a=[1,2]", "a={b=c}", "a=", "a=,c=d", "=b",
]
for i, sh in enumerate(SH):
    v(f"shorthand-{i}", BASE + ["--status-details", sh])

# §5: JSON ------------------------------------------------------------------------------
JSON_VALUES = [
    '{"a":"b"}', '  {"a": "b", "c": "d"}  ', '{"a":', '["a"]', '  ["a"]', '{"a":"x","a":"y"}', "{}",
    '{"a": 1}', '{"a": null}', '{"a": {"b": "c"}}', '{"a": ["x"]}', '{"a": true}', '{"a":"b"} x',
    '{a: "b"}', '{"a": "b",}', '{"a": "\\u00e9"}', '{"a": "b"\n"c": "d"}',
]
for i, j in enumerate(JSON_VALUES):
    v(f"json-{i}", BASE + ["--status-details", j])

# §5.1: paramfiles -----------------------------------------------------------------------
v("file-json", BASE + ["--status-details", "file://sd.json"], files={"sd.json": '{"a": "from-file"}\n'})
v("file-shorthand", BASE + ["--status-details", "file://sd.txt"], files={"sd.txt": "a=b,c=d\n"})
v("file-missing", BASE + ["--status-details", "file://nope.json"])
v("file-at-equals", BASE + ["--status-details", "a@=file://v.txt,b=file://v.txt"], files={"v.txt": "from file\n"})
v("file-at-equals-missing", BASE + ["--status-details", "a@=file://nope.txt"])
v("file-job-id", CJE + ["--job-id", "file://id.txt", "--thing-name", "t1"], files={"id.txt": "j-from-file"})
v("file-home", BASE + ["--status-details", "file://~/sd.json"], files={"sd.json": '{"h": "home"}'})
v("http-paramfile", BASE + ["--status-details", "http://{HOST}/params.json"])
v("http-paramfile-404", BASE + ["--status-details", "http://{HOST}/missing.json"])
v("fileb", BASE + ["--status-details", "fileb://sd.json"], files={"sd.json": "{}"},
  ours="AWS CLI leaks a Python TypeError ('in <string>' requires string as left operand)")

# §6.1: --cli-input-json ------------------------------------------------------------------
FULL = '{"jobId": "j1", "thingName": "t1", "force": true, "expectedVersion": 5, "statusDetails": {"a": "b"}}'
v("cli-input-json", CJE + ["--cli-input-json", FULL])
v("cli-input-json-overrides", CJE + ["--cli-input-json", FULL, "--job-id", "j2", "--no-force",
                                     "--expected-version", "9", "--status-details", "c=d"])
v("cli-input-json-file", CJE + ["--cli-input-json", "file://in.json"], files={"in.json": FULL})
v("cli-input-json-file-missing", CJE + ["--cli-input-json", "file://nope.json"])
v("cli-input-json-invalid", CJE + ["--cli-input-json", '{"jobId": '])
v("cli-input-json-unknown", CJE + ["--cli-input-json", '{"jobId": "j1", "thingName": "t1", "bogus": 1}'])
v("cli-input-json-missing", CJE + ["--cli-input-json", '{"jobId": "j1"}'])
v("cli-input-json-str-version", CJE + ["--cli-input-json", '{"jobId": "j1", "thingName": "t1", "expectedVersion": "3"}'])
v("cli-input-json-float-version", CJE + ["--cli-input-json", '{"jobId": "j1", "thingName": "t1", "expectedVersion": 3.0}'])
v("cli-input-json-bool-version", CJE + ["--cli-input-json", '{"jobId": "j1", "thingName": "t1", "expectedVersion": true}'])
v("cli-input-json-big-version", CJE + ["--cli-input-json", '{"jobId": "j1", "thingName": "t1", "expectedVersion": 123456789012345678901234567890}'])
v("cli-input-json-str-force", CJE + ["--cli-input-json", '{"jobId": "j1", "thingName": "t1", "force": "yes"}'])
v("cli-input-json-null-details", CJE + ["--cli-input-json", '{"jobId": "j1", "thingName": "t1", "statusDetails": null}'])
v("cli-input-json-order", CJE + ["--cli-input-json", '{"statusDetails": {"z": "1"}, "expectedVersion": 2, "thingName": "t1", "jobId": "j1"}'])
v("cli-input-json-equals", CJE + ['--cli-input-json={"jobId": "j1", "thingName": "t1"}'])
v("cli-input-json-list", CJE + ["--cli-input-json", '["j1"]'],
  ours="AWS CLI leaks a Python AttributeError ('list' object has no attribute 'keys')")

# §6.2: --generate-cli-skeleton ------------------------------------------------------------
v("skeleton", CJE + ["--generate-cli-skeleton"])
v("skeleton-input", CJE + ["--generate-cli-skeleton", "input"])
v("skeleton-with-args", BASE + ["--force", "--generate-cli-skeleton"])
v("skeleton-with-cli-input-json", CJE + ["--cli-input-json", FULL, "--generate-cli-skeleton"])
v("skeleton-output-text", CJE + ["--generate-cli-skeleton", "--output", "text"])
v("skeleton-output-needs-args", CJE + ["--generate-cli-skeleton", "output"])
v("skeleton-output", BASE + ["--generate-cli-skeleton", "output"])
v("skeleton-output-validates", CJE + ["--job-id", "", "--thing-name", "t1", "--generate-cli-skeleton", "output"])
v("skeleton-yaml-input", CJE + ["--generate-cli-skeleton", "yaml-input"])
v("skeleton-inputs", CJE + ["--generate-cli-skeleton", "inputs"])
v("skeleton-argparse-wins", CJE + ["--expected-version", "abc", "--generate-cli-skeleton"])
v("skeleton-unknown-wins", CJE + ["--bogus", "--generate-cli-skeleton"])
v("skeleton-output-describe", ["iot", "describe-job-execution", "--job-id", "j1", "--thing-name", "t1",
                               "--generate-cli-skeleton", "output"])

# §6: validation and path escaping -----------------------------------------------------
v("empty-ids", CJE + ["--job-id", "", "--thing-name", ""])
for i, jid in enumerate(["a/b c", "t:1", "100%", "a+b", "a?b", "a#b", "\u00fc", "..", ".", "j" * 65, "a~b_c-d.e"]):
    v(f"path-{i}", CJE + ["--job-id", jid, "--thing-name", "t:" + str(i)])

# §8: output and --query -------------------------------------------------------------------
v("query-jobid", BASE + ["--query", "jobId"])
v("query-jobid-text", BASE + ["--query", "jobId", "--output", "text"])
v("query-jobid-table", BASE + ["--query", "jobId", "--output", "table"])
v("query-at", BASE + ["--query", "@"])
v("query-literal", BASE + ["--query", '`"x"`'])
v("query-literal-text", BASE + ["--query", '`"x"`', "--output", "text"])
v("query-object", BASE + ["--query", '`{"k": [1, 2], "s": "x"}`'])
v("query-object-text", BASE + ["--query", '`{"k": [1, 2], "s": "x"}`', "--output", "text"])
v("query-object-table", BASE + ["--query", '`{"k": "v"}`', "--output", "table"])
v("output-text", BASE + ["--output", "text"])
v("output-table", BASE + ["--output", "table"])
v("output-yaml", BASE + ["--output", "yaml"])
v("output-jsn", BASE + ["--output", "jsn"])
v("bad-query", BASE + ["--query", "[["], ours="jmespath parse error text differs (Rust jmespath crate)")
v("response-json-ignored", BASE, responses=[js(200, {"unexpected": "x"})])
v("response-202", BASE, responses=[(202, {}, b"")])
v("response-204", BASE, responses=[(204, {}, b"")])
v("response-malformed", BASE, responses=[(200, {}, b"{not json")])

# §3.4: service errors ---------------------------------------------------------------------
v("err-invalid-state", BASE, responses=[err(409, "InvalidStateTransitionException", "Job execution is in status IN_PROGRESS; use force to cancel")])
v("err-version-conflict", BASE, responses=[err(409, "VersionConflictException", "The version of the job execution does not match")])
v("err-not-found", BASE, responses=[err(404, "ResourceNotFoundException", "Job j1 for thing t1 not found")])
v("err-invalid-request", BASE, responses=[err(400, "InvalidRequestException", "1 validation error detected")])
v("err-header-colon", BASE, responses=[(400, {"x-amzn-ErrorType": "InvalidRequestException:http://internal.amazon.com/coral/com.amazonaws.iot/"}, b'{"message": "m"}')])
v("err-type-body", BASE, responses=[js(400, {"__type": "InvalidRequestException", "message": "m"})])
v("err-type-hash", BASE, responses=[js(400, {"__type": "com.amazonaws.iot#InvalidRequestException", "message": "m"})])
v("err-code-body", BASE, responses=[js(400, {"code": "X", "message": "m"})])
v("err-Code-body", BASE, responses=[js(400, {"Code": "Y"})])
v("err-header-wins", BASE, responses=[(400, {"x-amzn-ErrorType": "H"}, b'{"__type": "T", "code": "C", "message": "m"}')])
v("err-Message", BASE, responses=[(400, {"x-amzn-ErrorType": "E"}, b'{"Message": "capital"}')])
v("err-empty-body", BASE, responses=[(400, {"x-amzn-ErrorType": "E"}, b"")])
v("err-empty-object", BASE, responses=[(400, {"x-amzn-ErrorType": "E"}, b"{}")])
v("err-400-bare", BASE, responses=[(400, {}, b"")])
v("err-404-html", BASE, responses=[(404, {}, b"<html>Not Found</html>")])
v("err-unknown-code", BASE, responses=[err(400, "SomethingWeirdException", "weird")])
v("err-multiline-utf8", BASE, responses=[err(400, "E", "line1\nline2 \u00e9\u2713")])
v("err-403", BASE, responses=[err(403, "AccessDeniedException", "no")])

# §4: retries ------------------------------------------------------------------------------
v("retry-503", BASE, responses=[err(503, "ServiceUnavailableException", "Service is unavailable")])
v("retry-429", BASE, responses=[err(429, "ThrottlingException", "Rate exceeded")])
v("retry-400-throttling", BASE, responses=[err(400, "ThrottlingException", "Rate exceeded")])
v("retry-500-html", BASE, responses=[(500, {}, b"<html>oops</html>")])
v("retry-500-empty", BASE, responses=[(500, {}, b"")])
v("retry-500-json", BASE, responses=[err(500, "InternalFailureException", "boom")])
v("retry-500-plain", BASE, responses=[(500, {}, b"Something broke")])
v("retry-502", BASE, responses=[(502, {}, b"")])
v("retry-503-then-success", BASE, responses=[err(503, "ServiceUnavailableException", "x"), EMPTY])
v("retry-429-then-409", BASE, responses=[err(429, "ThrottlingException", "x"), err(409, "VersionConflictException", "v")])
v("retry-max-attempts-2", BASE, env={"AWS_MAX_ATTEMPTS": "2"}, responses=[err(503, "ServiceUnavailableException", "x")])

# Credentials, region, profiles --------------------------------------------------------------
CREDS = "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = devsecret\naws_session_token = devtoken\n"
CONFIG = "[default]\nregion = ap-south-1\n[profile dev]\nregion = eu-central-1\n[profile bare]\noutput = text\n"
v("no-credentials", BASE, unset=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
v("no-region", BASE, unset=("AWS_DEFAULT_REGION",))
v("no-region-endpoint", BASE, unset=("AWS_DEFAULT_REGION",))
v("aws-region-only", BASE, unset=("AWS_DEFAULT_REGION",), env={"AWS_REGION": "eu-west-3"})
v("region-flag", BASE + ["--region", "eu-west-1"])
v("profile-missing", BASE + ["--profile", "nope"])
v("profile-missing-env", BASE, env={"AWS_PROFILE": "nope"})
v("session-token", BASE, env={"AWS_SESSION_TOKEN": "tok"})
v("credentials-file", BASE, unset=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"),
  files={"credentials": CREDS, "config": CONFIG})
v("profile-flag", BASE + ["--profile", "dev"], unset=("AWS_DEFAULT_REGION",), files={"credentials": CREDS, "config": CONFIG})
v("profile-env", BASE, env={"AWS_PROFILE": "dev"}, unset=("AWS_DEFAULT_REGION",), files={"credentials": CREDS, "config": CONFIG})
v("profile-output-text", BASE + ["--profile", "bare", "--query", '`{"k": "v"}`'], files={"credentials": CREDS, "config": CONFIG})
v("no-sign-request", BASE + ["--no-sign-request"], unset=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
v("timeouts", BASE + ["--cli-read-timeout", "5", "--cli-connect-timeout", "0"])
v("timeout-bad", BASE + ["--cli-read-timeout", "abc"])
v("no-verify-ssl-http", BASE + ["--no-verify-ssl"])
v("color-bad", BASE + ["--color", "purple"])
v("debug", BASE + ["--debug"], ours="debug log format is ours")
v("endpoint-no-scheme", BASE + ["--endpoint-url", "bogus"])
v("connection-refused", BASE, closed=True)
v("connection-refused-force", BASE + ["--force"], closed=True)

# The same machinery for other operations (model-driven), incl. auto-pagination ----------------
JOB = {"jobArn": "arn:aws:iot:us-east-1:000000000000:job/j1", "jobId": "j1", "status": "IN_PROGRESS",
       "targetSelection": "SNAPSHOT", "createdAt": 1700000000.123, "lastUpdatedAt": 1700000001}
EXEC = {"execution": {"versionNumber": 3, "status": "CANCELED", "thingArn": "arn:aws:iot:us-east-1:000000000000:thing/t1",
                      "jobId": "j1", "forceCanceled": True, "statusDetails": {"detailsMap": {"z": "1", "a": "2"}},
                      "queuedAt": 1700000000, "executionNumber": 1, "bogus": "dropped"}}
v("describe-job-execution-json", ["iot", "describe-job-execution", "--job-id", "j1", "--thing-name", "t1"], responses=[js(200, EXEC)])
v("describe-job-execution-text", ["iot", "describe-job-execution", "--job-id", "j1", "--thing-name", "t1", "--output", "text"], responses=[js(200, EXEC)])
v("describe-job-execution-table", ["iot", "describe-job-execution", "--job-id", "j1", "--thing-name", "t1", "--output", "table"], responses=[js(200, EXEC)])
v("describe-job-execution-query-object", ["iot", "describe-job-execution", "--job-id", "j1", "--thing-name", "t1", "--query", "execution"], responses=[js(200, EXEC)])
v("cli-input-json-http", CJE + ["--cli-input-json", "http://{HOST}/params.json"])
v("describe-job-execution-number", ["iot", "describe-job-execution", "--job-id", "j1", "--thing-name", "t1", "--execution-number", "7"], responses=[js(200, EXEC)])
v("create-job", ["iot", "create-job", "--job-id", "j1", "--targets", "arn:aws:iot:us-east-1:000000000000:thing/t1", "arn:x",
                 "--document", '{"operation": "update"}', "--target-selection", "SNAPSHOT"],
  responses=[js(200, {"jobArn": "arn:j1", "jobId": "j1", "description": "d"})])
v("create-job-targets-json", ["iot", "create-job", "--job-id", "j1", "--targets", '["arn:a", "arn:b"]', "--document", "{}"],
  responses=[js(200, {"jobId": "j1"})])
v("create-thing", ["iot", "create-thing", "--thing-name", "t1", "--attribute-payload", "attributes={k=v},merge=true"],
  responses=[js(200, {"thingName": "t1", "thingArn": "arn:t1", "thingId": "id"})])
PAGE1 = js(200, {"jobs": [dict(JOB, jobId="j1"), dict(JOB, jobId="j2")], "nextToken": "tok2"})
PAGE2 = js(200, {"jobs": [dict(JOB, jobId="j3")]})
v("list-jobs-paginates", ["iot", "list-jobs"], responses=[PAGE1, PAGE2])
v("list-jobs-paginates-text", ["iot", "list-jobs", "--output", "text"], responses=[PAGE1, PAGE2])
v("list-jobs-paginates-query", ["iot", "list-jobs", "--query", "jobs[].jobId"], responses=[PAGE1, PAGE2])
v("list-jobs-max-items", ["iot", "list-jobs", "--max-items", "1"], responses=[PAGE1, PAGE2])
v("list-jobs-max-items-boundary", ["iot", "list-jobs", "--max-items", "2"], responses=[PAGE1, PAGE2])
v("list-jobs-page-size", ["iot", "list-jobs", "--page-size", "2", "--status", "IN_PROGRESS"], responses=[PAGE1, PAGE2])
v("list-jobs-starting-token", ["iot", "list-jobs", "--starting-token",
                               base64.b64encode(b'{"nextToken": "tok2", "boto_truncate_amount": 0}').decode()], responses=[PAGE2])
v("list-jobs-no-paginate", ["iot", "list-jobs", "--no-paginate"], responses=[PAGE1])
v("list-jobs-manual-token", ["iot", "list-jobs", "--next-token", "tok2", "--max-results", "5"], responses=[PAGE2])
v("list-jobs-no-paginate-conflict", ["iot", "list-jobs", "--no-paginate", "--max-items", "1"], responses=[PAGE1])
v("list-jobs-paginates-text-query", ["iot", "list-jobs", "--output", "text", "--query", "jobs[].jobId"], responses=[PAGE1, PAGE2])
v("list-jobs-paginates-table", ["iot", "list-jobs", "--output", "table"], responses=[PAGE1, PAGE2])
v("list-jobs-max-items-text", ["iot", "list-jobs", "--max-items", "1", "--output", "text"], responses=[PAGE1, PAGE2])
v("list-job-executions-for-thing", ["iot", "list-job-executions-for-thing", "--thing-name", "t1", "--status", "QUEUED",
                                    "--namespace-id", "ns"], responses=[js(200, {"executionSummaries": []})])
v("describe-thing", ["iot", "describe-thing", "--thing-name", "t 1"],
  responses=[js(200, {"thingName": "t 1", "attributes": {"b": "2", "a": "1"}, "version": 1})])
v("delete-thing", ["iot", "delete-thing", "--thing-name", "t1", "--expected-version", "2"])
v("list-jobs-empty", ["iot", "list-jobs"], responses=[js(200, {"jobs": []})])
v("list-jobs-bad-max-results", ["iot", "list-jobs", "--max-results", "abc"], ours="AWS CLI leaks a Python ValueError (invalid literal for int())")
v("data-update", ["iot-jobs-data", "update-job-execution", "--thing-name", "t1", "--job-id", "j1", "--status", "SUCCEEDED",
                  "--status-details", "k=v", "--expected-version", "2"],
  responses=[js(200, {"executionState": {"status": "SUCCEEDED", "versionNumber": 3}})])
v("data-start-next", ["iot-jobs-data", "start-next-pending-job-execution", "--thing-name", "t1"],
  responses=[js(200, {"execution": {"jobId": "j1", "thingName": "t1", "status": "IN_PROGRESS", "versionNumber": 2}})])
v("data-describe-next", ["iot-jobs-data", "describe-job-execution", "--thing-name", "t1", "--job-id", "$next", "--include-job-document"],
  responses=[js(200, {"execution": {"jobId": "j1"}})])
v("data-error", ["iot-jobs-data", "get-pending-job-executions", "--thing-name", "t1"],
  responses=[err(404, "ResourceNotFoundException", "no thing")])

# §9: help (prose is ours; the exit code and an empty stderr are the contract) ---------------
v("help", BASE + ["help"], ours="help page prose is ours (spec §0)", same_stdout=False)
v("help-only", CJE + ["help"], ours="help page prose is ours (spec §0)", same_stdout=False)
v("help-service", ["iot", "help"], ours="help page prose is ours (spec §0)", same_stdout=False)


# ------------------------------------------------------------------------------------------
# The capture listener
# ------------------------------------------------------------------------------------------


class Capture:
    """A local HTTP listener that records each request and answers from a script (the last
    scripted response repeats). GET /params.json is the paramfile URL of the http vectors."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.script: list[tuple] = [EMPTY]
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                if self.command == "GET" and self.path in ("/params.json", "/missing.json"):
                    status, headers, out = (200, {}, b'{"a": "from-url"}') if self.path == "/params.json" else (404, {}, b"")
                    with capture.lock:
                        capture.requests.append({"method": "GET", "path": self.path, "headers": {}, "body": b""})
                else:
                    with capture.lock:
                        capture.requests.append(
                            {"method": self.command, "path": self.path,
                             "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                        status, headers, out = capture.script[min(len(capture.requests) - 1, len(capture.script) - 1)] \
                            if capture.script else EMPTY
                self.send_response(status)
                for k, val in headers.items():
                    self.send_header(k, val)
                if status not in (204, 304):
                    self.send_header("Content-Length", str(len(out)))
                self.send_header("Connection", "close")
                self.end_headers()
                if status not in (204, 304):
                    self.wfile.write(out)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self, script):
        with self.lock:
            self.requests = []
            self.script = list(script)

    def taken(self):
        with self.lock:
            # Paramfile GETs count as requests too, but only service requests index the script.
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# The AWS CLI costs ~0.5 s of imports per call; the suite would take minutes. This helper
# imports awscli once and forks per call: each call still runs `awscli.clidriver.main()` from
# scratch (new session, config, model loading, argv parsing) in a process of its own with its
# own environment, cwd and stdout/stderr. IOTJOBS_DIFF_AWS_EXEC=1 runs the `aws` executable
# instead.
AWS_HELPER = r"""
import json, os, sys
sys.argv = ["aws"]
import awscli.clidriver
# `import awscli` puts its data directory into AWS_DATA_PATH, as it does in every `aws` process.
DATA_PATH = os.environ["AWS_DATA_PATH"]
for line in sys.stdin:
    req = json.loads(line)
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        if os.fork() != 0:
            os._exit(0)
        rc = 255
        try:
            os.chdir(req["cwd"])
            os.environ.clear(); os.environ.update(req["env"])
            os.environ["AWS_DATA_PATH"] = DATA_PATH
            for fd, path in ((1, req["out"]), (2, req["err"])):
                f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(f, fd); os.close(f)
            sys.argv = ["aws"] + req["args"]
            try:
                rc = awscli.clidriver.main()
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 1
            sys.stdout.flush(); sys.stderr.flush()
        finally:
            with open(req["rc"] + ".tmp", "w") as f:
                f.write(str(rc if rc is not None else 0))
            os.rename(req["rc"] + ".tmp", req["rc"])
            os._exit(0)
    os.waitpid(pid, 0)
    print("ok", flush=True)
"""


class AwsHelper:
    def __init__(self):
        python = str(Path(AWS).parent / "python")
        self.proc = subprocess.Popen([python, "-u", "-c", AWS_HELPER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     env=dict(os.environ, PYTHONIOENCODING="utf-8"))
        self.lock = threading.Lock()

    def run(self, args, env, cwd: Path, timeout=120) -> tuple[int, str, str]:
        tag = f"aws-{threading.get_ident()}-{time.monotonic_ns()}"
        files = {k: str(cwd / f".{tag}.{k}") for k in ("out", "err", "rc")}
        with self.lock:
            self.proc.stdin.write(json.dumps(dict(args=args, env=env, cwd=str(cwd), **files)) + "\n")
            self.proc.stdin.flush()
            self.proc.stdout.readline()
        deadline = time.monotonic() + timeout
        while not os.path.exists(files["rc"]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"aws {args} did not finish")
            time.sleep(0.01)
        rc = int(Path(files["rc"]).read_text())
        out = Path(files["out"]).read_bytes().decode("utf-8", "replace")
        err_ = Path(files["err"]).read_bytes().decode("utf-8", "replace")
        for f in files.values():
            os.unlink(f)
        return rc, out, err_

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


HELPER: AwsHelper | None = None


def run_cli(exe: list[str], vec: Vector, port: int, home: Path) -> tuple[int, str, str]:
    env = {k: val for k, val in os.environ.items() if not k.startswith("AWS_") and not k.startswith("IOTJOBS_")}
    env.update(
        HOME=str(home),
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONIOENCODING="utf-8",
        LC_ALL="C.UTF-8",
    )
    for k in vec.unset:
        env.pop(k, None)
    env.update(vec.env)
    host = f"127.0.0.1:{port}"
    argv = [a.replace("{HOST}", host) for a in vec.argv]
    args = ["--endpoint-url", f"http://{host}"] + argv
    if exe == [AWS] and HELPER is not None:
        return HELPER.run(args, env, home)
    p = subprocess.run(exe + args, env=env, cwd=home, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def summarize(req: dict) -> dict:
    h = req["headers"]
    auth = h.get("authorization", "")
    scope = signed = None
    if auth:
        cred = auth.split("Credential=")[1].split(",")[0]
        parts = cred.split("/")
        scope = "/".join([parts[0]] + parts[2:])  # the date may differ between runs
        signed = auth.split("SignedHeaders=")[1].split(",")[0]
    return {
        "method": req["method"],
        "path": req["path"],
        "content-type": h.get("content-type"),
        "body": req["body"],
        "scope": scope,
        "signed-headers": signed,
        "security-token": h.get("x-amz-security-token"),
        "has-date": "x-amz-date" in h,
    }


def verify_signature(req: dict, port: int, secrets: dict) -> str | None:
    """Recomputes the SigV4 signature of a captured request with botocore."""
    h = req["headers"]
    auth = h.get("authorization")
    if not auth:
        return None
    cred = auth.split("Credential=")[1].split(",")[0].split("/")
    access_key, region, service = cred[0], cred[2], cred[3]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    given = auth.split("Signature=")[1].strip()
    creds = botocore.credentials.Credentials(access_key, secrets.get(access_key, "secret"), h.get("x-amz-security-token"))
    signer = botocore.auth.SigV4Auth(creds, service, region)
    url = f"http://127.0.0.1:{port}{req['path']}"
    r = botocore.awsrequest.AWSRequest(method=req["method"], url=url, data=req["body"])
    for name in signed:
        if name != "host":
            r.headers[name] = h[name]
    r.context["timestamp"] = h["x-amz-date"]
    canonical = signer.canonical_request(r)
    expected = signer.signature(signer.string_to_sign(r, canonical), r)
    return None if expected == given else f"signature mismatch for {req['method']} {req['path']}"


def mandated_stderr(rc: int, stderr: str) -> str:
    """The part of stderr the spec mandates (§0): the message after `error:` for argparse
    errors, the `Unknown options:` line, otherwise everything (the usage block is ours)."""
    if rc == 2 and ": error: " in stderr:
        return stderr.split(": error: ", 1)[1]
    if "Unknown options: " in stderr:
        return stderr[stderr.index("Unknown options: "):]
    return stderr


SECRETS = {"AKIDEXAMPLE": "secret", "AKIDFILE": "filesecret", "AKIDDEV": "devsecret"}


def run_vector(vec: Vector) -> dict:
    home = Path(tempfile.mkdtemp(prefix="iotjobs-diff-"))
    try:
        for name, content in vec.files.items():
            (home / name).write_text(content)
        results = {}
        cap = None if vec.closed else Capture()
        port = closed_port() if vec.closed else cap.port
        for label, exe in (("aws", [AWS]), ("iotjobs", [IOTJOBS])):
            if cap:
                cap.reset(vec.responses)
            rc, out, err_ = run_cli(exe, vec, port, home)
            reqs = cap.taken() if cap else []
            results[label] = {"rc": rc, "stdout": out, "stderr": err_, "requests": reqs}
        if cap:
            cap.close()
        results["port"] = port
        return results
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def outcomes():
    if not Path(AWS).exists():
        pytest.fail(f"AWS CLI v1 not found at {AWS} (scripts/test creates .venv)")
    if not Path(IOTJOBS).exists():
        pytest.fail(f"iotjobs binary not found at {IOTJOBS} (cargo build -p iotjobs)")
    global HELPER
    if os.environ.get("IOTJOBS_DIFF_AWS_EXEC") != "1":
        HELPER = AwsHelper()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            futures = {vec.name: pool.submit(run_vector, vec) for vec in V}
            return {name: f.result() for name, f in futures.items()}
    finally:
        if HELPER is not None:
            HELPER.close()
            HELPER = None


@pytest.mark.parametrize("vec", V, ids=[x.name for x in V])
def test_same_as_aws_cli(vec: Vector, outcomes):
    res = outcomes[vec.name]
    a, b = res["aws"], res["iotjobs"]
    context = f"\n--- aws stderr:\n{a['stderr']}\n--- iotjobs stderr:\n{b['stderr']}"
    assert b["rc"] == a["rc"], f"exit code: aws {a['rc']}, iotjobs {b['rc']}{context}"
    if vec.same_stdout:
        assert b["stdout"] == a["stdout"], f"stdout differs{context}"
    else:
        assert b["stdout"] and a["stdout"], f"both print a page{context}"
    assert [summarize(r) for r in b["requests"]] == [summarize(r) for r in a["requests"]], context
    for r in b["requests"]:
        problem = verify_signature(r, res["port"], SECRETS)
        assert problem is None, problem
    if vec.ours is None:
        assert mandated_stderr(b["rc"], b["stderr"]) == mandated_stderr(a["rc"], a["stderr"]), context
    else:
        # Ours to word (spec §0): same exit code and stdout, and a message when AWS has one.
        assert bool(b["stderr"].strip()) == bool(a["stderr"].strip()), f"{vec.ours}{context}"
