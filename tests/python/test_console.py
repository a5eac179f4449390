"""The web console (issue 16), in headless Chromium (Debian's `chromium`, driven by
Playwright): a client of the public API that signs its own requests with the user's key.

Each test drives the real server (`iotjobs serve` on 127.0.0.1:0, keys from a
`--credentials` file with an admin, an operator and a device key) and checks what the
console shows against the AWS CLI v1 and boto3 on the same server:

- sign-in with an access key, the account and role shown; by keyboard alone;
- a job created through the AWS CLI, with its progress bar, updated live while a device
  works on it;
- an execution canceled through the console, verified with the AWS CLI;
- a refused cancel (IN_PROGRESS without force) shows the AWS error, and nothing changes;
- a device-role key sees no control-plane page;
- a job created through the console (the document editor refuses invalid JSON);
- the console fetches nothing but the server's own files and API (no CDN);
- screenshots of the main pages, on a laptop and a phone (`IOTJOBS_CONSOLE_SCREENSHOTS`
  = a directory keeps them, as `docs/console.md` shows them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from iotjobs_helpers import REGION

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError as e:  # pragma: no cover - the venv installs it
    raise RuntimeError(
        "Playwright is missing: .venv/bin/pip install -r tests/python/requirements.txt"
    ) from e

ACCOUNT = "000000000000"
ADMIN = ("test", "test")
OPERATOR = ("AKCONSOLEOP", "secret-console-op")
DEVICE = ("AKCONSOLEDEV", "secret-console-dev")
DEVICE_THING = "console-thing-1"

CREDENTIALS = f"""
[[keys]]
access_key_id = "{ADMIN[0]}"
secret_access_key = "{ADMIN[1]}"
account_id = "{ACCOUNT}"
role = "admin"

[[keys]]
access_key_id = "{OPERATOR[0]}"
secret_access_key = "{OPERATOR[1]}"
account_id = "{ACCOUNT}"
role = "operator"

[[keys]]
access_key_id = "{DEVICE[0]}"
secret_access_key = "{DEVICE[1]}"
account_id = "{ACCOUNT}"
role = "device"
thing_name = "{DEVICE_THING}"
"""


def chromium_path() -> str:
    path = os.environ.get("IOTJOBS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail(
            f"Chromium not found at {path}: install Debian's chromium (.ci/run does) "
            "or set IOTJOBS_CHROMIUM",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def console_server(launch_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("console")
    creds = workdir / "credentials.toml"
    creds.write_text(CREDENTIALS)
    srv = launch_server(workdir, "--credentials", str(creds))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def cli_run(console_server, aws_for, tmp_path_factory):
    """run(*args) -> (exit code, stdout, stderr) of `aws ARGS` with the admin key."""
    run = aws_for(console_server, tmp_path_factory.mktemp("cli"))
    return lambda *args: run(*args, "--region", REGION, "--output", "json")


@pytest.fixture(scope="module")
def cli(cli_run):
    """run(*args) -> parsed JSON of `aws ARGS` (admin key); fails on a non-zero exit."""

    def call(*args: str):
        code, out, err = cli_run(*args)
        assert code == 0, f"aws {' '.join(args)} exited {code}: {err}"
        return json.loads(out) if out.strip() else None

    return call


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # the CI machine runs tests as root, where Chromium's sandbox cannot start
            args=["--no-sandbox"],
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, console_server):
    """A fresh tab (its own sessionStorage) on the console, recording every request it
    makes and every error its scripts log."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.requests_seen = []
    pg.console_errors = []
    pg.on("request", lambda r: pg.requests_seen.append(r.url))
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    pg.goto(f"{console_server.endpoint}/console")
    try:
        yield pg
    finally:
        context.close()


def sign_in(page: Page, key: tuple[str, str]) -> None:
    page.get_by_label("Access key ID").fill(key[0])
    page.get_by_label("Secret access key").fill(key[1])
    page.get_by_label("Region").fill(REGION)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#whoami")).to_contain_text(f"Account {ACCOUNT}")


def progress_label(page: Page, job_id: str):
    return page.get_by_label(re.compile(rf"^Progress of {re.escape(job_id)}:")).first


def make_things(cli, *names: str) -> list[str]:
    arns = []
    for name in names:
        arns.append(cli("iot", "create-thing", "--thing-name", name)["thingArn"])
    return arns


def create_job(cli, job_id: str, arns: list[str]) -> None:
    cli("iot", "create-job", "--job-id", job_id, "--targets", *arns,
        "--document", json.dumps({"operation": "reboot"}))


# ---------------------------------------------------------------------------


def test_sign_in_shows_account_and_role(page):
    sign_in(page, OPERATOR)
    expect(page.locator("#whoami")).to_contain_text("Role operator")
    # the jobs list is the page after sign-in
    expect(page.locator("table caption", has_text="Jobs")).to_be_visible()
    # the key is kept for the tab only
    stored = page.evaluate("() => JSON.stringify(Object.assign({}, window.localStorage))")
    assert OPERATOR[1] not in stored
    assert page.console_errors == []


def test_sign_in_by_keyboard_alone(page):
    page.get_by_label("Access key ID").focus()
    page.keyboard.type(OPERATOR[0])
    page.keyboard.press("Tab")
    page.keyboard.type(OPERATOR[1])
    page.keyboard.press("Enter")
    expect(page.locator("#whoami")).to_contain_text("Role operator")


def test_a_wrong_secret_shows_the_aws_error(page):
    sign_in_fields = (OPERATOR[0], "not-the-secret")
    page.get_by_label("Access key ID").fill(sign_in_fields[0])
    page.get_by_label("Secret access key").fill(sign_in_fields[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("InvalidSignatureException:")
    expect(page.locator("#whoami")).not_to_contain_text("Account")


def test_job_created_with_the_cli_shows_its_progress_live(page, cli, console_server):
    arns = make_things(cli, "prog-1", "prog-2", "prog-3")
    create_job(cli, "console-progress", arns)
    data = console_server.client("iot-jobs-data")
    data.start_next_pending_job_execution(thingName="prog-1")
    data.update_job_execution(thingName="prog-1", jobId="console-progress", status="SUCCEEDED")
    data.start_next_pending_job_execution(thingName="prog-2")

    sign_in(page, OPERATOR)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="console-progress"))
    expect(row).to_contain_text("IN_PROGRESS")
    bar = progress_label(page, "console-progress")
    expect(bar).to_have_attribute("aria-label", re.compile(r"1 succeeded"))
    expect(bar).to_have_attribute("aria-label", re.compile(r"1 in progress"))
    expect(bar).to_have_attribute("aria-label", re.compile(r"1 queued"))

    # a device works on while the page is open: the bar follows without a reload
    data.update_job_execution(thingName="prog-2", jobId="console-progress", status="FAILED")
    expect(bar).to_have_attribute("aria-label", re.compile(r"1 failed"), timeout=10_000)

    # the job's own page: document, counters, executions
    page.get_by_role("link", name="console-progress").click()
    expect(page.get_by_role("heading", name="Job console-progress")).to_be_visible()
    expect(page.locator("pre").first).to_contain_text('"operation"')
    executions = page.locator("table", has=page.locator("caption", has_text="Executions"))
    expect(executions.get_by_role("link")).to_have_count(3)
    page.get_by_label("Execution status").select_option("SUCCEEDED")
    expect(executions.get_by_role("link")).to_have_count(1)
    expect(executions.get_by_role("link", name="prog-1")).to_be_visible()
    assert page.console_errors == []


def test_cancel_an_execution_through_the_console(page, cli):
    arns = make_things(cli, "cancel-1", "cancel-2")
    create_job(cli, "console-cancel", arns)
    sign_in(page, OPERATOR)
    page.goto(page.url.split("#")[0] + "#/jobs/console-cancel/things/cancel-1")
    expect(page.get_by_role("heading", name="Execution of console-cancel on cancel-1")).to_be_visible()
    expect(page.locator("dl")).to_contain_text("QUEUED")
    page.get_by_role("button", name="Cancel execution").click()
    page.get_by_role("button", name="Confirm cancel execution").click()
    expect(page.locator("dl")).to_contain_text("CANCELED")

    # what the AWS CLI sees
    out = cli("iot", "describe-job-execution", "--job-id", "console-cancel",
              "--thing-name", "cancel-1")
    assert out["execution"]["status"] == "CANCELED"
    out = cli("iot", "describe-job-execution", "--job-id", "console-cancel",
              "--thing-name", "cancel-2")
    assert out["execution"]["status"] == "QUEUED"
    # the execution's history, from the audit log
    expect(page.locator("section", has=page.get_by_role("heading", name="History"))).to_contain_text(
        "CANCELED")


def test_a_refused_cancel_shows_the_aws_error(page, cli, cli_run, console_server):
    arns = make_things(cli, "busy-1")
    create_job(cli, "console-refused", arns)
    console_server.client("iot-jobs-data").start_next_pending_job_execution(thingName="busy-1")
    sign_in(page, OPERATOR)
    page.goto(page.url.split("#")[0] + "#/jobs/console-refused/things/busy-1")
    expect(page.locator("dl")).to_contain_text("IN_PROGRESS")
    page.get_by_role("button", name="Cancel execution").click()
    page.get_by_role("button", name="Confirm cancel execution").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("InvalidStateTransitionException:")

    # the same request through the AWS CLI is refused with the same code
    code, _, err = cli_run("iot", "cancel-job-execution",
                           "--job-id", "console-refused", "--thing-name", "busy-1")
    assert code != 0 and "InvalidStateTransitionException" in err
    out = cli("iot", "describe-job-execution", "--job-id", "console-refused",
              "--thing-name", "busy-1")
    assert out["execution"]["status"] == "IN_PROGRESS"

    # with Force it goes through
    page.get_by_label("Force").check()
    page.get_by_role("button", name="Confirm cancel execution").click()
    expect(page.locator("dl")).to_contain_text("CANCELED")
    out = cli("iot", "describe-job-execution", "--job-id", "console-refused",
              "--thing-name", "busy-1")
    assert out["execution"]["status"] == "CANCELED"
    assert out["execution"]["forceCanceled"] is True


def test_a_device_key_sees_no_control_plane_page(page, cli, console_server):
    arns = make_things(cli, DEVICE_THING)
    create_job(cli, "console-device", arns)
    sign_in(page, DEVICE)
    expect(page.locator("#whoami")).to_contain_text("Role device")
    base = page.url.split("#")[0]
    for route in ("#/jobs", "#/jobs/console-device", "#/create", "#/things", "#/groups",
                  "#/templates", "#/audit", f"#/jobs/console-device/things/{DEVICE_THING}"):
        page.goto(base + route)
        expect(page.get_by_role("alert")).to_contain_text(
            "This key's role (device) cannot use the control plane.")
        expect(page.locator("table")).to_have_count(0)
    # it asked the server for nothing but its own files and who the key is
    paths = {u[len(console_server.endpoint):].split("?")[0] for u in page.requests_seen}
    assert {p for p in paths if not p.startswith("/console")} == {"/iotjobs-api/whoami"}


def test_create_a_job_in_the_console(page, cli):
    make_things(cli, "new-1", "new-2")
    sign_in(page, OPERATOR)
    page.get_by_role("link", name="Create job").click()
    page.get_by_label("Job ID").fill("console-created")
    page.get_by_label("Things").select_option(label="new-1")
    document = page.get_by_label("Document (JSON)")
    document.fill('{"operation": ')
    expect(page.get_by_role("alert")).to_contain_text("Document is not valid JSON")
    expect(page.get_by_role("button", name="Create job")).to_be_disabled()
    document.fill('{"operation": "update", "version": 2}')
    expect(page.get_by_role("alert")).to_have_count(0)
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("heading", name="Job console-created")).to_be_visible()

    out = cli("iot", "describe-job", "--job-id", "console-created")
    assert out["job"]["targets"] == [
        cli("iot", "describe-thing", "--thing-name", "new-1")["thingArn"]]
    doc = cli("iot", "get-job-document", "--job-id", "console-created")["document"]
    assert json.loads(doc) == {"operation": "update", "version": 2}


def test_the_console_loads_nothing_from_elsewhere(page, console_server):
    sign_in(page, OPERATOR)
    for route in ("#/things", "#/groups", "#/templates", "#/audit", "#/create", "#/jobs"):
        page.goto(page.url.split("#")[0] + route)
        page.wait_for_load_state("networkidle")
    foreign = [u for u in page.requests_seen if not u.startswith(console_server.endpoint)]
    assert foreign == []
    assert page.console_errors == []


def test_screenshots_of_the_main_pages(browser, console_server, cli, tmp_path):
    """The pictures in docs/console.md: each page renders, on a laptop and a phone."""
    arns = make_things(cli, "shot-1", "shot-2", "shot-3", "shot-4")
    create_job(cli, "firmware-v2", arns)
    data = console_server.client("iot-jobs-data")
    data.start_next_pending_job_execution(thingName="shot-1")
    data.update_job_execution(thingName="shot-1", jobId="firmware-v2", status="SUCCEEDED")
    data.start_next_pending_job_execution(thingName="shot-2")
    data.update_job_execution(thingName="shot-2", jobId="firmware-v2", status="IN_PROGRESS",
                              statusDetails={"progress": "40%"})
    out = Path(os.environ.get("IOTJOBS_CONSOLE_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    shots = {
        "sign-in": None,
        "jobs": "#/jobs",
        "job": "#/jobs/firmware-v2",
        "execution": "#/jobs/firmware-v2/things/shot-2",
        "create-job": "#/create",
    }
    for device, viewport in (("laptop", {"width": 1280, "height": 860}),
                             ("phone", {"width": 390, "height": 844})):
        context = browser.new_context(viewport=viewport)
        pg = context.new_page()
        pg.goto(f"{console_server.endpoint}/console")
        for name, route in shots.items():
            if route is None:
                path = out / f"{name}-{device}.png"
                pg.screenshot(path=str(path), full_page=True)
                sign_in(pg, OPERATOR)
                continue
            pg.goto(pg.url.split("#")[0] + route)
            pg.wait_for_load_state("networkidle")
            if name == "execution":
                expect(pg.locator("dl")).to_contain_text("IN_PROGRESS")
            path = out / f"{name}-{device}.png"
            pg.screenshot(path=str(path), full_page=(device == "laptop"))
            assert path.stat().st_size > 5_000, f"{path} is nearly empty"
        if device == "phone":
            # readable on a phone: nothing wider than the screen but scrollable tables
            width = pg.evaluate("() => document.documentElement.scrollWidth")
            assert width <= viewport["width"] + 1, f"page is {width}px wide on a phone"
        context.close()


def test_cancel_and_delete_a_job_in_the_console(page, cli, cli_run):
    arns = make_things(cli, "jobcancel-1", "jobcancel-2")
    create_job(cli, "console-job-cancel", arns)
    create_job(cli, "console-job-delete", arns)
    sign_in(page, OPERATOR)
    base = page.url.split("#")[0]

    page.goto(base + "#/jobs/console-job-cancel")
    page.get_by_role("button", name="Cancel job").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Reason code").fill("FIRMWARE_RECALLED")
    dialog.get_by_label("Comment").fill("v2 bricks the bootloader")
    page.get_by_role("button", name="Confirm cancel job").click()
    executions = page.locator("table", has=page.locator("caption", has_text="Executions"))
    expect(executions).to_contain_text("CANCELED")
    job = cli("iot", "describe-job", "--job-id", "console-job-cancel")["job"]
    assert job["status"] == "CANCELED"
    assert job["reasonCode"] == "FIRMWARE_RECALLED"
    assert job["comment"] == "v2 bricks the bootloader"

    # DeleteJob of an IN_PROGRESS job needs force: the console shows the refusal
    page.goto(base + "#/jobs/console-job-delete")
    expect(page.get_by_role("heading", name="Job console-job-delete")).to_be_visible()
    page.get_by_role("button", name="Delete job").click()
    page.get_by_role("button", name="Confirm delete job").click()
    expect(page.get_by_role("alert")).to_contain_text("InvalidStateTransitionException:")
    assert cli("iot", "describe-job", "--job-id", "console-job-delete")["job"]["status"] == "IN_PROGRESS"
    page.locator("dialog[open]").get_by_label("Force").check()
    page.get_by_role("button", name="Confirm delete job").click()
    expect(page).to_have_url(re.compile(r"#/jobs$"))
    code, _, err = cli_run("iot", "describe-job", "--job-id", "console-job-delete")
    if code == 0:  # the sweep may not have purged it yet
        assert '"DELETION_IN_PROGRESS"' in _
    else:
        assert "ResourceNotFoundException" in err


def test_cancel_execution_with_expected_version_and_status_details(page, cli, console_server):
    arns = make_things(cli, "versioned-1")
    create_job(cli, "console-versioned", arns)
    data = console_server.client("iot-jobs-data")
    data.start_next_pending_job_execution(thingName="versioned-1")  # version 2
    sign_in(page, OPERATOR)
    page.goto(page.url.split("#")[0] + "#/jobs/console-versioned/things/versioned-1")
    expect(page.locator("dl")).to_contain_text("IN_PROGRESS")
    page.get_by_role("button", name="Cancel execution").click()
    page.get_by_label("Force").check()
    page.get_by_label("Expected version").fill("1")
    page.get_by_label("Status details (JSON)").fill('{"reason": "operator"}')
    page.get_by_role("button", name="Confirm cancel execution").click()
    expect(page.get_by_role("alert")).to_contain_text("VersionConflictException:")
    # status details that are not an object of strings are refused before any request
    page.get_by_label("Status details (JSON)").fill('{"reason": 5}')
    page.get_by_role("button", name="Confirm cancel execution").click()
    expect(page.get_by_role("alert")).not_to_contain_text("VersionConflictException")
    out = cli("iot", "describe-job-execution", "--job-id", "console-versioned",
              "--thing-name", "versioned-1")
    version = out["execution"]["versionNumber"]
    assert out["execution"]["status"] == "IN_PROGRESS"
    page.get_by_label("Expected version").fill(str(version))
    page.get_by_label("Status details (JSON)").fill('{"reason": "operator"}')
    page.get_by_role("button", name="Confirm cancel execution").click()
    expect(page.locator("dl")).to_contain_text("CANCELED")
    out = cli("iot", "describe-job-execution", "--job-id", "console-versioned",
              "--thing-name", "versioned-1")["execution"]
    assert out["status"] == "CANCELED"
    assert out["statusDetails"]["detailsMap"] == {"reason": "operator"}


def test_things_groups_templates_and_audit_pages(page, cli):
    arns = make_things(cli, "listed-1", "listed-2")
    cli("iot", "create-thing-group", "--thing-group-name", "console-group")
    cli("iot", "add-thing-to-thing-group", "--thing-group-name", "console-group",
        "--thing-name", "listed-2")
    cli("iot", "create-job-template", "--job-template-id", "console-template",
        "--description", "reboot", "--document", json.dumps({"operation": "reboot"}))
    create_job(cli, "console-listed", arns[:1])
    sign_in(page, OPERATOR)

    page.get_by_role("link", name="Things").click()
    things = page.locator("table", has=page.locator("caption", has_text="Things"))
    expect(things.get_by_role("link", name="listed-1")).to_be_visible()
    things.get_by_role("link", name="listed-1").click()
    expect(page.get_by_role("heading", name="Thing listed-1")).to_be_visible()
    executions = page.locator("table", has=page.locator("caption", has_text="Executions"))
    expect(executions.get_by_role("link", name="console-listed")).to_be_visible()

    page.get_by_role("link", name="Groups").click()
    groups = page.locator("table", has=page.locator("caption", has_text="Groups"))
    groups.get_by_role("link", name="console-group").click()
    members = page.locator("table", has=page.locator("caption", has_text="Things in console-group"))
    expect(members).to_contain_text("listed-2")
    expect(members).not_to_contain_text("listed-1")

    page.get_by_role("link", name="Templates").click()
    templates = page.locator("table", has=page.locator("caption", has_text="Templates"))
    expect(templates).to_contain_text("console-template")

    page.get_by_role("link", name="Audit").click()
    audit = page.locator("table", has=page.locator("caption", has_text="Audit log"))
    expect(audit).to_contain_text("CreateJob")
    expect(audit).to_contain_text("console-listed")


def test_create_a_job_for_a_group_from_a_template(page, cli):
    make_things(cli, "grouped-1", "grouped-2")
    cli("iot", "create-thing-group", "--thing-group-name", "console-fleet")
    for name in ("grouped-1", "grouped-2"):
        cli("iot", "add-thing-to-thing-group", "--thing-group-name", "console-fleet",
            "--thing-name", name)
    cli("iot", "create-job-template", "--job-template-id", "console-ota",
        "--description", "ota", "--document", json.dumps({"operation": "ota", "url": "x"}))
    sign_in(page, OPERATOR)
    page.get_by_role("link", name="Create job").click()
    page.get_by_label("Job ID").fill("console-from-template")
    page.get_by_label("Groups").select_option(label="console-fleet")
    page.get_by_label("Template").select_option(label="console-ota")
    page.get_by_label("Target selection").select_option("CONTINUOUS")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("heading", name="Job console-from-template")).to_be_visible()
    job = cli("iot", "describe-job", "--job-id", "console-from-template")["job"]
    group_arn = cli("iot", "describe-thing-group", "--thing-group-name", "console-fleet")["thingGroupArn"]
    assert job["targets"] == [group_arn]
    assert job["targetSelection"] == "CONTINUOUS"
    assert job["jobTemplateArn"].endswith(":jobtemplate/console-ota")
    executions = page.locator("table", has=page.locator("caption", has_text="Executions"))
    expect(executions.get_by_role("link")).to_have_count(2)
