"""A device for the MQTT tests: the real AWS IoT Device SDK v2 for Python (`awsiotsdk`,
`awscrt`) over plain TCP to `iotjobs serve --mqtt-listen`, client id = thing name.

Kinds of device (research note §3.2, §8):
  "v1-mqtt3"   awsiot.iotjobs.IotJobsClient    on an awscrt.mqtt.Connection (MQTT 3.1.1)
  "v2-mqtt3"   awsiot.iotjobs.IotJobsClientV2  on an awscrt.mqtt.Connection (MQTT 3.1.1)
  "v2-mqtt5"   awsiot.iotjobs.IotJobsClientV2  on an awscrt.mqtt5.Client    (MQTT 5)
  "mqtt3", "mqtt5"  no jobs client: raw publish/subscribe, for payloads no SDK sends

Every kind offers the same calls (`get_pending`, `start_next`, `describe`, `update`), which
return the SDK's response object or raise `Rejected` (an answer on `.../rejected`), and
`subscribe_notify()` / `subscribe_notify_next()`, which return an `EventLog` of the SDK's
event objects. Every publish the connection receives is also kept raw in `device.raw`, so
tests can check the wire payload (integer seconds, an object `jobDocument`, absent fields).

Always close devices (`with Device(...) as d:` or the `devices` fixture): a Python process
that exits with awscrt clients still running can abort (research note §2.8).
"""

from __future__ import annotations

import gc
import json
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable

import awsiot
from awscrt import io, mqtt, mqtt5, mqtt_request_response
from awsiot import iotjobs

KINDS = ("v1-mqtt3", "v2-mqtt3", "v2-mqtt5")
RAW_KINDS = ("mqtt3", "mqtt5")

CONNECT_TIMEOUT_S = 5
# V2 request-response operation timeout (the SDK's own); waits on futures add a margin
OPERATION_TIMEOUT_S = 5
WAIT_S = 5  # default for any awaited answer or notification
# Builder defaults of the SDK (research note §2.8): a device keeps these unless told
KEEP_ALIVE_S = 1200

AUTO = object()  # client_token default: a fresh uuid4 (V1) / the SDK's own uuid4 (V2)


def jobs_topic(thing: str, *levels: str) -> str:
    """`$aws/things/{thing}/jobs/{levels...}`"""
    return "/".join(("$aws/things", thing, "jobs", *levels))


class Rejected(Exception):
    """A request answered on `.../rejected`. `error` is the SDK's object (V1 `RejectedError`,
    V2 `V2ErrorResponse`): code, message, client_token, execution_state, timestamp."""

    def __init__(self, error, topic: str | None = None):
        super().__init__(f"rejected: code={error.code!r} message={error.message!r} on {topic}")
        self.error = error
        self.code = error.code
        self.topic = topic


class MqttTimeout(AssertionError):
    pass


class DeserializationFailure:
    """Recorded in an EventLog when the SDK could not parse a notification (e.g. a
    millisecond timestamp: `datetime.fromtimestamp` raises)."""

    def __init__(self, detail: Any):
        self.detail = detail

    def __repr__(self):
        return f"DeserializationFailure({self.detail!r})"


class EventLog:
    """Thread-safe append-only log with a read cursor. Callbacks of awscrt run on its own
    event-loop thread; tests read with `next()` / `wait_for()`."""

    def __init__(self, name: str):
        self.name = name
        self._items: list = []
        self._cv = threading.Condition()
        self.cursor = 0

    def append(self, item) -> None:
        with self._cv:
            self._items.append(item)
            self._cv.notify_all()

    @property
    def items(self) -> list:
        with self._cv:
            return list(self._items)

    def __len__(self):
        with self._cv:
            return len(self._items)

    def wait_for(self, pred: Callable[[Any], bool], *, since: int = 0, timeout: float = WAIT_S,
                 what: str = "a matching message"):
        """The first item at index >= since for which pred is true (waits for it)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for item in self._items[since:]:
                    if pred(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise MqttTimeout(
                        f"{self.name}: no {what} within {timeout}s; got {self._items[since:]!r}"
                    )
                self._cv.wait(left)

    def next(self, timeout: float = WAIT_S):
        """The item at the cursor (waits for it), and advance the cursor."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self._items) <= self.cursor:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise MqttTimeout(
                        f"{self.name}: no event within {timeout}s "
                        f"(received so far: {self._items!r})"
                    )
                self._cv.wait(left)
            item = self._items[self.cursor]
            self.cursor += 1
            return item

    def unread(self) -> list:
        with self._cv:
            return list(self._items[self.cursor:])


class RawLog(EventLog):
    """Every PUBLISH received by the connection, as (topic, payload bytes)."""

    def json(self, topic: str, *, pred: Callable[[dict], bool] | None = None, since: int = 0,
             timeout: float = WAIT_S) -> dict:
        """The JSON object of the first message on `topic` (matching pred)."""

        def match(item):
            t, p = item
            if t != topic:
                return False
            if pred is None:
                return True
            try:
                return pred(json.loads(p))
            except ValueError:
                return False

        _, payload = self.wait_for(match, since=since, timeout=timeout, what=f"message on {topic}")
        return json.loads(payload)

    def for_token(self, topic: str, token: str, timeout: float = WAIT_S) -> dict:
        return self.json(topic, pred=lambda d: d.get("clientToken") == token, timeout=timeout)

    def topics(self) -> list[str]:
        return [t for t, _ in self.items]


# ---------------------------------------------------------------------------------------


class MutualTls:
    """A device's client certificate and key (PEM files) and the CA that signs the
    server's certificate: the connection is mutual TLS, as with the SDK's
    `mtls_from_path` builders."""

    def __init__(self, cert: str, key: str, server_ca: str):
        self.cert, self.key, self.server_ca = cert, key, server_ca

    def context(self) -> io.ClientTlsContext:
        options = io.TlsContextOptions.create_client_with_mtls_from_path(self.cert, self.key)
        options.override_default_trust_store_from_path(ca_filepath=self.server_ca)
        return io.ClientTlsContext(options)


class Device:
    """One device connection with client id = `thing`. See the module docstring."""

    def __init__(self, kind: str, port: int, thing: str, host: str = "127.0.0.1",
                 username: str | None = None, password: str | None = None,
                 metrics: bool = True, tls: "MutualTls | None" = None):
        """`username`/`password`: sent in CONNECT (an operator's access key id and secret;
        devices send none). `metrics=False`: no `?SDK=...` query appended to the user name
        (awscrt appends it by default, which a broker's password file does not know)."""
        assert kind in KINDS + RAW_KINDS, kind
        self.tls = tls
        self.metrics = metrics
        self.username = username
        self.password = password
        self.kind = kind
        self.port = port
        self.host = host
        self.thing = thing
        self.protocol = "mqtt5" if kind.endswith("mqtt5") else "mqtt3"
        self.raw = RawLog(f"{thing} raw publishes")
        self.conn: mqtt.Connection | None = None  # mqtt3
        self.client5: mqtt5.Client | None = None  # mqtt5
        self.jobs = None  # IotJobsClient or IotJobsClientV2
        self.session_present = None
        self.last_client_token: str | None = None
        self._streams: list = []  # keep V2 streaming operations alive
        self._v1_subscribed: set[str] = set()
        self._v1_responses = EventLog(f"{thing} V1 responses")  # (topic, event or None)
        self._stopped5 = threading.Event()
        self._closed = False

    # -- connection ------------------------------------------------------------------

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()

    def connect(self) -> "Device":
        try:
            if self.protocol == "mqtt3":
                self._connect3()
            else:
                self._connect5()
            if self.kind == "v1-mqtt3":
                self.jobs = iotjobs.IotJobsClient(self.conn)
            elif self.kind.startswith("v2-"):
                self.jobs = iotjobs.IotJobsClientV2(
                    self.conn if self.protocol == "mqtt3" else self.client5,
                    mqtt_request_response.ClientOptions(
                        max_request_response_subscriptions=4,
                        max_streaming_subscriptions=4,
                        operation_timeout_in_seconds=OPERATION_TIMEOUT_S,
                    ),
                )
        except BaseException:
            self.close()
            raise
        return self

    def _connect3(self):
        client = mqtt.Client(io.ClientBootstrap.get_or_create_static_default(),
                             self.tls.context() if self.tls else None)
        self.conn = mqtt.Connection(
            client=client,
            host_name=self.host,
            port=self.port,
            client_id=self.thing,
            clean_session=False,  # the SDK builders' default
            keep_alive_secs=KEEP_ALIVE_S,
            username=self.username,
            password=self.password,
            disable_metrics=not self.metrics,
        )
        # every received publish, whatever subscription it matched
        self.conn.on_message(lambda topic, payload, **_: self.raw.append((topic, bytes(payload))))
        try:
            result = self.conn.connect().result(CONNECT_TIMEOUT_S)
        except FutureTimeout:
            raise MqttTimeout(
                f"MQTT 3.1.1 CONNECT as {self.thing!r} to {self.host}:{self.port}: no CONNACK "
                f"within {CONNECT_TIMEOUT_S}s"
            ) from None
        self.session_present = result.get("session_present")

    def _connect5(self):
        up: Future = Future()

        def on_success(data: mqtt5.LifecycleConnectSuccessData):
            if not up.done():
                up.set_result(data)

        def on_failure(data: mqtt5.LifecycleConnectFailureData):
            if not up.done():
                up.set_exception(
                    AssertionError(
                        f"MQTT 5 CONNECT as {self.thing!r} to {self.host}:{self.port} failed: "
                        f"{data.exception!r}, CONNACK {data.connack_packet!r}"
                    )
                )

        def on_publish(data: mqtt5.PublishReceivedData):
            p = data.publish_packet
            payload = p.payload if isinstance(p.payload, bytes) else (p.payload or b"")
            self.raw.append((p.topic, bytes(payload)))

        self.client5 = mqtt5.Client(
            mqtt5.ClientOptions(
                host_name=self.host,
                port=self.port,
                connect_options=mqtt5.ConnectPacket(
                    client_id=self.thing, keep_alive_interval_sec=KEEP_ALIVE_S,
                    username=self.username,
                    password=self.password.encode() if self.password is not None else None,
                ),
                on_publish_callback_fn=on_publish,
                disable_metrics=not self.metrics,
                tls_ctx=self.tls.context() if self.tls else None,
                on_lifecycle_event_connection_success_fn=on_success,
                on_lifecycle_event_connection_failure_fn=on_failure,
                on_lifecycle_event_stopped_fn=lambda _data: self._stopped5.set(),
            )
        )
        self.client5.start()
        try:
            data = up.result(CONNECT_TIMEOUT_S)
        except FutureTimeout:
            raise MqttTimeout(
                f"MQTT 5 CONNECT as {self.thing!r} to {self.host}:{self.port}: not connected "
                f"within {CONNECT_TIMEOUT_S}s"
            ) from None
        self.session_present = data.connack_packet.session_present

    def close(self) -> None:
        """Drop the jobs client and its streams, then disconnect (mqtt3) / stop (mqtt5) and
        wait for it. Idempotent, never raises."""
        if self._closed:
            return
        self._closed = True
        self._streams.clear()
        self.jobs = None
        gc.collect()
        try:
            if self.conn is not None:
                self.conn.disconnect().result(CONNECT_TIMEOUT_S)
        except Exception:
            pass
        try:
            if self.client5 is not None:
                self.client5.stop()
                self._stopped5.wait(CONNECT_TIMEOUT_S)
        except Exception:
            pass
        self.conn = None
        self.client5 = None
        gc.collect()

    # -- raw MQTT ----------------------------------------------------------------------

    def subscribe_raw(self, topic: str, qos: int = 1) -> int:
        """SUBSCRIBE one filter. Returns the granted QoS; raises SubscribeRefused on a SUBACK
        failure (0x80 in 3.1.1, a reason code >= 0x80 in 5)."""
        if self.protocol == "mqtt3":
            fut, _ = self.conn.subscribe(topic, mqtt.QoS(qos))
            try:
                return int(fut.result(WAIT_S)["qos"])
            except mqtt.SubscribeError as e:
                raise SubscribeRefused(topic, e) from None
        suback = self.client5.subscribe(
            mqtt5.SubscribePacket([mqtt5.Subscription(topic_filter=topic, qos=mqtt5.QoS(qos))])
        ).result(WAIT_S)
        code = int(suback.reason_codes[0])
        if code >= 0x80:
            raise SubscribeRefused(topic, suback.reason_codes[0])
        return code

    def publish_raw(self, topic: str, payload: bytes, qos: int = 1):
        """PUBLISH and wait for the PUBACK (QoS 1). Returns the MQTT 5 PUBACK reason code
        (None for 3.1.1)."""
        if self.protocol == "mqtt3":
            fut, _ = self.conn.publish(topic, payload, mqtt.QoS(qos))
            fut.result(WAIT_S)
            return None
        done = self.client5.publish(
            mqtt5.PublishPacket(topic=topic, payload=payload, qos=mqtt5.QoS(qos))
        ).result(WAIT_S)
        return done.puback.reason_code if done.puback is not None else None

    def raw_request(self, topic: str, payload: bytes, *, answer: str, timeout: float = WAIT_S):
        """Subscribe to `topic/accepted` and `topic/rejected` (once), publish `payload` at
        QoS 1, and return (suffix, JSON) of the first answer after it: suffix is `answer`'s
        counterpart actually received ("accepted" or "rejected")."""
        for suffix in ("accepted", "rejected"):
            t = f"{topic}/{suffix}"
            if t not in self._v1_subscribed:
                granted = self.subscribe_raw(t, 1)
                assert granted == 1, f"SUBSCRIBE {t} at QoS 1 granted QoS {granted}"
                self._v1_subscribed.add(t)
        mark = len(self.raw)
        self.publish_raw(topic, payload, 1)
        t, p = self.raw.wait_for(
            lambda item: item[0] in (f"{topic}/accepted", f"{topic}/rejected"),
            since=mark,
            timeout=timeout,
            what=f"answer on {topic}/{{accepted,rejected}} (expected {answer})",
        )
        return t.rsplit("/", 1)[1], json.loads(p)

    # -- jobs requests (same interface for V1 and V2) ----------------------------------

    def get_pending(self, client_token=AUTO):
        req = iotjobs.GetPendingJobExecutionsRequest(thing_name=self.thing)
        return self._request("get_pending", None, req, client_token)

    def start_next(self, client_token=AUTO, **fields):
        """fields: status_details, step_timeout_in_minutes"""
        req = iotjobs.StartNextPendingJobExecutionRequest(thing_name=self.thing, **fields)
        return self._request("start_next", None, req, client_token)

    def describe(self, job_id: str, client_token=AUTO, **fields):
        """fields: execution_number, include_job_document. job_id may be "$next"."""
        req = iotjobs.DescribeJobExecutionRequest(thing_name=self.thing, job_id=job_id, **fields)
        return self._request("describe", job_id, req, client_token)

    def update(self, job_id: str, status: str, client_token=AUTO, **fields):
        """fields: status_details, expected_version, execution_number,
        include_job_execution_state, include_job_document, step_timeout_in_minutes"""
        req = iotjobs.UpdateJobExecutionRequest(
            thing_name=self.thing, job_id=job_id, status=status, **fields
        )
        return self._request("update", job_id, req, client_token)

    def response_topic(self, op: str, job_id: str | None, suffix: str) -> str:
        levels = {
            "get_pending": ["get"],
            "start_next": ["start-next"],
            "describe": [job_id, "get"],
            "update": [job_id, "update"],
        }[op]
        return jobs_topic(self.thing, *levels, suffix)

    def _request(self, op, job_id, req, client_token):
        if self.jobs is None:
            raise AssertionError(f"{self.kind} device has no jobs client")
        if self.kind == "v1-mqtt3":
            return self._v1_request(op, job_id, req, client_token)
        return self._v2_request(op, job_id, req, client_token)

    def _v2_request(self, op, job_id, req, client_token):
        assert client_token is AUTO, "IotJobsClientV2 always sends its own uuid4 clientToken"
        call = {
            "get_pending": self.jobs.get_pending_job_executions,
            "start_next": self.jobs.start_next_pending_job_execution,
            "describe": self.jobs.describe_job_execution,
            "update": self.jobs.update_job_execution,
        }[op]
        fut = call(req)
        self.last_client_token = req.client_token  # set by the SDK
        try:
            return fut.result(OPERATION_TIMEOUT_S + 5)
        except FutureTimeout:
            raise MqttTimeout(f"{op}: the SDK's future did not complete") from None
        except awsiot.V2ServiceException as e:
            if e.modeled_error is not None:
                raise Rejected(e.modeled_error, self.response_topic(op, job_id, "rejected")) from None
            raise AssertionError(
                f"{self.kind} {op} failed without an answer: {e.message}: {e.inner_error!r} "
                f"(AWS_ERROR_MQTT_REQUEST_RESPONSE_TIMEOUT means no answer carrying the request's "
                f"clientToken arrived on .../accepted or .../rejected; a ValueError means the "
                f"answer did not deserialize). Raw publishes received: {self.raw.items!r}"
            ) from None

    def _v1_request(self, op, job_id, req, client_token):
        j = self.jobs
        qos = mqtt.QoS.AT_LEAST_ONCE
        sub_req = {
            "get_pending": lambda: iotjobs.GetPendingJobExecutionsSubscriptionRequest(
                thing_name=self.thing),
            "start_next": lambda: iotjobs.StartNextPendingJobExecutionSubscriptionRequest(
                thing_name=self.thing),
            "describe": lambda: iotjobs.DescribeJobExecutionSubscriptionRequest(
                thing_name=self.thing, job_id=job_id),
            "update": lambda: iotjobs.UpdateJobExecutionSubscriptionRequest(
                thing_name=self.thing, job_id=job_id),
        }[op]()
        subscribe = {
            "get_pending": (j.subscribe_to_get_pending_job_executions_accepted,
                            j.subscribe_to_get_pending_job_executions_rejected),
            "start_next": (j.subscribe_to_start_next_pending_job_execution_accepted,
                           j.subscribe_to_start_next_pending_job_execution_rejected),
            "describe": (j.subscribe_to_describe_job_execution_accepted,
                         j.subscribe_to_describe_job_execution_rejected),
            "update": (j.subscribe_to_update_job_execution_accepted,
                       j.subscribe_to_update_job_execution_rejected),
        }[op]
        publish = {
            "get_pending": j.publish_get_pending_job_executions,
            "start_next": j.publish_start_next_pending_job_execution,
            "describe": j.publish_describe_job_execution,
            "update": j.publish_update_job_execution,
        }[op]
        accepted = self.response_topic(op, job_id, "accepted")
        rejected = self.response_topic(op, job_id, "rejected")
        for fn, topic in zip(subscribe, (accepted, rejected)):
            if topic in self._v1_subscribed:
                continue
            fut, _ = fn(sub_req, qos, lambda ev, t=topic: self._v1_responses.append((t, ev)))
            try:
                granted = fut.result(WAIT_S)
            except mqtt.SubscribeError as e:
                raise SubscribeRefused(topic, e) from None
            assert granted == qos, f"SUBSCRIBE {topic} at QoS 1 granted {granted!r}"
            self._v1_subscribed.add(topic)

        token = str(uuid.uuid4()) if client_token is AUTO else client_token
        req.client_token = token
        self.last_client_token = token
        mark = len(self._v1_responses)
        try:
            publish(req, qos).result(WAIT_S)  # PUBACK
        except FutureTimeout:
            raise MqttTimeout(f"{op}: no PUBACK for the QoS 1 request within {WAIT_S}s") from None

        def match(item):
            topic, ev = item
            if topic not in (accepted, rejected):
                return False
            if ev is None:  # the SDK could not deserialize it: fail below with the raw payload
                return True
            return token is None or ev.client_token == token

        topic, ev = self._v1_responses.wait_for(
            match, since=mark, what=f"answer with clientToken {token!r} on {accepted} or {rejected}"
        )
        if ev is None:
            raise AssertionError(
                f"the V1 SDK could not deserialize an answer on {topic}; raw publishes: "
                f"{self.raw.items!r}"
            )
        if topic == rejected:
            raise Rejected(ev, topic)
        return ev

    # -- notifications -----------------------------------------------------------------

    def subscribe_notify(self) -> EventLog:
        """JobExecutionsChanged events (`.../notify`) as `JobExecutionsChangedEvent`s.
        Returns once the subscription is acknowledged."""
        return self._subscribe_notification("notify")

    def subscribe_notify_next(self) -> EventLog:
        """NextJobExecutionChanged events (`.../notify-next`) as
        `NextJobExecutionChangedEvent`s. Returns once the subscription is acknowledged."""
        return self._subscribe_notification("notify-next")

    def _subscribe_notification(self, which: str) -> EventLog:
        log = EventLog(f"{self.thing} {which} ({self.kind})")
        topic = jobs_topic(self.thing, which)
        if self.kind == "v1-mqtt3":
            if which == "notify":
                fn = self.jobs.subscribe_to_job_executions_changed_events
                req = iotjobs.JobExecutionsChangedSubscriptionRequest(thing_name=self.thing)
            else:
                fn = self.jobs.subscribe_to_next_job_execution_changed_events
                req = iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=self.thing)

            def on_event(ev):
                log.append(ev if ev is not None else DeserializationFailure(topic))

            fut, _ = fn(req, mqtt.QoS.AT_LEAST_ONCE, on_event)
            try:
                granted = fut.result(WAIT_S)
            except mqtt.SubscribeError as e:
                raise SubscribeRefused(topic, e) from None
            assert granted == mqtt.QoS.AT_LEAST_ONCE, f"SUBSCRIBE {topic} granted {granted!r}"
            return log

        if self.kind.startswith("v2-"):
            status: Future = Future()

            def on_status(ev: mqtt_request_response.SubscriptionStatusEvent):
                if status.done():
                    return
                if ev.type == mqtt_request_response.SubscriptionStatusEventType.SUBSCRIPTION_ESTABLISHED:
                    status.set_result(True)
                else:
                    status.set_exception(AssertionError(f"{topic} stream: {ev.type!r} {ev.error!r}"))

            opts = awsiot.ServiceStreamOptions(
                incoming_event_listener=log.append,
                subscription_status_listener=on_status,
                deserialization_failure_listener=lambda f: log.append(
                    DeserializationFailure((f.inner_error, f.payload))
                ),
            )
            if which == "notify":
                stream = self.jobs.create_job_executions_changed_stream(
                    iotjobs.JobExecutionsChangedSubscriptionRequest(thing_name=self.thing), opts)
            else:
                stream = self.jobs.create_next_job_execution_changed_stream(
                    iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=self.thing), opts)
            stream.open()
            self._streams.append(stream)
            try:
                status.result(WAIT_S)
            except FutureTimeout:
                raise MqttTimeout(f"{topic} stream not established within {WAIT_S}s") from None
            return log
        raise AssertionError(f"{self.kind} device has no jobs client")


class SubscribeRefused(AssertionError):
    def __init__(self, topic, detail):
        super().__init__(f"SUBSCRIBE {topic} refused: {detail!r}")
        self.topic = topic
        self.detail = detail


class Devices:
    """Opens devices and closes all of them at the end (the `devices` fixture)."""

    def __init__(self, port_fn: Callable[[], int],
                 tls_for: Callable[[str], MutualTls] | None = None):
        """tls_for(thing): the thing's certificate, for devices over mutual TLS."""
        self._port_fn = port_fn
        self._tls_for = tls_for
        self.opened: list[Device] = []

    def __call__(self, kind: str, thing: str, **credentials) -> Device:
        """credentials: `username=`, `password=` (see `Device`)."""
        if self._tls_for is not None:
            credentials.setdefault("tls", self._tls_for(thing))
            credentials.setdefault("host", "localhost")  # the server certificate's name
        d = Device(kind, self._port_fn(), thing, **credentials)
        self.opened.append(d)
        return d.connect()

    def close_all(self):
        for d in reversed(self.opened):
            d.close()
