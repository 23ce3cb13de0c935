"""Soak test of the courier API: the fieldwork load held for minutes against the full stack.

Usage: python scripts/soak.py [--duration 600] [--window 60] [--crowd 16] [--redis-url URL]

A run:
  1. prepares a throwaway PostGIS database as scripts/bench_fieldwork.py does, with `--crowd`
     couriers who each hold enough visits never to run out: this machine's decode ceiling
     (visits/s) × 1.25 × duration, shared among the crowd (or `--visits-per-courier`);
  2. starts moto's standalone S3 server as a subprocess on a loopback port, with a fresh
     bucket (objects spill to temporary files, so the bucket does not fill the memory);
  3. starts the API under gunicorn (master + `--workers` × `--threads`) with its photos in
     that bucket and its rate limiter and job queue on Redis (`--redis-url`, default
     FIELDCHECK_REDIS_URL or 127.0.0.1:6379, which must be running);
  4. runs the crowd of the benchmark for `--duration` seconds: each simulated courier syncs,
     uploads two 3 MB 12-megapixel photos and submits, visit after visit, resending some
     calls and cutting some uploads off half-way;
  5. every `--window` seconds (default 60, or a sixth of a shorter run) prints the visits
     completed, timed calls per second, p50/p99 of each call kind, errors, the machine's load
     and the peak resident memory (RSS, sampled every few seconds) of the gunicorn master,
     each worker and moto;
  6. at the end checks the database (one result per completed visit, two photos each,
     nothing duplicated, nothing pending) and that every photo and thumbnail is in the
     bucket, prints each goal with PASS/FAIL and exits 1 when one fails.

Warm-up is the first window or the first 10% of the run, whichever is longer, in whole
windows. Latency drift compares the p99 of each call kind over the last two windows with
the first window after warm-up; memory growth compares each gunicorn process's peak RSS in
the last window with the first window after warm-up. moto stands in for S3 and keeps an
index of the bucket (and the small thumbnails) in memory, so its memory is shown but has no
goal. The courier calls do not use Redis today: it is wired as in production so that any
use of it shows up here. Figures come from one machine shared by server, database and
clients, so the load column says how much else was running.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from scripts import bench_fieldwork as bench  # noqa: E402

GOAL_P99_DRIFT = 0.20
GOAL_MEMORY_GROWTH = 0.10
KINDS = ("sync", "upload", "submit")
SAMPLE_EVERY_S = 5.0
END_WINDOWS = 2  # the end of the run, for latency drift: its last windows pooled
REGION = "us-east-1"
PREFIX = "photos"
MB = 1 << 20
ORDER = {"master": 0, "worker": 1, "moto": 2}  # columns of the memory report


# --- the S3 server -------------------------------------------------------------------------


def use_local_s3_credentials() -> None:
    """Any credentials do for moto; drop whatever could point boto3 elsewhere."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "soak",
            "AWS_SECRET_ACCESS_KEY": "soak",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)


def start_s3_server(folder: Path, bucket: str) -> tuple[subprocess.Popen[bytes], str]:
    """moto's S3 server on a free loopback port, answering, with `bucket` created."""
    from fieldcheck.evidence.storage import make_s3_client

    log_path = folder / "moto.log"
    port = bench._free_port()
    endpoint = f"http://{bench.HOST}:{port}"
    environment = {
        **os.environ,
        "TMPDIR": str(folder),  # where objects above the buffer size are spooled
        "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(256 << 10),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", bench.HOST, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
        )
    client = make_s3_client(endpoint_url=endpoint, region=REGION, connect_timeout=1)
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        try:
            client.create_bucket(Bucket=bucket)
            return process, endpoint
        except (BotoCoreError, ClientError):
            time.sleep(0.2)
    if process.poll() is None:
        process.kill()
    process.wait()
    tail = log_path.read_text(errors="replace")[-2000:]
    raise SystemExit(f"moto's S3 server did not start; its output:\n{tail}")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- watching the run ----------------------------------------------------------------------


class MemoryWatch:
    """Peak RSS of the gunicorn master, its workers and moto between two `take_peaks`."""

    def __init__(self, master_pid: int, moto_pid: int) -> None:
        self.master = psutil.Process(master_pid)
        self.moto = psutil.Process(moto_pid)
        self.roles: dict[int, str] = {master_pid: "master", moto_pid: "moto"}
        self.peaks: dict[int, int] = {}

    def sample(self) -> None:
        processes = [self.master, self.moto]
        with contextlib.suppress(psutil.Error):
            processes += self.master.children(recursive=True)
        for process in processes:
            with contextlib.suppress(psutil.Error):
                rss = process.memory_info().rss
                self.roles.setdefault(process.pid, "worker")
                self.peaks[process.pid] = max(self.peaks.get(process.pid, 0), rss)

    def take_peaks(self) -> dict[int, int]:
        peaks, self.peaks = self.peaks, {}
        return peaks


@dataclass
class Mark:
    """How far the tally had grown at one moment: its lists only ever grow."""

    at: float
    calls: dict[str, int]
    errors: int
    completed: int
    cpu: dict[str, Any]  # CPU seconds so far of the server, its database backends, the clients

    @classmethod
    def take(cls, tally: bench.Tally, meter: bench.CpuMeter) -> Mark:
        cpu = meter.snapshot()
        with tally.lock:
            return cls(
                time.monotonic(),
                {kind: len(tally.latencies[kind]) for kind in KINDS},
                sum(len(messages) for messages in tally.errors.values()),
                len(tally.completed),
                cpu,
            )


@dataclass
class Window:
    label: str
    seconds: float
    samples: dict[str, list[float]]
    errors: int
    visits: int
    load: float
    peaks: dict[int, int]
    cpu: dict[str, float]  # CPU seconds spent in the window: server, database, client


def close_window(
    label: str, tally: bench.Tally, before: Mark, after: Mark, peaks: dict[int, int]
) -> Window:
    with tally.lock:
        samples = {k: tally.latencies[k][before.calls[k] : after.calls[k]] for k in KINDS}
    return Window(
        label,
        after.at - before.at,
        samples,
        after.errors - before.errors,
        after.completed - before.completed,
        os.getloadavg()[0],
        peaks,
        bench.CpuMeter.spent(before.cpu, after.cpu),
    )


def start_crowd(
    port: int,
    couriers: list[bench.Courier],
    photos: bench.PhotoMaker,
    stop_at: float,
    retry_rate: float,
    tally: bench.Tally,
    ran_out: list[int],
) -> list[threading.Thread]:
    """The benchmark's couriers, one thread each; `ran_out` gets those whose visits ended."""

    def run(i: int) -> None:
        phone = bench.Phone(port, couriers[i].token)
        rnd = random.Random(i)
        try:
            bench.work_visits(phone, couriers[i].visit_ids, photos, stop_at, tally, rnd, retry_rate)
        except Exception as exc:  # the phone gave up: the server stopped answering
            tally.error("phone", f"courier {i} stopped: {exc!r}")
            return
        if time.monotonic() < stop_at:
            with tally.lock:
                ran_out.append(i)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(couriers))]
    for thread in threads:
        thread.start()
    return threads


def watch(
    tally: bench.Tally,
    memory: MemoryWatch,
    meter: bench.CpuMeter,
    threads: list[threading.Thread],
    started: float,
    duration: float,
    window_s: float,
    report: Callable[[Window], None],
) -> list[Window]:
    """Sample memory until the crowd stops, closing a window at every boundary."""
    boundaries = [
        started + min(duration, k * window_s) for k in range(1, 1 + windows(duration, window_s))
    ]
    windows_out: list[Window] = []
    mark = Mark.take(tally, meter)
    mark.at = started
    for boundary in boundaries:
        while (now := time.monotonic()) < boundary:
            memory.sample()
            time.sleep(min(SAMPLE_EVERY_S, boundary - now))
        memory.sample()
        after = Mark.take(tally, meter)
        label = f"{mark.at - started:.0f}-{after.at - started:.0f} s"
        windows_out.append(close_window(label, tally, mark, after, memory.take_peaks()))
        report(windows_out[-1])
        mark = after
    # Visits under way at the end finish with a thinning crowd: their calls are kept apart.
    while any(thread.is_alive() for thread in threads):
        memory.sample()
        for thread in threads:
            thread.join(timeout=SAMPLE_EVERY_S / len(threads))
    memory.sample()
    after = Mark.take(tally, meter)
    windows_out.append(close_window("drain", tally, mark, after, memory.take_peaks()))
    report(windows_out[-1])
    return windows_out


def windows(duration: float, window_s: float) -> int:
    """How many report windows a run of `duration` seconds has (the last may be shorter)."""
    return math.ceil(duration / window_s - 1e-9)


# --- the checks and the report -------------------------------------------------------------


def check_bucket(url: str, endpoint: str, bucket: str) -> tuple[int, int, int]:
    """Objects the photos table names, how many of them are missing, how many are unnamed."""
    from fieldcheck.db import make_engine
    from fieldcheck.evidence.storage import make_s3_client

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT storage_key, thumbnail_key FROM photos")).all()
    engine.dispose()
    named = {f"{PREFIX}/{key}" for row in rows for key in row if key}
    stored: set[str] = set()
    client = make_s3_client(endpoint_url=endpoint, region=REGION)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        stored.update(item["Key"] for item in page.get("Contents", []))
    return len(named), len(named - stored), len(stored - named)


def fmt_ms(samples: list[float]) -> str:
    if not samples:
        return f"{'-':>13}"
    p50 = bench.percentile(samples, 0.5) * 1000
    p99 = bench.percentile(samples, 0.99) * 1000
    return f"{p50:>6.0f}/{p99:<6.0f}"


def window_line(window: Window, roles: dict[int, str]) -> str:
    calls = sum(len(s) for s in window.samples.values())
    rate = calls / window.seconds if window.seconds > 0 else 0.0
    by_role = sorted(window.peaks.items(), key=lambda item: (ORDER[roles[item[0]]], item[0]))
    memory = " ".join(f"{rss / MB:>5.0f}" for _, rss in by_role)
    latencies = " ".join(fmt_ms(window.samples[k]) for k in KINDS)
    server, database = (
        window.cpu[part] / window.visits * 1000 if window.visits else float("nan")
        for part in ("server", "database")
    )
    return (
        f"{window.label:<10} {window.visits:>6} {rate:>7.1f} {latencies} {window.errors:>6} "
        f"{window.load:>5.1f} {server:>6.0f} {database:>4.0f}  {memory}"
    )


def growth(before: float, after: float) -> float:
    return after / before - 1 if before > 0 else float("nan")


def verdict(met: bool) -> str:
    return "PASS" if met else "FAIL"


@dataclass
class Outcome:
    """What a run measured and found."""

    tally: bench.Tally
    windows: list[Window]  # the timed windows, then the drain
    roles: dict[int, str]
    moto_pid: int
    ran_out: list[int]
    counts: dict[str, int]
    bucket: tuple[int, int, int]


def report(args: argparse.Namespace, outcome: Outcome, warmup_windows: int, cores: int) -> int:
    """Print the summary and each goal with PASS/FAIL; 0 when every goal is met, else 1."""
    tally, roles = outcome.tally, outcome.roles
    named, missing, unnamed = outcome.bucket
    counts, ran_out = outcome.counts, outcome.ran_out
    done = len(tally.completed)
    timed = outcome.windows[:-1]  # without the drain
    base, last = timed[warmup_windows], timed[-1]
    errors = sum(len(messages) for messages in tally.errors.values())
    print(
        f"\nvisits completed: {done} in {args.duration:.0f} s = {done / args.duration:.2f}/s; "
        f"{tally.resent} calls resent, {tally.cut_off} uploads cut off and sent again; "
        f"load average now {os.getloadavg()[0]:.1f} on {cores} cores (the machine is shared: "
        "other work there moves every figure)"
    )
    print("records: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"bucket: {named} objects named by photos, {missing} missing, {unnamed} not named")

    expected = {
        "results": done,
        "completed results found": done,
        "duplicate results": 0,
        "photos": 2 * done,
        "photos named": 2 * done,
        "photos missing": 0,
        "evidence pending": 0,
        "visits submitted": done,
    }
    wrong = [f"{k} {counts[k]} ≠ {v}" for k, v in expected.items() if counts[k] != v]
    goals: list[tuple[str, bool]] = [
        (f"errors: {errors} (goal 0)", errors == 0),
        (
            f"load held: {len(ran_out)} of {args.crowd} couriers ran out of visits (goal 0)",
            not ran_out,
        ),
    ]
    end = timed[-END_WINDOWS:]
    end_label = f"{end[0].label.split('-')[0]}-{end[-1].label.split('-')[1]}"
    for kind in KINDS:
        before = bench.percentile(base.samples[kind], 0.99)
        after = bench.percentile([s for window in end for s in window.samples[kind]], 0.99)
        drift = growth(before, after)
        goals.append(
            (
                f"{kind} p99 drift: {before * 1000:.0f} ms ({base.label}) → "
                f"{after * 1000:.0f} ms ({end_label}) = {drift:+.0%} "
                f"(goal < {GOAL_P99_DRIFT:.0%})",
                drift < GOAL_P99_DRIFT,
            )
        )
    gunicorn_before = {pid for pid in base.peaks if roles[pid] != "moto"}
    gunicorn_after = {pid for pid in last.peaks if roles[pid] != "moto"}
    for pid in sorted(gunicorn_before & gunicorn_after, key=lambda p: (roles[p] != "master", p)):
        rise = growth(base.peaks[pid], last.peaks[pid])
        goals.append(
            (
                f"memory growth of gunicorn {roles[pid]} {pid}: {base.peaks[pid] / MB:.0f} → "
                f"{last.peaks[pid] / MB:.0f} MB = {rise:+.0%} (goal < {GOAL_MEMORY_GROWTH:.0%})",
                rise < GOAL_MEMORY_GROWTH,
            )
        )
    goals.append(
        (
            "server processes unchanged after warm-up (no worker died or was replaced)",
            gunicorn_before == gunicorn_after,
        )
    )
    goals.append(
        (
            "records: one result per completed visit, its photos, nothing duplicated or pending"
            + (f" ({'; '.join(wrong)})" if wrong else ""),
            not wrong,
        )
    )
    goals.append(
        (f"bucket: every photo and thumbnail object present ({missing} missing)", not missing)
    )
    moto_pid = outcome.moto_pid
    if moto_pid in base.peaks and moto_pid in last.peaks:
        print(
            f"moto (stands in for S3, no goal): {base.peaks[moto_pid] / MB:.0f} → "
            f"{last.peaks[moto_pid] / MB:.0f} MB "
            f"({growth(base.peaks[moto_pid], last.peaks[moto_pid]):+.0%})"
        )
    end_visits = sum(window.visits for window in end)
    for part in ("server", "database"):
        before = base.cpu[part] / base.visits if base.visits else float("nan")
        after = sum(w.cpu[part] for w in end) / end_visits if end_visits else float("nan")
        print(
            f"{part} CPU per visit (no goal; other load does not inflate it): "
            f"{before * 1000:.0f} ms ({base.label}) → {after * 1000:.0f} ms ({end_label}) = "
            f"{growth(before, after):+.0%}"
        )
    print()
    for text, met in goals:
        print(f"{verdict(met)}  {text}")
    for name, messages in tally.errors.items():
        for message in messages[:3]:
            print(f"  error in {name}: {message}")
    return 0 if all(met for _, met in goals) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of load")
    parser.add_argument(
        "--window", type=float, help="seconds per report line (default 60, or duration / 6)"
    )
    parser.add_argument(
        "--warmup", type=float, help="seconds of warm-up (default: a window or 10%%, the longer)"
    )
    parser.add_argument("--crowd", type=int, default=16, help="couriers working at once")
    parser.add_argument("--visits-per-courier", type=int, help="default: enough for the run")
    parser.add_argument(
        "--retry-rate", type=float, default=0.1, help="share of calls resent / uploads cut off"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("FIELDCHECK_REDIS_URL") or "redis://127.0.0.1:6379/0",
    )
    args = parser.parse_args(argv)
    window_s = args.window or min(60.0, args.duration / 6)
    warmup_s = args.warmup if args.warmup is not None else max(window_s, args.duration / 10)
    warmup_windows = max(1, math.ceil(warmup_s / window_s - 1e-9))
    total_windows = windows(args.duration, window_s)
    if total_windows < warmup_windows + 1 + END_WINDOWS:
        parser.error("the run needs warm-up, a first window and two last ones: lengthen --duration")
    try:
        redis.Redis.from_url(args.redis_url, socket_timeout=2).ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis at {args.redis_url} does not answer ({exc}): start it") from exc

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    use_local_s3_credentials()
    secret = secrets.token_hex(32)
    bucket = f"fieldcheck-soak-{uuid.uuid4().hex[:8]}"
    folder = Path(tempfile.mkdtemp(prefix="fcsoak-"))
    print("preparing: photos, decode ceiling, database, S3 server, API server", flush=True)
    photos = bench.PhotoMaker()
    sample = [photos.photo(random.Random(n)) for n in range(2)]
    per_visit_s, ceiling = bench.decode_ceiling(sample, cores)
    visits_each = args.visits_per_courier or math.ceil(ceiling * 1.25 * args.duration / args.crowd)
    scratch = bench.create_database()
    s3 = server = None
    try:
        couriers = bench.seed(scratch.url, secret, args.crowd, visits_each)
        s3, endpoint = start_s3_server(folder, bucket)
        server, port = bench.start_server(
            scratch.url,
            folder,
            secret,
            args.workers,
            args.threads,
            (
                "--storage-url",
                f"s3://{bucket}/{PREFIX}",
                "--s3-endpoint-url",
                endpoint,
                "--redis-url",
                args.redis_url,
            ),
        )
        print(
            f"\nsoak: {args.duration:.0f} s, crowd of {args.crowd} couriers × {visits_each} "
            f"visits, gunicorn {args.workers} workers × {args.threads} threads on {cores} cores; "
            f"photos in S3 (moto, {endpoint}, bucket {bucket}), Redis {args.redis_url}; "
            f"windows of {window_s:.0f} s, warm-up {warmup_windows} window(s); "
            f"decode ceiling {ceiling:.2f} visits/s ({per_visit_s * 1000:.0f} ms CPU per visit)"
        )
        print(
            "CPU columns: milliseconds of CPU per completed visit in the gunicorn processes "
            "(server) and the database's backends (db), which other work on the machine does "
            "not inflate as it does latency"
        )
        print(
            f"\n{'window':<10} {'visits':>6} {'calls/s':>7} "
            + " ".join(f"{k + ' p50/p99 ms':>13}" for k in KINDS)
            + f" {'errors':>6} {'load':>5} {'server':>6} {'db':>4}"
            + "  RSS MB: master, workers, moto",
            flush=True,
        )
        memory = MemoryWatch(server.pid, s3.pid)
        meter = bench.CpuMeter(server.pid, scratch.name, scratch.admin_conninfo)
        tally = bench.Tally()
        ran_out: list[int] = []
        started = time.monotonic()
        threads = start_crowd(
            port, couriers, photos, started + args.duration, args.retry_rate, tally, ran_out
        )
        results = watch(
            tally,
            memory,
            meter,
            threads,
            started,
            args.duration,
            window_s,
            lambda window: print(window_line(window, memory.roles), flush=True),
        )
        outcome = Outcome(
            tally,
            results,
            memory.roles,
            s3.pid,
            ran_out,
            bench.check_records(scratch.url, tally.completed),
            check_bucket(scratch.url, endpoint, bucket),
        )
        stop(server)
        stop(s3)
        # Reported before the database is dropped: a drop may wait on other sessions.
        return report(args, outcome, warmup_windows, cores)
    finally:
        stop(server)
        stop(s3)
        scratch.drop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
