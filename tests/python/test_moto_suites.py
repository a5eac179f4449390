"""Suites written for moto's server mode run unchanged against iotjobs (issue 14): moto's
own IoT job-template tests (from moto 5.1.4's sdist, fetched by scripts/test into
target/tools; IOTJOBS_MOTO_TESTS points at them) against
`iotjobs serve --enable-reset --auth none` with the region and account moto's tests
expect (eu-west-1, 123456789012). moto's `mock_aws` sends every call to
TEST_SERVER_MODE_ENDPOINT and resets the server before each test through
`POST /moto-api/reset`. A missing suite fails, never skips.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, _clean_env

pytestmark = pytest.mark.server_args(
    "--enable-reset", "--auth", "none", "--region", "eu-west-1",
    "--account-id", "123456789012")


def moto_tests() -> Path:
    path = Path(os.environ.get("IOTJOBS_MOTO_TESTS")
                or REPO / "target" / "tools" / "moto-5.1.4" / "tests")
    if not (path / "test_iot").is_dir():
        pytest.fail(f"moto's test suites are not at {path}: run scripts/test, which fetches "
                    "them, or set IOTJOBS_MOTO_TESTS")
    return path


@pytest.mark.parametrize("suite", ["test_iot_job_templates.py"])
def test_moto_suite_passes_unchanged(server, suite, tmp_path):
    tests = moto_tests()
    env = {**_clean_env(tmp_path), "TEST_SERVER_MODE": "true",
           "TEST_SERVER_MODE_ENDPOINT": server.endpoint,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(tests / "test_iot" / suite)],
        cwd=tests.parent, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    # every test of the suite ran and passed (a suite that collected nothing would pass)
    last = p.stdout.strip().splitlines()[-1]
    assert " passed" in last and "failed" not in last and "skipped" not in last, last
    assert int(last.split()[0]) >= 9, last
