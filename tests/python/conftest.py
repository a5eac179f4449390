"""Fixtures for the end-to-end suite: a real `iotjobs serve` process per test, boto3
clients for both planes pointed at it, and the AWS CLI v1.

Environment:
  IOTJOBS_BIN      the server binary (default <repo>/target/debug/iotjobs)
  IOTJOBS_AWS_CLI  the AWS CLI v1 executable (default <repo>/.venv/bin/aws)
  IOTJOBS_S3S_FS   the s3s-fs binary (default <repo>/target/tools/bin/s3s-fs, where
                   .ci/run installs it)

Extra `iotjobs serve` arguments for the `server` fixture:
  @pytest.mark.server_args("--enable-reset")                 on a test, class or module
  @pytest.mark.parametrize("server", [(), ("--enable-reset",)], indirect=True)
Other servers: `server_factory(*args)` (function scope) or `launch_server(workdir, *args)`
(session scope, for module-scoped servers; the caller stops them).

MQTT (device side, `test_mqtt_device.py`): with `--mqtt-listen ADDR` among the arguments,
`Server.start` also waits for `mqtt listening on mqtt://127.0.0.1:PORT` and sets
`server.mqtt_port`; `mqtt_server` is such a server (`--mqtt-listen 127.0.0.1:0`), and
`devices(kind, thing)` connects SDK devices to it (`mqtt_device.py`), closed after the test.

S3 (`test_s3_documents.py`): `s3_server` (module scope) runs s3s-fs, an S3 server that
verifies SigV4, on a free loopback port; `put(bucket, key, data)` seeds an object as a
file under its root. A missing s3s-fs fails the tests, never skips them.

MQTT through an external broker (`test_mqtt_broker.py`): `mosquitto` starts a private
Mosquitto on a free loopback port with the device ACL of docs/mqtt-broker.md (never the
system instance); with `--mqtt-broker URL` among the arguments, `Server.start` also waits
for `mqtt broker connected to mqtt://…`.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.config import Config

from iotjobs_helpers import ACCESS_KEY, REGION, SECRET_KEY

REPO = Path(__file__).resolve().parents[2]

START_TIMEOUT_S = 15
STOP_TIMEOUT_S = 10
LISTENING = re.compile(rb"^listening on (https?://127\.0\.0\.1:(\d+))\r?\n$")
MQTT_LISTEN_ARG = "--mqtt-listen"
# one line of its own, printed once the MQTT endpoint accepts connections (mqtts://
# with --mqtt-tls-cert)
MQTT_LISTENING = re.compile(rb"^mqtt listening on (mqtts?://127\.0\.0\.1:(\d+))\r?$", re.M)
HTTP_LISTENING_LINE = re.compile(rb"^listening on (https?://127\.0\.0\.1:(\d+))\r?$", re.M)
MQTT_BROKER_ARG = "--mqtt-broker"
# printed once iotjobs is subscribed to the request topics at the broker
MQTT_BROKER_CONNECTED = re.compile(rb"^mqtt broker connected to (mqtt://\S+)\r?$", re.M)


# ---------------------------------------------------------------------------
# Isolation from the host's AWS configuration
# ---------------------------------------------------------------------------


def _clean_env(tmp_dir: Path) -> dict[str, str]:
    """The process environment without any AWS_* or IOTJOBS_* variable, plus test
    credentials and config/credentials files that do not exist."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and not k.startswith("IOTJOBS_")
    }
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(tmp_dir / "no-such-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_dir / "no-such-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


@pytest.fixture(scope="session", autouse=True)
def _isolate_boto3(tmp_path_factory):
    """boto3 in this process must not read ~/.aws or AWS_* variables of the host
    (an `endpoint_url`, `retry_mode` or profile there would change behaviour)."""
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("aws-home")
    for k in list(os.environ):
        if k.startswith("AWS_"):
            mp.delenv(k)
    for k, v in _clean_env(tmp).items():
        if k.startswith("AWS_"):
            mp.setenv(k, v)
    yield
    mp.undo()


# ---------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def iotjobs_bin() -> Path:
    # absolute: the server runs with its temp directory as the working directory
    path = Path(os.environ.get("IOTJOBS_BIN") or REPO / "target" / "debug" / "iotjobs").absolute()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"iotjobs binary not found or not executable at {path}: build it with "
            "`cargo build -p iotjobs` or point IOTJOBS_BIN at it",
            pytrace=False,
        )
    return path


_SESSION: boto3.session.Session | None = None


def _boto3_session() -> boto3.session.Session:
    """One session for the whole run: botocore caches the loaded service models per
    session, which makes creating a client cheap (clients themselves are per server)."""
    global _SESSION
    if _SESSION is None:
        _SESSION = boto3.session.Session()
    return _SESSION


class Server:
    """One `iotjobs serve` process on a database that outlives restarts."""

    def __init__(self, binary: Path, workdir: Path, extra_args=(), extra_env=None):
        self.binary = binary
        self.workdir = workdir
        # further `iotjobs serve` arguments, e.g. ("--enable-reset",)
        self.extra_args = tuple(extra_args)
        self.db_dir = workdir / "db"
        self.db_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.db_dir / "iotjobs.sqlite"
        self.database_url = f"sqlite://{self.db_path}"
        # the server's environment: no AWS_*/IOTJOBS_* of the host, plus `extra_env`
        # (e.g. IOTJOBS_ACCESS_KEY_ID for a test of that variable)
        self.env = {**_clean_env(workdir), **(extra_env or {})}
        self.proc: subprocess.Popen | None = None
        self.endpoint: str | None = None
        self.port: int | None = None
        # set when started with --mqtt-listen (plain TCP, development mode)
        self.mqtt_endpoint: str | None = None
        self.mqtt_port: int | None = None
        self.starts = 0
        self.last_exit_code: int | None = None
        # False: with --mqtt-broker, `start` does not wait for `mqtt broker connected`
        # (a standby node of several prints it only once it takes over; see
        # `wait_for_stdout`)
        self.await_broker = True

    # -- lifecycle ---------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.workdir / f"iotjobs-{self.starts}.log"

    def start(self) -> None:
        assert self.proc is None, "server already running"
        self.starts += 1
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [
                    str(self.binary),
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--database",
                    self.database_url,
                    *self.extra_args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=self.env,
                cwd=self.workdir,
            )
        finally:
            log.close()
        if MQTT_LISTEN_ARG in self.extra_args or MQTT_BROKER_ARG in self.extra_args:
            self._await_http_and_mqtt_lines(START_TIMEOUT_S)
            return
        line = self._read_line(START_TIMEOUT_S)
        m = LISTENING.match(line)
        if not m:
            self._kill()
            pytest.fail(
                f"iotjobs did not print `listening on http(s)://127.0.0.1:PORT` within "
                f"{START_TIMEOUT_S}s; got {line!r}\n--- server log ---\n{self.log()}",
                pytrace=False,
            )
        self.endpoint = m.group(1).decode()
        self.port = int(m.group(2))

    def _await_http_and_mqtt_lines(self, timeout: float) -> None:
        """With --mqtt-listen and/or --mqtt-broker: `listening on http://…` and, as
        asked, `mqtt listening on mqtt://…` and `mqtt broker connected to mqtt://…` must
        be printed (each on its own line, in any order)."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout
        wanted = {"`listening on http(s)://127.0.0.1:PORT`": HTTP_LISTENING_LINE}
        if MQTT_LISTEN_ARG in self.extra_args:
            wanted["`mqtt listening on mqtt://127.0.0.1:PORT`"] = MQTT_LISTENING
        if MQTT_BROKER_ARG in self.extra_args and self.await_broker:
            wanted["`mqtt broker connected to mqtt://…`"] = MQTT_BROKER_CONNECTED
        found: dict = {}
        while len(found) < len(wanted):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            chunk = os.read(fd, 4096)
            if not chunk:  # EOF: the process exited
                try:
                    self.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
                break
            buf += chunk
            complete = buf[: buf.rfind(b"\n") + 1]  # only whole lines
            found = {k: m for k, p in wanted.items() if (m := p.search(complete))}
        if len(found) < len(wanted):
            exited = self.proc.poll()
            self._kill()
            missing = " and ".join(k for k in wanted if k not in found)
            status = f"exited with code {exited}" if exited is not None else "still running"
            pytest.fail(
                f"iotjobs did not print {missing} within {timeout}s (started with "
                f"{' '.join(self.extra_args)}; process {status}); stdout so far: {buf!r}\n"
                f"--- server log ---\n{self.log()}",
                pytrace=False,
            )
        http = found[next(iter(wanted))]
        self.endpoint = http.group(1).decode()
        self.port = int(http.group(2))
        mqtt_m = found.get("`mqtt listening on mqtt://127.0.0.1:PORT`")
        if mqtt_m is not None:
            self.mqtt_endpoint = mqtt_m.group(1).decode()
            self.mqtt_port = int(mqtt_m.group(2))

    def wait_for_stdout(self, pattern: re.Pattern, timeout: float) -> bool:
        """Read the server's stdout (after what `start` consumed) until a whole line
        matches `pattern`; False if it does not within `timeout`."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout
        while True:
            if pattern.search(buf[: buf.rfind(b"\n") + 1]):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return False
            chunk = os.read(fd, 4096)
            if not chunk:
                return False
            buf += chunk

    def _read_line(self, timeout: float) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            chunk = os.read(fd, 4096)
            if not chunk:  # EOF: the process exited
                break
            buf += chunk
        return buf

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it does not stop in time. Returns the exit code."""
        if self.proc is None:
            return self.last_exit_code
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self.last_exit_code = proc.returncode
        self.endpoint = None
        self.port = None
        self.mqtt_endpoint = None
        self.mqtt_port = None
        return proc.returncode

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    def restart(self) -> int | None:
        """Stop gracefully and start again on the same database (new port)."""
        code = self.stop()
        self.start()
        return code

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- clients -----------------------------------------------------------

    def client(self, service: str, *, key: str = ACCESS_KEY, secret: str = SECRET_KEY,
               token: str | None = None, region: str = REGION, verify=None, **config):
        """A boto3 client for `iot` or `iot-jobs-data` on the current endpoint, signing
        with the test key unless told otherwise (`verify`: a CA bundle for HTTPS). One
        attempt only: retries would hide what the server answered."""
        cfg = Config(
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=15,
            **config,
        )
        return _boto3_session().client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            verify=verify,
            config=cfg,
        )

    def raw(self, method: str, path: str, service: str = "iot", body=None, headers=None):
        """A raw HTTP request signed with SigV4 for `service` (the scope picks the
        plane). Returns (status, headers as a lower-cased dict, body bytes)."""
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        req = botocore.awsrequest.AWSRequest(
            method=method, url=self.endpoint + path, data=data, headers=hdrs
        )
        botocore.auth.SigV4Auth(
            botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY), service, REGION
        ).add_auth(req)
        prepared = req.prepare()
        ureq = urllib.request.Request(
            prepared.url,
            data=prepared.body or None,
            headers=dict(prepared.headers.items()),
            method=method,
        )
        try:
            with urllib.request.urlopen(ureq, timeout=15) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "server_args(*args): extra `iotjobs serve` arguments for the `server` fixture",
    )


def _server_args(request) -> tuple[str, ...]:
    """Extra arguments for the `server` fixture: from `server_args` markers (closest
    last) and from indirect parametrization (a string or a sequence of strings)."""
    args: list[str] = []
    for marker in reversed(list(request.node.iter_markers("server_args"))):
        args.extend(marker.args)
    param = getattr(request, "param", None)
    if isinstance(param, str):
        args.append(param)
    elif param:
        args.extend(param)
    return tuple(args)


@pytest.fixture(scope="session")
def launch_server(iotjobs_bin):
    """launch(workdir, *extra_args) -> a started Server. The caller stops it (for
    servers that outlive one test, e.g. a module-scoped fixture)."""

    def launch(workdir: Path, *extra_args: str, env=None) -> Server:
        srv = Server(iotjobs_bin, Path(workdir), extra_args, extra_env=env)
        srv.start()
        # Shown with the test's output if it fails.
        mqtt_ep = f", {srv.mqtt_endpoint}" if srv.mqtt_endpoint else ""
        print(f"iotjobs {srv.endpoint}{mqtt_ep}, database {srv.db_path}, log {srv.log_path}")
        return srv

    return launch


@pytest.fixture
def server(launch_server, tmp_path, request):
    srv = launch_server(tmp_path, *_server_args(request))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def server_factory(launch_server, tmp_path):
    """make(*extra_args, env=None) -> another started Server (own database, extra
    environment variables), stopped after the test."""
    started: list[Server] = []

    def make(*extra_args: str, env=None) -> Server:
        workdir = tmp_path / f"server-{len(started) + 1}"
        workdir.mkdir()
        srv = launch_server(workdir, *extra_args, env=env)
        started.append(srv)
        return srv

    try:
        yield make
    finally:
        for srv in started:
            srv.stop()


@pytest.fixture
def mqtt_server(launch_server, tmp_path, request):
    """A server that also serves devices over MQTT (plain TCP on loopback: development
    mode, client id = thing name). Extra arguments as for `server`."""
    srv = launch_server(tmp_path, MQTT_LISTEN_ARG, "127.0.0.1:0", *_server_args(request))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def devices(mqtt_server):
    """devices(kind, thing) -> a connected `mqtt_device.Device` (kinds: "v1-mqtt3",
    "v2-mqtt3", "v2-mqtt5", raw "mqtt3"/"mqtt5") on `mqtt_server`; all are closed after the
    test, before the server stops."""
    from mqtt_device import Devices  # awsiotsdk is only needed by the MQTT tests

    opened = Devices(lambda: mqtt_server.mqtt_port)
    try:
        yield opened
    finally:
        opened.close_all()


@pytest.fixture
def iot(server):
    return server.client("iot")


@pytest.fixture
def jobs_data(server):
    return server.client("iot-jobs-data")


@pytest.fixture
def iot_unchecked(server):
    """An `iot` client without botocore's client-side parameter validation, to send
    what the model forbids (maxResults=0, a too short expiresInSec, ...) to the server."""
    return server.client("iot", parameter_validation=False)


# ---------------------------------------------------------------------------
# The AWS CLI v1
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def aws_cli() -> Path:
    path = Path(os.environ.get("IOTJOBS_AWS_CLI") or REPO / ".venv" / "bin" / "aws").absolute()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"AWS CLI v1 not found at {path}: create the venv "
            "(python3 -m venv .venv && .venv/bin/pip install -r tests/python/requirements.txt) "
            "or set IOTJOBS_AWS_CLI",
            pytrace=False,
        )
    return path


def cli_runner(aws_cli: Path, server: Server, workdir: Path):
    """run(*args) -> (exit code, stdout, stderr) of `aws ARGS --endpoint-url URL`, in a
    clean environment (no host AWS configuration)."""
    env = _clean_env(workdir)

    def run(*args: str, timeout: float = 60):
        cmd = [str(aws_cli), *args, "--endpoint-url", server.endpoint]
        p = subprocess.run(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=workdir,
        )
        return p.returncode, p.stdout, p.stderr

    return run


@pytest.fixture
def aws(server, aws_cli, tmp_path):
    """run(*args) -> (exit code, stdout, stderr) of `aws ARGS --endpoint-url URL`."""
    return cli_runner(aws_cli, server, tmp_path)


@pytest.fixture(scope="session")
def aws_for(aws_cli):
    """aws_for(server, workdir) -> a CLI runner like `aws` for any server (e.g. a
    module-scoped one)."""

    def make(server: Server, workdir: Path):
        return cli_runner(aws_cli, server, Path(workdir))

    return make


# ---------------------------------------------------------------------------
# A private Mosquitto (MQTT through an external broker)
# ---------------------------------------------------------------------------

# iotjobs' own account at the broker (docs/mqtt-broker.md)
BROKER_USER = "iotjobs"
BROKER_PASSWORD = "iotjobs-test-secret"
# an operator's account at the broker: reads Jobs events (--mqtt-events), nothing else
BROKER_OPERATOR = "operator"
BROKER_OPERATOR_PASSWORD = "operator-test-secret"

# Two listeners with their own settings (docs/mqtt-broker.md): devices on one, with the
# device ACL (%c: client id = thing name; anonymous in the tests, certificates with
# use_identity_as_username and %u in production): a device may publish only its own four
# request topics and read its own jobs topics. iotjobs on the other, with a password and
# every thing's jobs topics. (One listener with a password file refuses the SDK's
# devices: the SDK sends a metrics username, `?SDK=Python…`, that is in no password file.)
MOSQUITTO_DEVICE_ACL = """\
pattern write $aws/things/%c/jobs/get
pattern write $aws/things/%c/jobs/start-next
pattern write $aws/things/%c/jobs/+/get
pattern write $aws/things/%c/jobs/+/update
pattern read $aws/things/%c/jobs/#
"""
MOSQUITTO_SERVICE_ACL = """\
user iotjobs
topic readwrite $aws/things/+/jobs/#
topic write $aws/events/#

user operator
topic read $aws/events/#
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """`mosquitto -c CONF` on two free loopback ports: `port` for devices (anonymous,
    device ACL) and `service_port` for iotjobs (password, service ACL). Stopped by
    `stop()`."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.service_port: int | None = None
        self.log_path = workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        """Where iotjobs connects."""
        return f"mqtt://127.0.0.1:{self.service_port}"

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        passwd_tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        if not os.access(binary, os.X_OK) or not os.access(passwd_tool, os.X_OK):
            pytest.fail("mosquitto / mosquitto_passwd not found: apt-get install mosquitto "
                        "(.ci/run does)", pytrace=False)
        passwd = self.workdir / "passwd"
        subprocess.run([passwd_tool, "-b", "-c", str(passwd), BROKER_USER, BROKER_PASSWORD],
                       check=True, capture_output=True, timeout=10)
        subprocess.run([passwd_tool, "-b", str(passwd), BROKER_OPERATOR,
                        BROKER_OPERATOR_PASSWORD], check=True, capture_output=True, timeout=10)
        device_acl = self.workdir / "acl-devices"
        device_acl.write_text(MOSQUITTO_DEVICE_ACL)
        service_acl = self.workdir / "acl-service"
        service_acl.write_text(MOSQUITTO_SERVICE_ACL)
        # a free port can be taken between the probe and the bind: try a few times
        for _ in range(3):
            self.port, self.service_port = _free_port(), _free_port()
            conf = self.workdir / "mosquitto.conf"
            conf.write_text(
                "per_listener_settings true\n"
                "persistence false\n"
                "log_dest stderr\n"
                "log_type all\n"
                # as root, mosquitto drops to user `mosquitto`, which cannot read the
                # private temporary directory
                + ("user root\n" if os.geteuid() == 0 else "")
                + f"\nlistener {self.port} 127.0.0.1\n"
                "allow_anonymous true\n"
                f"acl_file {device_acl}\n"
                f"\nlistener {self.service_port} 127.0.0.1\n"
                "allow_anonymous false\n"
                f"password_file {passwd}\n"
                f"acl_file {service_acl}\n"
            )
            log = open(self.log_path, "ab")
            try:
                self.proc = subprocess.Popen([binary, "-c", str(conf)], stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=log, cwd=self.workdir)
            finally:
                log.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    for port in (self.port, self.service_port):
                        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    return
                except OSError:
                    time.sleep(0.05)
            self.stop()
        pytest.fail(f"mosquitto did not start; log:\n{self.log()}", pytrace=False)

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@pytest.fixture
def mosquitto(tmp_path):
    """A private Mosquitto for this test (fresh sessions: no state leaks between tests)."""
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    print(f"mosquitto {broker.url}, log {broker.log_path}")
    try:
        yield broker
    finally:
        broker.stop()


# ---------------------------------------------------------------------------
# An S3-compatible server (documents in S3: `serve --s3-endpoint`)
# ---------------------------------------------------------------------------

# s3s-fs's own account: what the iotjobs server under test signs with (passed to it as
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, unlike the iotjobs key `test`/`test`)
S3_ACCESS_KEY = "s3-test-access-key"
S3_SECRET_KEY = "s3-test-secret-key"


def s3s_fs_binary() -> Path:
    """`s3s-fs` (0.14.1, `cargo install s3s-fs --version 0.14.1 --features binary --locked
    --root target/tools`, as scripts/test does): IOTJOBS_S3S_FS, else target/tools/bin/s3s-fs.
    A missing binary fails the test (never a skip: the S3 tests would silently vanish)."""
    path = Path(os.environ.get("IOTJOBS_S3S_FS") or REPO / "target" / "tools" / "bin" / "s3s-fs")
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"s3s-fs not found at {path}: install it with `cargo install s3s-fs --version "
            "0.14.1 --features binary --locked --root target/tools` (as .ci/run does) or point "
            "IOTJOBS_S3S_FS at it",
            pytrace=False,
        )
    return path.absolute()


class S3Server:
    """`s3s-fs` on a free loopback port, serving ROOT: bucket = directory of ROOT, object
    = file under it (`put` seeds one). It verifies SigV4 (header and presigned query
    forms, with expiry) for the one account S3_ACCESS_KEY / S3_SECRET_KEY."""

    def __init__(self, binary: Path, workdir: Path):
        self.binary = binary
        self.root = workdir / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "s3s-fs.log"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        for _ in range(3):  # a free port may be taken between asking and binding
            self.port = _free_port()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [str(self.binary), "--host", "127.0.0.1", "--port", str(self.port),
                     "--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY,
                     str(self.root)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    return
                except OSError:
                    time.sleep(0.05)
            self.stop()
        pytest.fail(f"s3s-fs did not start; log:\n{self.log()}", pytrace=False)

    def put(self, bucket: str, key: str, data: bytes) -> None:
        path = self.root / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """An s3s-fs for the test module (objects seeded with `put`)."""
    srv = S3Server(s3s_fs_binary(), tmp_path_factory.mktemp("s3s-fs"))
    srv.start()
    print(f"s3s-fs {srv.endpoint}, root {srv.root}, log {srv.log_path}")
    try:
        yield srv
    finally:
        srv.stop()
