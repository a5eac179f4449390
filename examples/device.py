"""A device that runs AWS IoT Jobs against iotjobs over MQTT, with the AWS IoT Device SDK
v2 for Python, unchanged (pip install awsiotsdk).

    python examples/device.py --thing dev1 --port 1883

It listens on notify-next, takes the next job (start-next: IN_PROGRESS), "works" on it
(reports progress every second), and stops when the job is finished or when the operator
cancels it: notify-next then no longer names the job, and the device's next update is
refused with InvalidStateTransition. It prints one line per event, ending with
`done: SUCCEEDED` or `InvalidStateTransition: CANCELED`.

Plain TCP (iotjobs serves it on loopback only, the client id is the thing name); against
AWS IoT or a TLS endpoint, build the connection with awsiot.mqtt5_client_builder instead.
"""

import argparse
import gc
import queue
import sys
from concurrent.futures import Future

import awsiot
from awscrt import mqtt5, mqtt_request_response
from awsiot import iotjobs


def connect(host: str, port: int, thing: str) -> mqtt5.Client:
    connected: Future = Future()
    client = mqtt5.Client(mqtt5.ClientOptions(
        host_name=host, port=port,
        connect_options=mqtt5.ConnectPacket(client_id=thing, keep_alive_interval_sec=30),
        on_lifecycle_event_connection_success_fn=(
            lambda _: connected.done() or connected.set_result(True)),
    ))
    client.start()
    connected.result(10)
    return client


def main() -> int:
    args = argparse.ArgumentParser()
    args.add_argument("--thing", required=True)
    args.add_argument("--host", default="127.0.0.1")
    args.add_argument("--port", type=int, default=1883)
    args.add_argument("--work-seconds", type=int, default=30, help="how long a job takes")
    opts = args.parse_args()

    client = connect(opts.host, opts.port, opts.thing)
    jobs = iotjobs.IotJobsClientV2(
        client, mqtt_request_response.ClientOptions(
            max_request_response_subscriptions=4, max_streaming_subscriptions=2,
            operation_timeout_in_seconds=10))
    next_changes: queue.Queue = queue.Queue()
    subscribed: Future = Future()
    stream = jobs.create_next_job_execution_changed_stream(
        iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=opts.thing),
        awsiot.ServiceStreamOptions(
            incoming_event_listener=next_changes.put,
            subscription_status_listener=(
                lambda _: subscribed.done() or subscribed.set_result(True))))
    stream.open()
    subscribed.result(10)
    try:
        # A job may already be waiting: ask, then wait for notify-next if none is.
        execution = jobs.start_next_pending_job_execution(
            iotjobs.StartNextPendingJobExecutionRequest(thing_name=opts.thing)).result(10).execution
        while execution is None:
            event = next_changes.get(timeout=60)
            if event.execution is not None:
                execution = jobs.start_next_pending_job_execution(
                    iotjobs.StartNextPendingJobExecutionRequest(
                        thing_name=opts.thing)).result(10).execution
        job_id, version = execution.job_id, execution.version_number
        print(f"started: {job_id} {execution.job_document}", flush=True)
        for step in range(opts.work_seconds):
            try:
                event = next_changes.get(timeout=1)
                if event.execution is None or event.execution.job_id != job_id:
                    print(f"notify-next: {job_id} is no longer next", flush=True)
            except queue.Empty:
                pass
            try:
                jobs.update_job_execution(iotjobs.UpdateJobExecutionRequest(
                    thing_name=opts.thing, job_id=job_id, status="IN_PROGRESS",
                    expected_version=version, status_details={"step": str(step)})).result(10)
                version += 1
            except awsiot.V2ServiceException as e:
                if e.modeled_error is None:
                    raise
                # InvalidStateTransition: the operator canceled (or the job timed out);
                # the rejection carries the execution's state.
                state = e.modeled_error.execution_state
                print(f"{e.modeled_error.code}: {state.status if state else '?'}", flush=True)
                return 0
        jobs.update_job_execution(iotjobs.UpdateJobExecutionRequest(
            thing_name=opts.thing, job_id=job_id, status="SUCCEEDED",
            expected_version=version)).result(10)
        print("done: SUCCEEDED", flush=True)
        return 0
    finally:
        # Release the SDK's stream and jobs client before stopping the MQTT client.
        del stream, jobs
        gc.collect()
        client.stop()


if __name__ == "__main__":
    sys.exit(main())
