"""The embedded default database: a local PostgreSQL + PostGIS that the app prepares itself.

Order of preference: the machine's PostgreSQL server when it answers or can be started,
else a private cluster (initdb) in the instance folder. PostgreSQL and PostGIS come from
Debian's packages when they are missing and we may install them (root with apt-get).
"""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from fieldcheck.errors import ConfigurationError

log = logging.getLogger(__name__)

PG_VERSION_DEFAULT = "15"
SYSTEM_SOCKET_DIR = "/var/run/postgresql"
PRIVATE_PORT = 54329

Say = Callable[[str], None]


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _pg_versions() -> list[str]:
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return []
    return sorted((p.name for p in root.iterdir() if (p / "bin" / "initdb").exists()), key=int)


def _has_postgis(version: str) -> bool:
    return Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists()


def _apt_install(packages: list[str], say: Say) -> None:
    if not (_is_root() and shutil.which("apt-get")):
        raise ConfigurationError(
            "PostgreSQL with PostGIS is needed; install it with "
            f"`apt-get install {' '.join(packages)}` (as root), or set FIELDCHECK_DATABASE_URL"
        )
    say(f"installing {' '.join(packages)} from Debian's packages (one-time)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", *packages],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def ensure_postgresql_installed(say: Say = log.info) -> str:
    """Make sure PostgreSQL and its PostGIS package are installed; return the major version."""
    versions = _pg_versions()
    if not versions:
        _apt_install(
            [f"postgresql-{PG_VERSION_DEFAULT}", f"postgresql-{PG_VERSION_DEFAULT}-postgis-3"], say
        )
        versions = _pg_versions()
    version = versions[-1]
    if not _has_postgis(version):
        _apt_install([f"postgresql-{version}-postgis-3"], say)
    return version


def _try_connect(conninfo: str) -> str | None:
    """None when the server answers; otherwise the error text."""
    try:
        with psycopg.connect(conninfo, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.Error as exc:
        return str(exc)


def _system_conninfos() -> list[str]:
    user = getpass.getuser()
    return [
        f"host={SYSTEM_SOCKET_DIR} dbname=postgres user={user}",
        "host=127.0.0.1 port=5432 dbname=postgres user=postgres",
    ]


def _as_postgres(cmd: list[str]) -> list[str]:
    # Cluster tools refuse to run as root; Debian's postgres account owns the clusters.
    if _is_root() and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _start_system_cluster(version: str, say: Say) -> bool:
    if not shutil.which("pg_lsclusters"):
        return False
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
    clusters = [line.split() for line in out.splitlines() if line.strip()]
    if not clusters:
        return False
    ver, name = clusters[0][0], clusters[0][1]
    if clusters[0][3] == "online":
        return True
    say(f"starting the machine's PostgreSQL {ver} cluster {name}")
    result = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", ver, name, "start"],
        capture_output=True,
        text=True,
    )
    return result.returncode == 0


def _ensure_root_role() -> None:
    """Let the root account use peer authentication on the system socket."""
    if not _is_root():
        return
    subprocess.run(
        _as_postgres(["psql", "-h", SYSTEM_SOCKET_DIR, "-d", "postgres", "-tAc",
                      "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='root') "
                      "THEN CREATE ROLE root SUPERUSER LOGIN; END IF; END$$"]),
        capture_output=True,
    )


def _private_cluster(instance_dir: Path, version: str, say: Say) -> str:
    bindir = Path(f"/usr/lib/postgresql/{version}/bin")
    data = instance_dir / "pgdata"
    run = instance_dir / "pgrun"
    run.mkdir(parents=True, exist_ok=True)
    if _is_root():
        shutil.chown(run, "postgres", "postgres")
    user = "postgres" if _is_root() else getpass.getuser()
    conninfo = f"host={run} port={PRIVATE_PORT} dbname=postgres user={user}"
    if _try_connect(conninfo) is None:
        return conninfo
    if not (data / "PG_VERSION").exists():
        say(f"creating a private PostgreSQL cluster in {data}")
        data.mkdir(parents=True, exist_ok=True)
        if _is_root():
            shutil.chown(data, "postgres", "postgres")
        subprocess.run(
            _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", user,
                          "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    say("starting the private PostgreSQL cluster")
    subprocess.run(
        _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"),
                      "-w", "-o", f"-k {run} -p {PRIVATE_PORT} -c listen_addresses=''", "start"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return conninfo


def ensure_server(instance_dir: Path, say: Say = log.info) -> str:
    """Return a libpq conninfo of a running PostgreSQL (with PostGIS) we may create databases on."""
    version = ensure_postgresql_installed(say)
    for attempt in range(2):
        for conninfo in _system_conninfos():
            if _try_connect(conninfo) is None:
                return conninfo
        if attempt == 0:
            started = _start_system_cluster(version, say)
            if started:
                _ensure_root_role()
                for _ in range(20):
                    if any(_try_connect(c) is None for c in _system_conninfos()):
                        break
                    time.sleep(0.5)
            else:
                break
    return _private_cluster(instance_dir, version, say)


def conninfo_to_url(conninfo: str, dbname: str) -> str:
    """A SQLAlchemy URL for `dbname` on the server that `conninfo` reaches."""
    parts = dict(item.split("=", 1) for item in conninfo.split())
    user = parts.get("user", "")
    host = parts.get("host", "")
    port = parts.get("port")
    if host.startswith("/"):
        query = f"?host={host}" + (f"&port={port}" if port else "")
        return f"postgresql+psycopg://{user}@/{dbname}{query}"
    return f"postgresql+psycopg://{user}@{host}:{port or 5432}/{dbname}"


def ensure_database(conninfo: str, dbname: str) -> None:
    """Create `dbname` with PostGIS enabled when it does not exist yet."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    others = [p for p in conninfo.split() if not p.startswith("dbname=")]
    target = " ".join([*others, f"dbname={dbname}"])
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def prepare_local_database(instance_dir: Path, dbname: str = "fieldcheck",
                           say: Say = log.info) -> str:
    """The embedded default: a database on a local server, ready for migrations; its URL."""
    conninfo = ensure_server(instance_dir, say)
    ensure_database(conninfo, dbname)
    return conninfo_to_url(conninfo, dbname)


def main() -> None:
    """`python -m fieldcheck.localdb`: print a server URL (database `postgres`) for test runners."""
    from fieldcheck.config import Settings

    instance = Settings.from_env(mode="dev").instance_dir
    conninfo = ensure_server(instance, say=lambda msg: print(msg, file=sys.stderr))
    print(conninfo_to_url(conninfo, "postgres"))


if __name__ == "__main__":
    main()
