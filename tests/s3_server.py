"""moto's standalone S3 server on a free loopback port, for tests that speak real HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import IO

import pytest

_START_TIMEOUT_S = 30.0


S3_REGION = "us-east-1"


@pytest.fixture(scope="module")
def aws_test_credentials() -> Iterator[None]:
    """Dummy credentials, and none of the machine's AWS configuration, for one module.

    Use with `pytestmark = pytest.mark.usefixtures("aws_test_credentials")`.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", S3_REGION)
        patch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """Run moto's S3 server for the whole session and give its endpoint URL.

    moto accepts any credentials; clients still need some (AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY set to anything). Use a fresh bucket per test.
    """
    with tempfile.TemporaryFile() as output:
        process, endpoint = _start(output)
        try:
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _start(output: IO[bytes]) -> tuple[subprocess.Popen[bytes], str]:
    # The free port is found by binding port 0 and closing it, so another process may grab
    # it before moto does; moto then exits and the next port is tried.
    for _ in range(3):
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        endpoint = f"http://127.0.0.1:{port}"
        if _wait_until_answering(endpoint, process):
            return process, endpoint
        if process.poll() is None:
            process.kill()
        process.wait()
    output.seek(0)
    log = output.read().decode(errors="replace")[-2000:]
    pytest.fail(f"moto's S3 server did not start; its output:\n{log}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_answering(endpoint: str, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer means the server is up
        except OSError:
            time.sleep(0.1)
    return False
