"""Documents in S3 (issue 14): `serve --s3-endpoint` against s3s-fs, an S3 server that
verifies SigV4 (headers and presigned query strings, with expiry), so every read and
every URL here is checked the way S3 checks them.

- CreateJob's `documentSource` is read once, at creation, from the endpoint (the URL
  forms AWS documents, mapped onto it); GetJobDocument returns what was read.
- `${aws:iot:s3-presigned-url…}` placeholders become fresh presigned GET URLs whenever a
  device receives the document (HTTP data plane and MQTT); a plain HTTP GET of the URL
  (urllib, no credentials) downloads the firmware: the real proof. GetJobDocument keeps
  the placeholders.
- Expiry: a URL carries X-Amz-Date (the real time of the device's request, never the
  test clock's) and X-Amz-Expires (`presignedUrlConfig.expiresInSec`), both covered by
  the signature; s3s-fs refuses the URL once the window is over.
"""

from __future__ import annotations

import datetime
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import MQTT_LISTEN_ARG, S3_ACCESS_KEY, S3_SECRET_KEY
from iotjobs_helpers import raises_aws, thing_arn

FIRMWARE = bytes(range(256)) * 64 + b"firmware v1.2.3\n"
BUCKET = "firmware"
# A key with characters that are encoded in URLs (space, plus, non-ASCII).
KEY = "releases/fw 1+2 ü.bin"
KEY_ENCODED = urllib.parse.quote(KEY, safe="/")  # what a version 2 placeholder writes
ROLE = "arn:aws:iam::000000000000:role/iot-s3-download"


@pytest.fixture(scope="module")
def srv(launch_server, s3_server, tmp_path_factory):
    """One iotjobs for the module: --s3-endpoint on s3s-fs (signing with s3s-fs's key
    from the environment, not iotjobs' own `test` key), MQTT for devices, test clock."""
    s3_server.put(BUCKET, KEY, FIRMWARE)
    server = launch_server(
        tmp_path_factory.mktemp("iotjobs-s3"),
        "--s3-endpoint", s3_server.endpoint,
        MQTT_LISTEN_ARG, "127.0.0.1:0",
        "--test-clock",
        env={"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY},
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def iot(srv):
    return srv.client("iot")


@pytest.fixture(scope="module")
def jobs_data(srv):
    return srv.client("iot-jobs-data")


_ids = iter(range(1, 10_000))


def new_id(prefix: str) -> str:
    """A fresh name in the module's shared server."""
    return f"{prefix}-{next(_ids)}"


def create(iot, document: dict | None = None, thing: str | None = None, **kwargs):
    """A thing and a job for it; returns (job id, thing)."""
    thing = thing or new_id("dev")
    iot.create_thing(thingName=thing)
    job_id = new_id("job")
    if document is not None:
        kwargs["document"] = json.dumps(document)
    iot.create_job(jobId=job_id, targets=[thing_arn(thing)], **kwargs)
    return job_id, thing


def placeholder_doc(url_placeholder: str) -> dict:
    return {"operation": "install", "firmware": {"url": url_placeholder, "size": len(FIRMWARE)}}


def download(url: str) -> bytes:
    """A device's download: a plain GET, no credentials (the URL carries them)."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read()


def refused(url: str) -> tuple[int, str]:
    """(status, S3 error body) of a GET that must fail."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            pytest.fail(f"{url} answered {resp.status}, expected a refusal")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def params(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def with_params(url: str, **changes: str) -> str:
    parts = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(parts.query)
    q = [(k, changes.get(k.replace("-", "_"), v)) for k, v in q]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q)))


def amz_date(d: str) -> datetime.datetime:
    return datetime.datetime.strptime(d, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)


def url_of(document_text: str) -> str:
    return json.loads(document_text)["firmware"]["url"]


# --- documentSource ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url_form",
    [
        "https://s3.amazonaws.com/{bucket}/{key}",
        "https://s3.us-east-1.amazonaws.com/{bucket}/{key}",
        "https://{bucket}.s3.us-west-2.amazonaws.com/{key}",
        "{endpoint}/{bucket}/{key}",
    ],
)
def test_create_job_reads_the_document_source_once(iot, jobs_data, s3_server, url_form):
    text = '{\n  "operation": "reboot",\n  "note": "read from S3 at creation"\n}\n'
    key = f"jobs/{new_id('doc')} v1.json"
    s3_server.put("docs", key, text.encode())
    source = url_form.format(bucket="docs", key=urllib.parse.quote(key), endpoint=s3_server.endpoint)
    job_id, thing = create(iot, documentSource=source)
    # Read at creation: the object may change or go; the job keeps what it read.
    (s3_server.root / "docs" / key).unlink()
    assert iot.get_job_document(jobId=job_id)["document"] == text
    assert iot.describe_job(jobId=job_id)["documentSource"] == source
    # The device gets the document read from S3.
    ex = jobs_data.describe_job_execution(thingName=thing, jobId=job_id)
    assert ex["execution"]["jobDocument"] == text


def test_a_missing_object_or_bucket_is_invalid_request_naming_the_source(iot, s3_server):
    iot.create_thing(thingName="missing-src")
    for source in (
        f"https://s3.amazonaws.com/docs/no-such-{new_id('k')}.json",
        "https://no-such-bucket.s3.us-east-1.amazonaws.com/job.json",
    ):
        job_id = new_id("job")
        with raises_aws("InvalidRequestException", 400) as err:
            iot.create_job(jobId=job_id, targets=[thing_arn("missing-src")],
                           documentSource=source)
        message = err.response["Error"]["Message"]
        assert source in message and "does not exist" in message, message
        with raises_aws("ResourceNotFoundException", 404):
            iot.describe_job(jobId=job_id)


def test_a_document_source_must_be_a_json_object_within_32768_characters(iot, s3_server):
    iot.create_thing(thingName="bad-src")
    s3_server.put("docs", "list.json", b"[1, 2, 3]")
    s3_server.put("docs", "binary.bin", b"\xff\xfe\x00")
    # `{"pad": "…"}` is 11 characters around the padding: 32,768 characters fit, one more
    # does not; characters count, not bytes (é is two), as for an inline `document`.
    fits = json.dumps({"pad": "é" * 32_757}, ensure_ascii=False)
    s3_server.put("docs", "fits.json", fits.encode())
    s3_server.put("docs", "big.json", json.dumps({"pad": "x" * 32_758}).encode())
    for key, words in (
        ("list.json", "must be a JSON object"),
        ("binary.bin", "must be a JSON object"),
        ("big.json", "longer than 32768 characters"),
    ):
        source = f"https://s3.amazonaws.com/docs/{key}"
        with raises_aws("InvalidRequestException", 400) as err:
            iot.create_job(jobId=new_id("job"), targets=[thing_arn("bad-src")],
                           documentSource=source)
        message = err.response["Error"]["Message"]
        assert source in message and words in message, message
    job_id = new_id("job")
    iot.create_job(jobId=job_id, targets=[thing_arn("bad-src")],
                   documentSource="https://s3.amazonaws.com/docs/fits.json")
    document = iot.get_job_document(jobId=job_id)["document"]
    assert document == fits and len(document) == 32_768


def test_a_document_source_that_is_not_an_s3_url_is_refused(iot):
    iot.create_thing(thingName="odd-src")
    for source, words in (
        ("https://example.com/job.json", "not an S3 object URL"),
        ("https://s3.amazonaws.com/only-a-bucket", "not an S3 object URL"),
    ):
        with raises_aws("InvalidRequestException", 400) as err:
            iot.create_job(jobId=new_id("job"), targets=[thing_arn("odd-src")],
                           documentSource=source)
        assert words in err.response["Error"]["Message"]


def test_without_s3_endpoint_document_source_says_what_is_missing(server_factory):
    plain = server_factory()
    iot = plain.client("iot")
    iot.create_thing(thingName="t1")
    source = "https://s3.us-east-1.amazonaws.com/docs/job.json"
    with raises_aws("InvalidRequestException", 400) as err:
        iot.create_job(jobId="j1", targets=[thing_arn("t1")], documentSource=source)
    message = err.response["Error"]["Message"]
    assert source in message and "--s3-endpoint" in message, message


# --- presigned URLs, HTTP data plane -----------------------------------------------------


@pytest.mark.parametrize(
    "placeholder",
    [
        # version 2: the URL S3-encoded (path style, then virtual-hosted)
        f"${{aws:iot:s3-presigned-url-v2:https://s3.us-east-1.amazonaws.com/{BUCKET}/{KEY_ENCODED}}}",
        f"${{aws:iot:s3-presigned-url-v2:https://{BUCKET}.s3.us-east-1.amazonaws.com/{KEY_ENCODED}}}",
        # version 1: the URL as it is
        f"${{aws:iot:s3-presigned-url:https://s3.amazonaws.com/{BUCKET}/{KEY}}}",
    ],
    ids=["v2-path", "v2-virtual-hosted", "v1"],
)
def test_devices_get_a_presigned_url_that_downloads_the_firmware(iot, jobs_data, s3_server,
                                                                  placeholder):
    job_id, thing = create(iot, placeholder_doc(placeholder))

    described = jobs_data.describe_job_execution(thingName=thing, jobId="$next")["execution"]
    url = url_of(described["jobDocument"])
    # On the configured endpoint, path style, whatever host the placeholder names.
    assert url.startswith(f"{s3_server.endpoint}/{BUCKET}/releases/fw%201%2B2%20%C3%BC.bin?")
    assert download(url) == FIRMWARE

    # Each request signs anew (X-Amz-Date has whole seconds: wait for the next one).
    time.sleep(1.1)
    started = jobs_data.start_next_pending_job_execution(thingName=thing)["execution"]
    url2 = url_of(started["jobDocument"])
    assert url2 != url and params(url2)["X-Amz-Date"] > params(url)["X-Amz-Date"]
    assert download(url2) == FIRMWARE

    done = jobs_data.update_job_execution(thingName=thing, jobId=job_id, status="SUCCEEDED",
                                          includeJobDocument=True)
    assert download(url_of(done["jobDocument"])) == FIRMWARE

    # The control plane shows the document as written.
    stored = json.loads(iot.get_job_document(jobId=job_id)["document"])
    assert stored == placeholder_doc(placeholder)


def test_a_document_source_may_hold_placeholders_too(iot, jobs_data, s3_server):
    doc = placeholder_doc(f"${{aws:iot:s3-presigned-url-v2:https://s3.amazonaws.com/{BUCKET}/{KEY_ENCODED}}}")
    s3_server.put("docs", "with-placeholder.json", json.dumps(doc).encode())
    thing = new_id("dev")
    iot.create_thing(thingName=thing)
    job_id = new_id("job")
    iot.create_job(jobId=job_id, targets=[thing_arn(thing)],
                   documentSource="https://s3.amazonaws.com/docs/with-placeholder.json")
    ex = jobs_data.describe_job_execution(thingName=thing, jobId=job_id)["execution"]
    assert download(url_of(ex["jobDocument"])) == FIRMWARE
    assert json.loads(iot.get_job_document(jobId=job_id)["document"]) == doc


def test_urls_live_expires_in_sec_from_the_real_time_of_the_request(iot, jobs_data, srv):
    placeholder = f"${{aws:iot:s3-presigned-url-v2:https://s3.amazonaws.com/{BUCKET}/{KEY_ENCODED}}}"
    job_id, thing = create(iot, placeholder_doc(placeholder),
                           presignedUrlConfig={"roleArn": ROLE, "expiresInSec": 60})
    assert iot.describe_job(jobId=job_id)["job"]["presignedUrlConfig"] == {
        "roleArn": ROLE, "expiresInSec": 60}

    # The domain clock is two hours ahead: URLs still carry the real time, which is
    # what S3 checks them against (s3s-fs refuses a date this far in the future).
    status, _, body = srv.raw("POST", "/iotjobs-api/clock", body={"advanceSeconds": 7200})
    assert status == 200, body
    asked_at = datetime.datetime.now(datetime.timezone.utc)
    ex = jobs_data.describe_job_execution(thingName=thing, jobId=job_id)["execution"]
    url = url_of(ex["jobDocument"])
    p = params(url)
    assert p["X-Amz-Expires"] == "60"
    signed_at = amz_date(p["X-Amz-Date"])
    assert abs((signed_at - asked_at).total_seconds()) < 5, (signed_at, asked_at)
    assert p["X-Amz-Credential"] == f"{S3_ACCESS_KEY}/{signed_at:%Y%m%d}/us-east-1/s3/aws4_request"
    assert p["X-Amz-SignedHeaders"] == "host"
    assert download(url) == FIRMWARE

    # Both values are signed: a longer lifetime or another date breaks the signature ...
    code, err = refused(with_params(url, X_Amz_Expires="3600"))
    assert code == 403 and "SignatureDoesNotMatch" in err, err
    a_second_earlier = signed_at - datetime.timedelta(seconds=1)
    code, err = refused(moved(url, a_second_earlier))
    assert code == 403 and "SignatureDoesNotMatch" in err, err
    # ... and once X-Amz-Date + 60 s has passed, S3 refuses the URL as expired.
    code, err = refused(moved(url, signed_at - datetime.timedelta(seconds=61)))
    assert code == 403 and "Request has expired" in err, err

    # Without presignedUrlConfig: AWS's default, 3600 seconds.
    job2, thing2 = create(iot, placeholder_doc(placeholder))
    ex = jobs_data.describe_job_execution(thingName=thing2, jobId=job2)["execution"]
    assert params(url_of(ex["jobDocument"]))["X-Amz-Expires"] == "3600"
    # UpdateJob's presignedUrlConfig holds for the URLs of later requests.
    iot.update_job(jobId=job2, presignedUrlConfig={"roleArn": ROLE, "expiresInSec": 120})
    ex = jobs_data.describe_job_execution(thingName=thing2, jobId=job2)["execution"]
    assert params(url_of(ex["jobDocument"]))["X-Amz-Expires"] == "120"


def moved(url: str, when: datetime.datetime) -> str:
    """`url` with X-Amz-Date (and the credential scope's date, which must match it) set
    to `when`, the signature unchanged."""
    p = params(url)
    credential = re.sub(r"/\d{8}/", f"/{when:%Y%m%d}/", p["X-Amz-Credential"])
    return with_params(url, X_Amz_Date=f"{when:%Y%m%dT%H%M%SZ}", X_Amz_Credential=credential)


def test_create_job_refuses_placeholders_that_could_never_be_signed(iot):
    iot.create_thing(thingName="bad-placeholder")
    for placeholder, words in (
        ("${aws:iot:s3-presigned-url:https://example.com/fw.bin}", "not valid"),
        ("${aws:iot:s3-presigned-url-upload:https://s3.amazonaws.com/b/${thingName}/log}",
         "not supported"),
        ("${aws:iot:s3-presigned-url-v2:https://s3.amazonaws.com/b/k", "not closed"),
    ):
        with raises_aws("InvalidRequestException", 400) as err:
            iot.create_job(jobId=new_id("job"), targets=[thing_arn("bad-placeholder")],
                           document=json.dumps({"url": placeholder}))
        assert words in err.response["Error"]["Message"], err.response["Error"]["Message"]


def test_without_s3_endpoint_placeholders_reach_devices_as_written(server_factory):
    plain = server_factory()
    iot, jobs_data = plain.client("iot"), plain.client("iot-jobs-data")
    placeholder = f"${{aws:iot:s3-presigned-url-v2:https://s3.amazonaws.com/{BUCKET}/{KEY_ENCODED}}}"
    iot.create_thing(thingName="t1")
    iot.create_job(jobId="j1", targets=[thing_arn("t1")],
                   document=json.dumps(placeholder_doc(placeholder)))
    for _ in range(2):
        ex = jobs_data.describe_job_execution(thingName="t1", jobId="j1")["execution"]
        assert url_of(ex["jobDocument"]) == placeholder
    # The operator is told once, not once per device request.
    deadline = time.monotonic() + 5
    while "no --s3-endpoint" not in plain.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert plain.log().count("no --s3-endpoint") == 1, plain.log()


# --- presigned URLs over MQTT ------------------------------------------------------------


def test_mqtt_devices_get_presigned_urls_in_notify_next_and_start_next(iot, srv, s3_server):
    from mqtt_device import Devices

    devices = Devices(lambda: srv.mqtt_port)
    try:
        thing = new_id("mqtt-dev")
        iot.create_thing(thingName=thing)
        d = devices("v2-mqtt5", thing)
        notify_next = d.subscribe_notify_next()
        placeholder = f"${{aws:iot:s3-presigned-url-v2:https://{BUCKET}.s3.us-east-1.amazonaws.com/{KEY_ENCODED}}}"
        job_id = new_id("job")
        iot.create_job(jobId=job_id, targets=[thing_arn(thing)],
                       document=json.dumps(placeholder_doc(placeholder)),
                       presignedUrlConfig={"roleArn": ROLE, "expiresInSec": 300})

        ev = notify_next.next()
        assert ev.execution.job_id == job_id
        hinted = ev.execution.job_document["firmware"]["url"]
        assert params(hinted)["X-Amz-Expires"] == "300"
        assert download(hinted) == FIRMWARE

        started = d.start_next().execution
        assert started.job_id == job_id
        url = started.job_document["firmware"]["url"]
        assert url.startswith(f"{s3_server.endpoint}/{BUCKET}/")
        assert download(url) == FIRMWARE

        r = d.update(job_id, "SUCCEEDED", include_job_document=True)
        assert download(r.job_document["firmware"]["url"]) == FIRMWARE
    finally:
        devices.close_all()
