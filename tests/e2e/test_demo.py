"""`fieldcheck demo` serves the API over real HTTP and prints credentials that work."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_serves_the_api_with_the_printed_credentials(committed_database_url, tmp_path):
    port = free_port()
    env = {**os.environ, "FIELDCHECK_DATABASE_URL": committed_database_url,
           "FIELDCHECK_INSTANCE_DIR": str(tmp_path / "instance")}
    env.pop("FIELDCHECK_REDIS_URL", None)
    command = [str(Path(sys.executable).parent / "fieldcheck"), "demo", "--port", str(port),
               "--businesses", "60"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        printed = []
        assert server.stdout is not None
        for line in server.stdout:
            printed.append(line)
            if "try: curl" in line:
                break
        output = "".join(printed)
        password = re.search(r"^\s+admin\s+admin\s+(\S+)$", output, re.MULTILINE).group(1)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        login = requests.post(f"{base}/api/v1/auth/login", timeout=10,
                              json={"username": "admin", "password": password})
        assert login.status_code == 200
        token = login.json()["access_token"]
        businesses = requests.get(f"{base}/api/v1/admin/businesses?limit=5", timeout=10,
                                  headers={"Authorization": f"Bearer {token}"})
        assert businesses.status_code == 200
        assert len(businesses.json()["items"]) == 5
    finally:
        server.terminate()
        server.wait(timeout=20)
