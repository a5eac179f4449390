"""AWS managed job templates through boto3, the AWS CLI v1 and `iotjobs iot`:
ListManagedJobTemplates (name filter, pagination), DescribeManagedJobTemplate (default
version, 404s), and CreateJob from a template with documentParameters (the filled-in
document on both planes, DescribeJob's jobTemplateArn/documentParameters, every refusal).
docs/compatibility.md, "AWS managed job templates"."""

import json
import subprocess

import pytest

from conftest import _clean_env
from iotjobs_helpers import REGION, all_pages, raises_aws, thing_arn

NAMES = [
    "AWS-Download-File",
    "AWS-Install-Application",
    "AWS-Reboot",
    "AWS-Remove-Application",
    "AWS-Restart-Application",
    "AWS-Run-Command",
    "AWS-Start-Application",
    "AWS-Stop-Application",
]

# The published handler (or runCommand) of each template, and its required parameters.
ACTIONS = {
    "AWS-Download-File": ("runHandler", "download-file.sh", ["downloadUrl", "filePath"]),
    "AWS-Install-Application": ("runHandler", "install-packages.sh", ["packages"]),
    "AWS-Reboot": ("runHandler", "reboot.sh", []),
    "AWS-Remove-Application": ("runHandler", "remove-packages.sh", ["packages"]),
    "AWS-Restart-Application": ("runHandler", "restart-services.sh", ["services"]),
    "AWS-Run-Command": ("runCommand", None, ["command"]),
    "AWS-Start-Application": ("runHandler", "start-services.sh", ["services"]),
    "AWS-Stop-Application": ("runHandler", "stop-services.sh", ["services"]),
}


def template_arn(name: str, version: str = "1.0") -> str:
    return f"arn:aws:iot:{REGION}::jobtemplate/{name}:{version}"


DOWNLOAD = template_arn("AWS-Download-File")
# Values that need escaping inside a JSON string: quotes, a backslash, non-ASCII.
URL = 'https://example.com/fw.bin?tag="v2"&x=ü'
PATH = "/opt/fw\\new file.bin"


@pytest.fixture
def dev1(iot):
    iot.create_thing(thingName="dev1")
    return thing_arn("dev1")


def create_from_template(iot, job_id, arn=DOWNLOAD, targets=None, **kwargs):
    return iot.create_job(
        jobId=job_id, targets=targets or [thing_arn("dev1")], jobTemplateArn=arn, **kwargs
    )


def message(holder) -> str:
    return holder.response["Error"]["Message"]


# === ListManagedJobTemplates ===========================================================


def test_list_shows_every_template_once(iot):
    resp = iot.list_managed_job_templates()
    summaries = resp["managedJobTemplates"]
    assert [s["templateName"] for s in summaries] == NAMES
    assert "nextToken" not in resp
    for s in summaries:
        assert set(s) == {"templateArn", "templateName", "description", "environments", "templateVersion"}
        assert s["templateVersion"] == "1.0"
        assert s["templateArn"] == template_arn(s["templateName"])
        assert s["environments"] == ["LINUX"]
        assert s["description"]


def test_list_filtered_by_name_shows_its_versions(iot):
    resp = iot.list_managed_job_templates(templateName="AWS-Reboot")
    assert [(s["templateName"], s["templateVersion"]) for s in resp["managedJobTemplates"]] == [
        ("AWS-Reboot", "1.0")
    ]
    with raises_aws("ResourceNotFoundException", 404) as e:
        iot.list_managed_job_templates(templateName="AWS-No-Such-Template")
    assert "AWS-No-Such-Template" in message(e)


def test_list_pages(iot, iot_unchecked):
    first = iot.list_managed_job_templates(maxResults=3)
    assert [s["templateName"] for s in first["managedJobTemplates"]] == NAMES[:3]
    second = iot.list_managed_job_templates(maxResults=3, nextToken=first["nextToken"])
    assert [s["templateName"] for s in second["managedJobTemplates"]] == NAMES[3:6]
    third = iot.list_managed_job_templates(maxResults=3, nextToken=second["nextToken"])
    assert [s["templateName"] for s in third["managedJobTemplates"]] == NAMES[6:]
    assert "nextToken" not in third
    # botocore's paginator walks the same pages
    paged = all_pages(iot, "list_managed_job_templates", "managedJobTemplates", PaginationConfig={"PageSize": 2})
    assert [s["templateName"] for s in paged] == NAMES
    for bad in (0, 251):
        with raises_aws("InvalidRequestException", 400):
            iot_unchecked.list_managed_job_templates(maxResults=bad)
    with raises_aws("InvalidRequestException", 400):
        iot.list_managed_job_templates(nextToken="not-a-token")


# === DescribeManagedJobTemplate ========================================================


def test_describe_download_file(iot):
    t = iot.describe_managed_job_template(templateName="AWS-Download-File")
    t.pop("ResponseMetadata")
    assert t["templateName"] == "AWS-Download-File"
    assert t["templateArn"] == DOWNLOAD
    assert t["templateVersion"] == "1.0"
    assert t["environments"] == ["LINUX"]
    assert t["description"]
    # keys, regexes, examples and optional flags as AWS publishes them for this template
    params = [(p["key"], p["regex"], p["example"], p["optional"]) for p in t["documentParameters"]]
    assert params == [
        ("downloadUrl", "(.*?)", "http://www.example.com/index.html", False),
        ("filePath", "(.*?)", "/path/to/file", False),
        ("runAsUser", "(.){0,256}", "user1", True),
        ("pathToHandler", "(.){0,4096}", "/path/to/handler/script", True),
    ]
    assert all(p["description"] for p in t["documentParameters"])
    # compact JSON text with the placeholders
    assert not any(c.isspace() for c in t["document"])
    assert json.loads(t["document"]) == {
        "version": "1.0",
        "steps": [
            {
                "action": {
                    "name": "Download-File",
                    "type": "runHandler",
                    "input": {
                        "handler": "download-file.sh",
                        "args": ["${aws:iot:parameter:downloadUrl}", "${aws:iot:parameter:filePath}"],
                        "path": "${aws:iot:parameter:pathToHandler}",
                    },
                    "runAsUser": "${aws:iot:parameter:runAsUser}",
                }
            }
        ],
    }
    # the default version is 1.0: asking for it answers the same
    again = iot.describe_managed_job_template(templateName="AWS-Download-File", templateVersion="1.0")
    again.pop("ResponseMetadata")
    assert again == t


@pytest.mark.parametrize("name", NAMES)
def test_describe_each_template(iot, name):
    t = iot.describe_managed_job_template(templateName=name)
    kind, handler, required = ACTIONS[name]
    action = json.loads(t["document"])["steps"][0]["action"]
    assert action["name"] == name.removeprefix("AWS-")
    assert action["type"] == kind
    keys = {p["key"]: p["optional"] for p in t["documentParameters"]}
    assert [k for k, optional in keys.items() if not optional] == required
    assert keys.get("runAsUser") is True
    if handler:
        assert action["input"]["handler"] == handler
        assert keys.get("pathToHandler") is True
        args = [f"${{aws:iot:parameter:{k}}}" for k in required]
        assert action["input"].get("args", []) == args
    else:
        assert action["input"] == {"command": "${aws:iot:parameter:command}"}
        assert "pathToHandler" not in keys


def test_describe_unknown_name_or_version(iot):
    with raises_aws("ResourceNotFoundException", 404) as e:
        iot.describe_managed_job_template(templateName="AWS-Format-Disk")
    assert "AWS-Format-Disk" in message(e)
    with raises_aws("ResourceNotFoundException", 404) as e:
        iot.describe_managed_job_template(templateName="AWS-Reboot", templateVersion="2.0")
    assert "2.0" in message(e)
    # templateVersion's model pattern
    with raises_aws("InvalidRequestException", 400):
        iot.describe_managed_job_template(templateName="AWS-Reboot", templateVersion="latest")


# === CreateJob from a managed template =================================================


def test_create_job_from_download_file(iot, jobs_data, dev1):
    template = iot.describe_managed_job_template(templateName="AWS-Download-File")
    created = create_from_template(
        iot, "dl-1", documentParameters={"downloadUrl": URL, "filePath": PATH}
    )
    # no description given: the template's (AWS's CLI example answers it)
    assert created["description"] == template["description"]

    expected = {
        "version": "1.0",
        "steps": [
            {
                "action": {
                    "name": "Download-File",
                    "type": "runHandler",
                    "input": {"handler": "download-file.sh", "args": [URL, PATH], "path": ""},
                    "runAsUser": "",
                }
            }
        ],
    }
    stored = iot.get_job_document(jobId="dl-1")["document"]
    assert json.loads(stored) == expected
    assert "${aws:iot:parameter:" not in stored

    # the device reads the same document on the data plane
    ex = jobs_data.describe_job_execution(thingName="dev1", jobId="dl-1")["execution"]
    assert json.loads(ex["jobDocument"]) == expected
    started = jobs_data.start_next_pending_job_execution(thingName="dev1")["execution"]
    assert json.loads(started["jobDocument"]) == expected

    job = iot.describe_job(jobId="dl-1")["job"]
    assert job["jobTemplateArn"] == DOWNLOAD
    assert job["documentParameters"] == {"downloadUrl": URL, "filePath": PATH}
    assert job["description"] == template["description"]


def test_optional_parameters_given_and_description_kept(iot, dev1):
    created = create_from_template(
        iot,
        "dl-2",
        description="firmware 2 to the fleet",
        documentParameters={
            "downloadUrl": "https://example.com/a",
            "filePath": "/tmp/a",
            "runAsUser": "root",
            "pathToHandler": "/opt/handlers",
        },
    )
    assert created["description"] == "firmware 2 to the fleet"
    action = json.loads(iot.get_job_document(jobId="dl-2")["document"])["steps"][0]["action"]
    assert action["runAsUser"] == "root"
    assert action["input"]["path"] == "/opt/handlers"
    assert iot.describe_job(jobId="dl-2")["job"]["description"] == "firmware 2 to the fleet"


def test_run_command_and_reboot(iot, jobs_data, dev1):
    create_from_template(
        iot, "cmd-1", arn=template_arn("AWS-Run-Command"), documentParameters={"command": "ls,-l,/tmp"}
    )
    action = json.loads(iot.get_job_document(jobId="cmd-1")["document"])["steps"][0]["action"]
    assert action == {
        "name": "Run-Command",
        "type": "runCommand",
        "input": {"command": "ls,-l,/tmp"},
        "runAsUser": "",
    }
    # AWS-Run-Command has no pathToHandler
    with raises_aws("InvalidRequestException", 400) as e:
        create_from_template(
            iot,
            "cmd-2",
            arn=template_arn("AWS-Run-Command"),
            documentParameters={"command": "reboot", "pathToHandler": "/x"},
        )
    assert "pathToHandler" in message(e)

    # AWS-Reboot needs no parameters at all; an ARN without version means 1.0
    create_from_template(iot, "reboot-1", arn=f"arn:aws:iot:{REGION}::jobtemplate/AWS-Reboot")
    assert iot.describe_job(jobId="reboot-1")["job"]["jobTemplateArn"] == template_arn("AWS-Reboot")
    doc = json.loads(jobs_data.describe_job_execution(thingName="dev1", jobId="reboot-1")["execution"]["jobDocument"])
    assert doc["steps"][0]["action"]["input"] == {"handler": "reboot.sh", "path": ""}


@pytest.mark.parametrize(
    "params, named",
    [
        ({"downloadUrl": "https://example.com/a"}, "filePath"),  # a required one missing
        ({}, "downloadUrl"),
        ({"downloadUrl": "u", "filePath": "f", "checksum": "abc"}, "checksum"),  # unknown key
        ({"downloadUrl": "u", "filePath": "f", "runAsUser": "u" * 257}, "runAsUser"),  # regex
        ({"downloadUrl": "u", "filePath": "f", "pathToHandler": "p" * 4097}, "pathToHandler"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(iot, dev1, params, named):
    with raises_aws("InvalidRequestException", 400) as e:
        create_from_template(iot, "bad", documentParameters=params)
    assert named in message(e)
    with raises_aws("ResourceNotFoundException", 404):
        iot.describe_job(jobId="bad")


def test_template_and_own_document_are_refused(iot, dev1):
    params = {"downloadUrl": "u", "filePath": "f"}
    with raises_aws("InvalidRequestException", 400):
        create_from_template(iot, "both", documentParameters=params, document='{"a":1}')
    with raises_aws("InvalidRequestException", 400):
        create_from_template(
            iot, "both", documentParameters=params, documentSource="https://example.com/job.json"
        )
    # documentParameters without a managed template, or with an account's own template;
    # an own template that does not exist (test_job_templates.py has the rest)
    with raises_aws("InvalidRequestException", 400) as e:
        iot.create_job(jobId="plain", targets=[dev1], document='{"a":1}', documentParameters=params)
    assert "documentParameters" in message(e)
    own = f"arn:aws:iot:{REGION}:000000000000:jobtemplate/mine"
    with raises_aws("InvalidRequestException", 400):
        create_from_template(iot, "custom", arn=own, documentParameters=params)
    with raises_aws("ResourceNotFoundException", 404):
        create_from_template(iot, "custom", arn=own)
    # a template no one has, and one of another region
    with raises_aws("ResourceNotFoundException", 404):
        create_from_template(iot, "nope", arn=template_arn("AWS-Format-Disk"))
    with raises_aws("ResourceNotFoundException", 404):
        create_from_template(iot, "nope", arn=template_arn("AWS-Reboot", "9.9"))
    with raises_aws("InvalidRequestException", 400):
        create_from_template(iot, "nope", arn="arn:aws:iot:eu-west-1::jobtemplate/AWS-Reboot:1.0")
    assert iot.list_jobs()["jobs"] == []


def test_filled_in_document_must_fit_a_job_document(iot, dev1):
    big = "x" * 20000
    with raises_aws("InvalidRequestException", 400) as e:
        create_from_template(iot, "huge", documentParameters={"downloadUrl": big, "filePath": big})
    assert "32768" in message(e)


# === the AWS CLI v1 and `iotjobs iot` ==================================================


def test_aws_cli_creates_a_job_from_a_managed_template(aws, iot, dev1):
    rc, out, err = aws(
        "iot",
        "create-job",
        "--job-id",
        "cli-dl",
        "--targets",
        dev1,
        "--job-template-arn",
        DOWNLOAD,
        "--document-parameters",
        "downloadUrl=https://example.com/index.html,filePath=/tmp/index.html",
    )
    assert rc == 0, err
    created = json.loads(out)
    assert created["jobId"] == "cli-dl"
    assert created["description"] == iot.describe_managed_job_template(templateName="AWS-Download-File")["description"]
    doc = json.loads(iot.get_job_document(jobId="cli-dl")["document"])
    assert doc["steps"][0]["action"]["input"]["args"] == ["https://example.com/index.html", "/tmp/index.html"]

    rc, out, err = aws("iot", "list-managed-job-templates")
    assert rc == 0, err
    assert [t["templateName"] for t in json.loads(out)["managedJobTemplates"]] == NAMES
    rc, out, err = aws("iot", "describe-managed-job-template", "--template-name", "AWS-Reboot")
    assert rc == 0, err
    assert json.loads(out)["templateArn"] == template_arn("AWS-Reboot")


def test_iotjobs_cli_serves_the_managed_template_operations(iotjobs_bin, server, iot, dev1, tmp_path):
    env = _clean_env(tmp_path)

    def iotjobs(*args):
        p = subprocess.run(
            [str(iotjobs_bin), *args, "--endpoint-url", server.endpoint],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout) if p.stdout else None

    # with --page-size 3 the CLI follows nextToken over three requests
    listed = iotjobs("iot", "list-managed-job-templates", "--page-size", "3")
    assert [t["templateName"] for t in listed["managedJobTemplates"]] == NAMES
    described = iotjobs("iot", "describe-managed-job-template", "--template-name", "AWS-Run-Command")
    assert [p["key"] for p in described["documentParameters"]] == ["command", "runAsUser"]
    iotjobs(
        "iot",
        "create-job",
        "--job-id",
        "iotjobs-cmd",
        "--targets",
        dev1,
        "--job-template-arn",
        template_arn("AWS-Run-Command"),
        "--document-parameters",
        "command=uptime",
    )
    action = json.loads(iot.get_job_document(jobId="iotjobs-cmd")["document"])["steps"][0]["action"]
    assert action["input"] == {"command": "uptime"}
