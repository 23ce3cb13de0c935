"""Load benchmark of the courier API: a crowd of simulated phones against the real server.

Usage: python scripts/bench_fieldwork.py [--crowd 16] [--duration 45] [--sync-couriers 50]

Starts the API under gunicorn on a loopback port, on a throwaway database and photo folder,
then measures in one run:
  1. /healthz of that server at full speed (the server's own ceiling);
  2. `--sync-couriers` couriers pulling their whole feed at the same moment, several rounds;
  3. the crowd: each simulated courier syncs, uploads two 3 MB 12-megapixel phone photos and
     submits, visit after visit, resending some calls as a phone does when an answer is
     lost and cutting some uploads off half-way before sending them again;
and beside them the decode ceiling: the CPU time this process needs to decode and
thumbnail the same photos as the server does (`check_photo`: one decode gives the checks,
the facts and the thumbnail), as cores ÷ per-visit time; for comparison, the same with a
full-size decode and a second one for the thumbnail (what an upload cost before).
At the end the database is checked: one result per completed visit, two photos per result,
nothing duplicated, nothing waiting for evidence.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import random
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from PIL import ExifTags, Image  # noqa: E402
from psycopg import sql  # noqa: E402

HOST = "127.0.0.1"
PHOTO_SIZE = (4000, 3000)  # 12 megapixels, as a phone's main camera
GOAL_DECODE_SHARE = 0.80
GOAL_SYNC_P99_MS = 100.0


# --- the server, in a child process -----------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """Child mode: the API under gunicorn with the given database and photo folder."""
    from api.app import create_app
    from api.serving import GunicornServer
    from fieldcheck.config import Settings

    settings = Settings.from_env(
        {},
        mode="production",
        database_url=args.database_url,
        secret_key=args.secret,
        instance_dir=Path(args.instance),
        storage_url=args.storage_url or str(Path(args.instance) / "photos"),
        s3_endpoint_url=args.s3_endpoint_url,
        redis_url=args.redis_url,
    )
    settings.check_secret()
    app = create_app({"SETTINGS": settings})
    GunicornServer(
        app,
        {
            "bind": f"{HOST}:{args.port}",
            "workers": args.workers,
            "threads": args.threads,
            "worker_class": "gthread",
            "timeout": 120,
            "keepalive": 75,
            "backlog": 2048,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "preload_app": True,
        },
    ).run()


def start_server(
    database_url: str,
    instance: Path,
    secret: str,
    workers: int,
    threads: int,
    extra_args: tuple[str, ...] = (),
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the `serve` child; `extra_args`: --storage-url, --s3-endpoint-url, --redis-url."""
    port = _free_port()
    command = [
        sys.executable,
        __file__,
        "serve",
        "--database-url",
        database_url,
        "--instance",
        str(instance),
        "--secret",
        secret,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        *extra_args,
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited while starting")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection(HOST, port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process, port
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not answer /healthz within 60 s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# --- a throwaway database with couriers and their visits ------------------------------------


@dataclass
class Scratch:
    admin_conninfo: str
    name: str
    url: str

    def drop(self) -> None:
        with psycopg.connect(self.admin_conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )


def create_database() -> Scratch:
    from fieldcheck.config import Settings
    from fieldcheck.localdb import conninfo_to_url, ensure_server
    from fieldcheck.schema import upgrade

    conninfo = ensure_server(Settings.from_env(mode="dev").instance_dir)
    admin = " ".join(
        [p for p in conninfo.split() if not p.startswith("dbname=")] + ["dbname=postgres"]
    )
    name = f"fcbench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    scratch = Scratch(admin, name, conninfo_to_url(conninfo, name))
    upgrade(scratch.url)
    return scratch


@dataclass
class Courier:
    token: str
    visit_ids: list[int]


def seed(url: str, secret: str, couriers: int, visits_each: int) -> list[Courier]:
    """Couriers with a day's visits each, recorded in their feeds as dispatch does."""
    from geoalchemy2 import WKTElement

    from fieldcheck.auth.models import User
    from fieldcheck.auth.tokens import make_access_token
    from fieldcheck.db import make_engine, make_session_factory
    from fieldcheck.dispatch.models import Campaign, Visit
    from fieldcheck.dispatch.models import Courier as CourierRow
    from fieldcheck.fieldwork.sync import record_visit_change
    from fieldcheck.registry.models import Business, ImportBatch, SourceRecord

    engine = make_engine(url)
    rnd = random.Random(7)
    out: list[Courier] = []
    with make_session_factory(engine)() as session:
        campaign = Campaign(
            name="bench",
            state="active",
            scope={},
            rules={"required_photos": ["storefront", "doorplate"]},
        )
        batch = ImportBatch(kind="tax", filename="bench.csv", sha256="0" * 64, state="succeeded")
        session.add_all([campaign, batch])
        session.flush()
        for c in range(couriers):
            user = User(username=f"bench{c:03d}", role="courier", display_name=f"快递员{c}")
            session.add(user)
            session.flush()
            courier = CourierRow(user_id=user.id, staff_no=f"B{c:04d}", name=f"快递员{c}")
            session.add(courier)
            businesses = []
            for v in range(visits_each):
                lon, lat = 120.0 + rnd.uniform(0, 0.1), 28.85 + rnd.uniform(0, 0.08)
                business = Business(
                    origin="registry",
                    name=f"永康市古山测试五金经营部{c:03d}{v:03d}",
                    address=f"浙江省金华市永康市古山镇胜利路{v + 1}号",
                    town="古山镇",
                    location=WKTElement(f"POINT({lon} {lat})", srid=4326),
                    location_precision="address",
                    location_source="gazetteer",
                )
                businesses.append(business)
            session.add_all(businesses)
            session.flush()
            session.add_all(
                [
                    SourceRecord(
                        batch_id=batch.id,
                        bureau="tax",
                        row_number=i + 1,
                        source_key=f"nk:{c}:{i}",
                        raw={"legal_rep_name": "张三", "reg_status_raw": "正常"},
                        fields={"phones": ["13800000000"], "established_on": "2010-05-01"},
                        content_hash="0" * 64,
                        name=b.name,
                        name_key=b.name,
                        address=b.address,
                        town=b.town,
                        reg_status="active",
                        business_id=b.id,
                        link_reason="new",
                    )
                    for i, b in enumerate(businesses)
                ]
            )
            visits = [
                Visit(
                    campaign_id=campaign.id,
                    business_id=b.id,
                    courier_id=courier.id,
                    state="assigned",
                    kind="first",
                    planned_day=1 + v // 20,
                    route_order=v % 20 + 1,
                )
                for v, b in enumerate(businesses)
            ]
            session.add_all(visits)
            session.flush()
            for visit in visits:
                record_visit_change(session, visit)
            token = make_access_token(
                user_id=user.id, role="courier", bureau=None, secret=secret, ttl_s=4 * 3600
            )
            out.append(Courier(token, [v.id for v in visits]))
        session.commit()
    engine.dispose()
    return out


# --- photos --------------------------------------------------------------------------------


class PhotoMaker:
    """Distinct phone-like 12 MP JPEGs of about 3 MB, cheaply, as many as the run needs.

    A handful of base pictures are encoded once with a restart marker after every row of
    blocks; a photo is then spliced row by row from random bases. Every photo has other
    bytes and another perceptual hash (so neither deduplication nor the quality checks'
    similarity search sees copies) and costs a decoder exactly as much as a real one.
    EXIF as a phone writes it: GPS, time with offset, camera, orientation 6.
    """

    _RESTART = re.compile(rb"\xff[\xd0-\xd7]")

    def __init__(self, bases: int = 4) -> None:
        self.parts = [self._split(self._base(n)) for n in range(bases)]
        if len({head for head, _, _ in self.parts}) != 1:
            raise AssertionError("base photos must share their headers to be spliced")

    def photo(self, rnd: random.Random) -> bytes:
        head, segments, markers = self.parts[0]
        out = [head]
        for i in range(len(segments)):
            out.append(self.parts[rnd.randrange(len(self.parts))][1][i])
            if i < len(markers):
                out.append(markers[i])
        out.append(b"\xff\xd9")
        return b"".join(out)

    @staticmethod
    def _base(n: int) -> bytes:
        width, height = PHOTO_SIZE
        rng = np.random.default_rng(n)
        y, x = np.mgrid[0:height, 0:width]
        pixels = np.stack(
            [
                127 + 120 * np.sin(x / (300 + 50 * n) + n),
                127 + 120 * np.cos(y / (250 + 40 * n) - n),
                (x + y + n * 700) * 255 / (width + height + 3000),
            ],
            axis=-1,
        )
        # Coarse noise, like texture and sensor grain: it sets the file near 3 MB.
        noise = np.kron(rng.normal(0, 1, (height // 4, width // 4, 3)), np.ones((4, 4, 1)))
        pixels = np.clip(pixels + noise * 18, 0, 255).astype(np.uint8)
        exif = Image.Exif()
        exif[ExifTags.Base.Make], exif[ExifTags.Base.Model] = "HUAWEI", "P60"
        exif[ExifTags.Base.Orientation] = 6
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", (28, 53, 27.0)
        gps[ExifTags.GPS.GPSLongitudeRef], gps[ExifTags.GPS.GPSLongitude] = "E", (120, 2, 33.0)
        gps[ExifTags.GPS.GPSAltitude] = 85.0
        details = exif.get_ifd(ExifTags.IFD.Exif)
        details[ExifTags.Base.DateTimeOriginal] = "2026:11:28 10:15:30"
        details[ExifTags.Base.OffsetTimeOriginal] = "+08:00"
        buffer = io.BytesIO()
        # Standard Huffman tables (no optimize) keep the headers of all bases identical.
        Image.fromarray(pixels).save(
            buffer, format="JPEG", quality=85, exif=exif, restart_marker_rows=1
        )
        return buffer.getvalue()

    @classmethod
    def _split(cls, data: bytes) -> tuple[bytes, list[bytes], list[bytes]]:
        sos = data.index(b"\xff\xda")
        start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
        scan = data[start : data.rindex(b"\xff\xd9")]
        return data[:start], cls._RESTART.split(scan), cls._RESTART.findall(scan)


def decode_ceiling(photos: list[bytes], cores: int, rounds: int = 5) -> tuple[float, float]:
    """Median CPU seconds to decode and thumbnail one visit's photos; visits/s on `cores`."""
    from fieldcheck.evidence.imaging import check_photo

    def one_visit() -> float:
        started = time.process_time()
        for photo in photos:
            check_photo(photo, claimed_type="image/jpeg", max_bytes=15 << 20, max_pixels=50_000_000)
        return time.process_time() - started

    per_visit = _median_cpu(one_visit, rounds)
    return per_visit, cores / per_visit


def two_decode_reference(photos: list[bytes], cores: int, rounds: int = 5) -> tuple[float, float]:
    """As `decode_ceiling`, with a full-size decode for the checks and another, reduced by
    `draft()`, for the thumbnail: the work of an upload before it took one decode."""

    def one_visit() -> float:
        started = time.process_time()
        for photo in photos:
            with Image.open(io.BytesIO(photo)) as image:
                image.load()
                image.convert("L").reduce(8)
            with Image.open(io.BytesIO(photo)) as image:
                image.draft("RGB", (320, 320))
                image.thumbnail((320, 320))
                image.save(io.BytesIO(), format="JPEG", quality=82, optimize=True)
        return time.process_time() - started

    per_visit = _median_cpu(one_visit, rounds)
    return per_visit, cores / per_visit


def _median_cpu(one_visit: Any, rounds: int) -> float:
    one_visit()  # warm up: imports, decoder tables
    return statistics.median(one_visit() for _ in range(rounds))


# --- the simulated phone ------------------------------------------------------------------


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    completed: list[str] = field(default_factory=list)
    resent: int = 0
    resent_mismatch: int = 0
    cut_off: int = 0
    harness_cpu: float = 0.0  # CPU this process spent on setup work inside a measured phase
    lock: threading.Lock = field(default_factory=threading.Lock)

    def time(self, name: str, seconds: float) -> None:
        with self.lock:
            self.latencies[name].append(seconds)

    def error(self, name: str, message: str) -> None:
        with self.lock:
            self.errors[name].append(message)


class Phone:
    """One courier's phone: one keep-alive connection, reopened when the network drops it."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.conn = http.client.HTTPConnection(HOST, port, timeout=120)

    def call(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in range(3):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def hang_up_mid_upload(self, path: str, body: bytes, content_type: str) -> None:
        """Send half of an upload and drop the line, as a phone losing signal does."""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        with socket.create_connection((HOST, self.port), timeout=10) as sock:
            sock.sendall(head + body[: len(body) // 2])


def multipart(photo: bytes, sha256: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b"".join(
        [
            f'--{boundary}\r\nContent-Disposition: form-data; name="sha256"\r\n\r\n'.encode(),
            f"{sha256}\r\n".encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="IMG.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode(),
            photo,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    return body, f"multipart/form-data; boundary={boundary}"


def pull_feed(phone: Phone, tally: Tally, name: str, cursor: str | None, limit: int) -> str | None:
    while True:
        path = f"/api/v1/courier/sync?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        started = time.perf_counter()
        status, body = phone.call("GET", path)
        tally.time(name, time.perf_counter() - started)
        if status != 200:
            tally.error(name, f"{status} {body[:200]!r}")
            return cursor
        page = json.loads(body)
        cursor = page["cursor"]
        if not page["has_more"]:
            return cursor


def work_visits(
    phone: Phone,
    visit_ids: list[int],
    photos: PhotoMaker,
    stop_at: float,
    tally: Tally,
    rnd: random.Random,
    retry_rate: float,
) -> None:
    import hashlib

    cursor = pull_feed(phone, tally, "sync", None, 100)
    for visit_id in visit_ids:
        if time.monotonic() >= stop_at:
            return
        cursor = pull_feed(phone, tally, "sync", cursor, 100)
        named = []
        for kind in ("storefront", "doorplate"):
            data = photos.photo(rnd)
            sha256 = hashlib.sha256(data).hexdigest()
            body, content_type = multipart(data, sha256)
            if rnd.random() < retry_rate:
                phone.hang_up_mid_upload("/api/v1/courier/photos", body, content_type)
                with tally.lock:
                    tally.cut_off += 1
            answer = timed_call(
                phone,
                tally,
                "upload",
                "POST",
                "/api/v1/courier/photos",
                body,
                content_type,
                expect=201,
            )
            if answer is not None and rnd.random() < retry_rate:
                resend(phone, tally, "upload", "/api/v1/courier/photos", body, content_type, answer)
            named.append({"kind": kind, "sha256": sha256})
        submission = {
            "submission_id": str(uuid.uuid4()),
            "visit_id": visit_id,
            "outcome": "operating",
            "position": {
                "lat": 28.8908,
                "lon": 120.0425,
                "accuracy_m": 8.0,
                "crs": "wgs84",
                "fix_time": datetime.now(UTC).isoformat(),
            },
            "started_at": datetime.now(UTC).isoformat(),
            "captured_at": datetime.now(UTC).isoformat(),
            "photos": named,
        }
        body = json.dumps(submission).encode()
        answer = timed_call(
            phone,
            tally,
            "submit",
            "POST",
            "/api/v1/courier/results",
            body,
            "application/json",
            expect=201,
        )
        if answer is None:
            continue
        if rnd.random() < retry_rate:
            resend(
                phone, tally, "submit", "/api/v1/courier/results", body, "application/json", answer
            )
        if json.loads(answer)["status"] == "done":
            with tally.lock:
                tally.completed.append(submission["submission_id"])
        else:
            tally.error("submit", f"visit {visit_id} not done: {answer[:200]!r}")


def timed_call(
    phone: Phone,
    tally: Tally,
    name: str,
    method: str,
    path: str,
    body: bytes,
    content_type: str,
    *,
    expect: int,
) -> bytes | None:
    started = time.perf_counter()
    status, answer = phone.call(method, path, body, content_type)
    tally.time(name, time.perf_counter() - started)
    if status != expect:
        tally.error(name, f"{status} {answer[:200]!r}")
        return None
    return answer


def resend(
    phone: Phone, tally: Tally, name: str, path: str, body: bytes, content_type: str, first: bytes
) -> None:
    """Send the same request again, as a phone whose answer was lost: same answer expected."""
    status, again = phone.call("POST", path, body, content_type)
    with tally.lock:
        tally.resent += 1
        if status != 201 or json.loads(again) != json.loads(first):
            tally.resent_mismatch += 1
            tally.errors[name].append(f"resent {status}: {again[:200]!r}")


# --- phases --------------------------------------------------------------------------------


def hammer_healthz(port: int, clients: int, seconds: float, tally: Tally) -> float:
    stop_at = time.monotonic() + seconds
    counts = [0] * clients

    def run(i: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            tally.time("healthz", time.perf_counter() - started)
            if response.status != 200:
                tally.error("healthz", str(response.status))
            counts[i] += 1

    started = time.perf_counter()
    run_threads(run, clients)
    return sum(counts) / (time.perf_counter() - started)


FIRST_SYNC = "first sync page"
CURSOR_SYNC = "sync page with cursor"


def sync_burst(
    port: int,
    url: str,
    couriers: list[Courier],
    rounds: int,
    limit: int,
    changes: int,
    tally: Tally,
) -> None:
    """All couriers at the same moment: first their whole feed (a new phone), then `rounds`
    times the changes since their cursor after the plan moved `changes` of each one's visits."""
    from fieldcheck.db import make_engine, make_session_factory
    from fieldcheck.dispatch.models import Visit
    from fieldcheck.fieldwork.sync import record_visit_change

    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rnd = random.Random(11)
    barrier = threading.Barrier(len(couriers) + 1)
    phones = [Phone(port, c.token) for c in couriers]
    cursors: list[str | None] = [None] * len(couriers)

    def replan() -> None:
        # What dispatch does when it reorders routes: change visits, record them, commit.
        started = time.process_time()
        with sessions() as session:
            for courier in couriers:
                for visit_id in rnd.sample(courier.visit_ids, changes):
                    visit = session.get(Visit, visit_id)
                    assert visit is not None
                    visit.route_order = (visit.route_order or 0) + 100
                    record_visit_change(session, visit, previous_courier_id=visit.courier_id)
            session.commit()
        tally.harness_cpu += time.process_time() - started

    def run(i: int) -> None:
        barrier.wait()
        cursors[i] = pull_feed(phones[i], tally, FIRST_SYNC, None, limit)
        for _ in range(rounds):
            barrier.wait()  # the plan changes here
            barrier.wait()
            cursors[i] = pull_feed(phones[i], tally, CURSOR_SYNC, cursors[i], limit)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(couriers))]
    for thread in threads:
        thread.start()
    barrier.wait()
    for _ in range(rounds):
        barrier.wait()
        replan()
        barrier.wait()
    for thread in threads:
        thread.join()
    engine.dispose()


def run_crowd(
    port: int,
    couriers: list[Courier],
    photos: PhotoMaker,
    seconds: float,
    retry_rate: float,
    tally: Tally,
) -> float:
    stop_at = time.monotonic() + seconds

    def run(i: int) -> None:
        phone = Phone(port, couriers[i].token)
        work_visits(
            phone, couriers[i].visit_ids, photos, stop_at, tally, random.Random(i), retry_rate
        )

    started = time.perf_counter()
    run_threads(run, len(couriers))
    return time.perf_counter() - started


def run_threads(target: Any, count: int) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class CpuMeter:
    """CPU seconds spent by the server's processes, our database's backends and the clients.

    The machine may be shared: wall-clock rates then fall with everyone else's load, while
    CPU seconds per visit do not, so both are reported.
    """

    def __init__(self, server_pid: int, database: str, admin_conninfo: str) -> None:
        import psutil

        self.psutil = psutil
        self.server = psutil.Process(server_pid)
        self.database = database
        self.admin_conninfo = admin_conninfo

    def _backends(self) -> list[Any]:
        with psycopg.connect(self.admin_conninfo, autocommit=True) as conn:
            pids = [
                row[0]
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.database,)
                )
            ]
        return [self.psutil.Process(pid) for pid in pids]

    def _cpu(self, processes: list[Any]) -> float:
        total = 0.0
        for process in processes:
            with contextlib.suppress(self.psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def snapshot(self) -> dict[str, Any]:
        server = [self.server, *self.server.children(recursive=True)]
        backends = self._backends()
        return {
            "server": self._cpu(server),
            "backends": {p.pid: self._cpu([p]) for p in backends},
            "client": time.process_time(),
        }

    @staticmethod
    def spent(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        database = sum(
            cpu - before["backends"].get(pid, 0.0) for pid, cpu in after["backends"].items()
        )
        return {
            "server": after["server"] - before["server"],
            "database": database,
            "client": after["client"] - before["client"],
        }


# --- the check and the report -----------------------------------------------------------


def check_records(url: str, completed: list[str]) -> dict[str, int]:
    from fieldcheck.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:

        def scalar(query: str, **params: Any) -> int:
            return int(conn.execute(sa.text(query), params).scalar_one())

        counts = {
            "results": scalar("SELECT count(*) FROM visit_results"),
            "completed results found": scalar(
                "SELECT count(*) FROM visit_results WHERE client_id = ANY(:ids)", ids=completed
            ),
            "duplicate results": scalar(
                "SELECT count(*) - count(DISTINCT visit_id) FROM visit_results"
            ),
            "photos": scalar("SELECT count(*) FROM photos"),
            "photos named": scalar("SELECT count(*) FROM result_photos"),
            "photos missing": scalar("SELECT count(*) FROM result_photos WHERE photo_id IS NULL"),
            "evidence pending": scalar("SELECT count(*) FROM visit_results WHERE evidence_pending"),
            "visits submitted": scalar("SELECT count(*) FROM visits WHERE state = 'submitted'"),
        }
    engine.dispose()
    return counts


def percentile(samples: list[float], share: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def line(name: str, samples: list[float], rate: float | None, errors: int) -> str:
    if not samples:
        return f"{name:<38} {0:>7}"
    p50 = percentile(samples, 0.5) * 1000
    p99 = percentile(samples, 0.99) * 1000
    rate_text = f"{rate:>9.1f}" if rate is not None else f"{'':>9}"
    return f"{name:<38} {len(samples):>7} {rate_text} {p50:>9.1f} {p99:>9.1f} {errors:>7}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("serve")
    for name in ("--database-url", "--instance", "--secret"):
        child.add_argument(name, required=True)
    for name in ("--port", "--workers", "--threads"):
        child.add_argument(name, type=int, required=True)
    for name in ("--storage-url", "--s3-endpoint-url", "--redis-url"):
        child.add_argument(name)
    parser.add_argument("--crowd", type=int, default=16, help="couriers working at once")
    parser.add_argument("--duration", type=float, default=45, help="seconds of crowd work")
    parser.add_argument("--sync-couriers", type=int, default=50)
    parser.add_argument("--sync-rounds", type=int, default=6)
    parser.add_argument(
        "--changes", type=int, default=3, help="visits of each courier moved between syncs"
    )
    parser.add_argument("--visits-per-courier", type=int, default=40)
    parser.add_argument("--page", type=int, default=50, help="sync page size in the burst")
    parser.add_argument(
        "--retry-rate", type=float, default=0.1, help="share of calls resent / uploads cut off"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args)
        return 0

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    secret = secrets.token_hex(32)
    print(
        f"preparing: database, {max(args.sync_couriers, args.crowd)} couriers × "
        f"{args.visits_per_courier} visits, photos",
        flush=True,
    )
    scratch = create_database()
    instance = Path(tempfile.mkdtemp(prefix="fcbench-"))
    server = None
    try:
        couriers = seed(
            scratch.url, secret, max(args.sync_couriers, args.crowd), args.visits_per_courier
        )
        photos = PhotoMaker()
        sample = [photos.photo(random.Random(n)) for n in range(2)]
        per_visit_s, ceiling = decode_ceiling(sample, cores)
        two_decodes_s, two_decodes_ceiling = two_decode_reference(sample, cores)
        server, port = start_server(scratch.url, instance, secret, args.workers, args.threads)
        tally = Tally()

        meter = CpuMeter(server.pid, scratch.name, scratch.admin_conninfo)
        load_before = os.getloadavg()[0]
        healthz_rate = hammer_healthz(port, args.crowd, 5.0, tally)
        before = meter.snapshot()
        sync_burst(
            port,
            scratch.url,
            couriers[: args.sync_couriers],
            args.sync_rounds,
            args.page,
            args.changes,
            tally,
        )
        burst_cpu = CpuMeter.spent(before, meter.snapshot())
        burst_cpu["client"] -= tally.harness_cpu
        before = meter.snapshot()
        crowd_s = run_crowd(
            port, couriers[: args.crowd], photos, args.duration, args.retry_rate, tally
        )
        crowd_cpu = CpuMeter.spent(before, meter.snapshot())
        load_after = os.getloadavg()[0]
        counts = check_records(scratch.url, tally.completed)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        scratch.drop()
        shutil.rmtree(instance, ignore_errors=True)

    done = len(tally.completed)
    visits_rate = done / crowd_s
    lat = tally.latencies
    err = {k: len(v) for k, v in tally.errors.items()}
    mb = [len(p) / 1e6 for p in sample]
    print()
    print(
        f"fieldcheck courier API under gunicorn ({args.workers} workers × {args.threads} "
        f"threads) on {cores} cores, local photo folder, clients on the same machine"
    )
    print(
        f"photos: {PHOTO_SIZE[0] * PHOTO_SIZE[1] / 1e6:.0f} MP JPEGs, each distinct, about "
        f"{(mb[0] + mb[1]) / 2:.1f} MB, EXIF GPS, time with offset, orientation 6"
    )
    print()
    header = f"{'call':<38} {'n':>7} {'per s':>9} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}"
    print(header)
    print("-" * len(header))
    print(
        line(
            f"/healthz, {args.crowd} clients (ceiling)",
            lat["healthz"],
            healthz_rate,
            err.get("healthz", 0),
        )
    )
    for name in (FIRST_SYNC, CURSOR_SYNC):
        print(
            line(
                f"{name}, {args.sync_couriers} at once",
                lat[name],
                None,
                err.get(name, 0),
            )
        )
    print(
        line(
            f"crowd of {args.crowd}: sync page",
            lat["sync"],
            len(lat["sync"]) / crowd_s,
            err.get("sync", 0),
        )
    )
    print(
        line(
            f"crowd of {args.crowd}: upload photo",
            lat["upload"],
            len(lat["upload"]) / crowd_s,
            err.get("upload", 0),
        )
    )
    print(
        line(
            f"crowd of {args.crowd}: submit result",
            lat["submit"],
            len(lat["submit"]) / crowd_s,
            err.get("submit", 0),
        )
    )
    print()
    print(f"complete visits: {done} in {crowd_s:.1f} s = {visits_rate:.2f} visits/s")
    print(
        f"decode ceiling:  {per_visit_s * 1000:.0f} ms CPU to decode + thumbnail one visit's "
        f"2 photos → {cores} cores ÷ {per_visit_s:.3f} s = {ceiling:.2f} visits/s"
    )
    print(
        f"                 complete visits reach {visits_rate / ceiling:.0%} of it "
        f"(goal ≥ {GOAL_DECODE_SHARE:.0%})"
    )
    print(
        f"                 (with a full decode plus another for the thumbnail, as before: "
        f"{two_decodes_s * 1000:.0f} ms → {two_decodes_ceiling:.2f} visits/s, reached at "
        f"{visits_rate / two_decodes_ceiling:.0%})"
    )
    pages = len(lat[FIRST_SYNC]) + len(lat[CURSOR_SYNC])
    print(
        f"CPU per sync page in the burst: server {burst_cpu['server'] / pages * 1000:.1f} ms, "
        f"PostgreSQL {burst_cpu['database'] / pages * 1000:.1f} ms, clients "
        f"{burst_cpu['client'] / pages * 1000:.1f} ms"
    )
    if done:
        per = {k: v / done for k, v in crowd_cpu.items()}
        print(
            f"CPU per complete visit: server {per['server'] * 1000:.0f} ms (decode + "
            f"thumbnail alone {per_visit_s * 1000:.0f} ms), PostgreSQL "
            f"{per['database'] * 1000:.0f} ms, clients {per['client'] * 1000:.0f} ms → on "
            f"{cores} idle cores: {cores / sum(per.values()):.2f} visits/s "
            f"({cores / sum(per.values()) / ceiling:.0%} of the decode ceiling)"
        )
    print(
        f"machine load average (1 min): {load_before:.1f} before, {load_after:.1f} after "
        f"({cores} cores; other work on the machine slows every wall-clock figure)"
    )
    print(
        f"retries: {tally.resent} calls resent after a lost answer "
        f"({tally.resent_mismatch} answered differently), {tally.cut_off} uploads cut off "
        "half-way and sent again"
    )
    print("records: " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    sync_p99 = {name: percentile(lat[name], 0.99) * 1000 for name in (FIRST_SYNC, CURSOR_SYNC)}
    intact = (
        counts["results"] == done
        and counts["completed results found"] == done
        and counts["duplicate results"] == 0
        and counts["photos"] == 2 * done
        and counts["photos named"] == 2 * done
        and counts["photos missing"] == 0
        and counts["evidence pending"] == 0
        and counts["visits submitted"] == done
    )
    no_errors = not any(err.values()) and tally.resent_mismatch == 0
    goals = [
        (
            f"complete visits/s ≥ {GOAL_DECODE_SHARE:.0%} of the decode ceiling",
            visits_rate >= GOAL_DECODE_SHARE * ceiling,
        ),
        *(
            (
                f"{name} p99 < {GOAL_SYNC_P99_MS:.0f} ms with {args.sync_couriers} couriers "
                f"syncing at once ({p99:.0f} ms)",
                p99 < GOAL_SYNC_P99_MS,
            )
            for name, p99 in sync_p99.items()
        ),
        ("no error; nothing lost or duplicated under retries", no_errors and intact),
    ]
    for text, met in goals:
        print(f"goal: {text}: {'met' if met else 'NOT met'}")
    for name, messages in tally.errors.items():
        for message in messages[:3]:
            print(f"  error in {name}: {message}")
    return 0 if all(met for _, met in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
