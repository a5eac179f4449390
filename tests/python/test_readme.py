"""The README's two quickstarts, run as written: the ```sh blocks under "Quickstart with
the AWS CLI" and "Quickstart with `iotjobs` alone" are taken from README.md, and every
command runs in bash, in order, against ONE server (so the second must not collide with the
first), with only the endpoint's port replaced. A command that the README follows with a
`#   An error occurred` comment must fail; every other one must succeed.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, _clean_env

SECTIONS = ("## Quickstart with the AWS CLI", "## Quickstart with `iotjobs` alone")


def sh_block(readme: str, heading: str) -> str:
    start = readme.index(heading)
    block = re.search(r"```sh\n(.*?)```", readme[start:], re.S)
    assert block, f"no sh block under {heading}"
    return block.group(1)


def commands(block: str) -> list[tuple[str, bool]]:
    """(command, must_fail) in order: backslash continuations joined, comments dropped."""
    out: list[tuple[str, bool]] = []
    pending = ""
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if "An error occurred" in stripped and out:
                out[-1] = (out[-1][0], True)
            continue
        if not stripped:
            continue
        pending += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            out.append((pending, False))
            pending = ""
    return out


def test_readme_quickstarts_run_as_written_one_after_the_other(server, aws_cli, iotjobs_bin,
                                                               tmp_path):
    readme = (REPO / "README.md").read_text()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").symlink_to(aws_cli)
    (bin_dir / "iotjobs").symlink_to(iotjobs_bin)
    env = {**_clean_env(tmp_path), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    script = ["set -u"]
    ran = 0
    for heading in SECTIONS:
        for cmd, must_fail in commands(sh_block(readme, heading)):
            if cmd.startswith("cargo install"):
                continue  # the binary under test is on PATH already
            cmd = cmd.replace("http://127.0.0.1:8080", server.endpoint)
            quoted = cmd.replace("'", "'\\''")
            if must_fail:
                script.append(f"if {cmd}; then echo 'expected to fail: {quoted}' >&2; exit 1; fi")
            else:
                script.append(f"{cmd} || {{ echo 'failed: {quoted}' >&2; exit 1; }}")
            ran += 1
    assert ran >= 14, f"only {ran} commands found: did the README change shape?"
    p = subprocess.run(["bash", "-c", "\n".join(script)], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    # the second session's describe printed CANCELED, its list-jobs both jobs
    assert "CANCELED" in p.stdout
    assert '"fw-1"' in p.stdout and '"fw-2"' in p.stdout


ROLLOUT_SECTION = "## Safe rollouts, and hours of them in milliseconds"


@pytest.mark.server_args("--test-clock")
def test_readme_rollout_example_runs_as_written(server, aws_cli, iotjobs_bin, tmp_path):
    """The safe-rollouts section, run as written against a `--test-clock` server (its
    `iotjobs serve` line is the fixture's server). Its commented answers are checked."""
    readme = (REPO / "README.md").read_text()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").symlink_to(aws_cli)
    (bin_dir / "iotjobs").symlink_to(iotjobs_bin)
    env = {**_clean_env(tmp_path), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    script = ["set -u"]
    for cmd, must_fail in commands(sh_block(readme, ROLLOUT_SECTION)):
        assert not must_fail
        if cmd.startswith("iotjobs serve"):
            continue  # the fixture's server, started with --test-clock
        cmd = cmd.replace("http://127.0.0.1:8080", server.endpoint)
        quoted = cmd.replace("'", "'\\''")
        script.append(f"{cmd} || {{ echo 'failed: {quoted}' >&2; exit 1; }}")
    assert len(script) >= 10, "did the README section change shape?"
    p = subprocess.run(["bash", "-c", "\n".join(script)], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    lines = [line.strip() for line in p.stdout.splitlines() if line.strip()]
    # the two counts the README shows, around the clock's answer, then the aborted job
    clock = next(i for i, line in enumerate(lines) if "epochSeconds" in line)
    assert lines[clock - 1] == "2" and lines[clock + 1] == "4", lines
    tail = " ".join(lines[clock + 2:])
    assert '"CANCELED"' in tail and '"ABORT_CRITERIA_MET"' in tail, lines


S3_SECTION = "## Documents in S3: a firmware update from a managed template"


def test_readme_firmware_from_s3_runs_as_written(launch_server, s3_server, aws_cli, iotjobs_bin,
                                                 tmp_path):
    """The S3 section, run as written: the firmware goes into s3s-fs with the AWS CLI, a
    job from AWS-Download-File names it with a presigned-URL placeholder, and the device
    downloads it through the URL it got (`cmp` proves the bytes). Its `iotjobs serve`
    line is this test's server, with the same flag and keys."""
    from conftest import S3_ACCESS_KEY, S3_SECRET_KEY
    server = launch_server(tmp_path / "srv", "--s3-endpoint", s3_server.endpoint,
                           env={"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
                                "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY})
    try:
        readme = (REPO / "README.md").read_text()
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "aws").symlink_to(aws_cli)
        (bin_dir / "iotjobs").symlink_to(iotjobs_bin)
        work = tmp_path / "work"
        work.mkdir()
        (work / "fw-2.bin").write_bytes(bytes(range(256)) * 300 + b"firmware 2\n")
        env = {**_clean_env(tmp_path), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        script = ["set -u"]
        for cmd, must_fail in commands(sh_block(readme, S3_SECTION)):
            assert not must_fail
            if cmd.startswith("AWS_ACCESS_KEY_ID=minio AWS_SECRET_ACCESS_KEY=minio-secret iotjobs serve"):
                continue  # this test's server
            cmd = (cmd.replace("http://127.0.0.1:8080", server.endpoint)
                   .replace("http://127.0.0.1:9000", s3_server.endpoint)
                   .replace("minio-secret", S3_SECRET_KEY).replace("=minio ", f"={S3_ACCESS_KEY} ")
                   .replace("/tmp/fw-2.bin", str(tmp_path / "downloaded.bin")))
            quoted = cmd.replace("'", "'\\''")
            script.append(f"{cmd} || {{ echo 'failed: {quoted}' >&2; exit 1; }}")
        assert len(script) >= 9, "did the README section change shape?"
        p = subprocess.run(["bash", "-c", "\n".join(script)], env=env, cwd=work,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}"
        assert (tmp_path / "downloaded.bin").read_bytes() == (work / "fw-2.bin").read_bytes()
    finally:
        server.stop()
