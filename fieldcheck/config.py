"""Settings read from the environment, with a safe embedded default for demo and dev use."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fieldcheck.errors import ConfigurationError

# A well-known value: accepted in demo and dev mode only, refused by production.
DEV_SECRET_KEY = "fieldcheck-dev-secret-not-for-production"
MODES = ("production", "dev", "demo", "test")


def default_instance_dir() -> Path:
    """Where the embedded default keeps its database cluster and photos."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "fieldcheck"


@dataclass(frozen=True)
class Settings:
    """Everything a process needs to know to run; built once, passed explicitly."""

    mode: str = "production"
    database_url: str | None = None  # None: the embedded local database
    storage_url: str | None = None  # None: a folder inside the instance dir
    s3_endpoint_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    instance_dir: Path = field(default_factory=default_instance_dir)
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 30 * 24 * 3600
    enrolment_code_ttl_s: int = 72 * 3600
    login_limit_per_account: int = 5
    login_limit_per_address: int = 50
    login_window_s: int = 300
    max_request_bytes: int = 32 * 1024 * 1024
    max_photo_bytes: int = 15 * 1024 * 1024
    max_photo_pixels: int = 50_000_000
    # Behind one trusted reverse proxy: take the client address from X-Forwarded-For.
    behind_proxy: bool = False
    # How long one S3 call may wait on a slow or dead bucket before the client gets a 503.
    s3_connect_timeout_s: float = 3.0
    s3_read_timeout_s: float = 15.0
    s3_max_attempts: int = 3
    # A running job touches its row this often; one silent for job_stale_after_s lost its worker.
    job_heartbeat_s: float = 10.0
    job_stale_after_s: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read FIELDCHECK_* variables; keyword overrides win over the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        simple = {
            "mode": "FIELDCHECK_MODE",
            "database_url": "FIELDCHECK_DATABASE_URL",
            "storage_url": "FIELDCHECK_STORAGE_URL",
            "s3_endpoint_url": "FIELDCHECK_S3_ENDPOINT_URL",
            "redis_url": "FIELDCHECK_REDIS_URL",
            "secret_key": "FIELDCHECK_SECRET_KEY",
        }
        for name, var in simple.items():
            if env.get(var):
                values[name] = env[var]
        if env.get("FIELDCHECK_BEHIND_PROXY", "").lower() in ("1", "true", "yes"):
            values["behind_proxy"] = True
        numbers = {
            "s3_connect_timeout_s": ("FIELDCHECK_S3_CONNECT_TIMEOUT_S", float),
            "s3_read_timeout_s": ("FIELDCHECK_S3_READ_TIMEOUT_S", float),
            "s3_max_attempts": ("FIELDCHECK_S3_MAX_ATTEMPTS", int),
            "job_heartbeat_s": ("FIELDCHECK_JOB_HEARTBEAT_S", float),
            "job_stale_after_s": ("FIELDCHECK_JOB_STALE_AFTER_S", float),
        }
        for name, (var, kind) in numbers.items():
            if env.get(var):
                values[name] = _positive(var, env[var], kind)
        if env.get("FIELDCHECK_INSTANCE_DIR"):
            values["instance_dir"] = Path(env["FIELDCHECK_INSTANCE_DIR"])
        values.update(overrides)
        settings = cls(**values)
        if settings.mode not in MODES:
            raise ConfigurationError(
                f"FIELDCHECK_MODE must be one of {', '.join(MODES)}, not {settings.mode!r}"
            )
        if settings.job_heartbeat_s > 20:
            # Readers that are not given the stale limit take a job silent for 60 s as dead.
            raise ConfigurationError("FIELDCHECK_JOB_HEARTBEAT_S must be at most 20 seconds")
        if settings.job_stale_after_s < 3 * settings.job_heartbeat_s:
            raise ConfigurationError(
                "FIELDCHECK_JOB_STALE_AFTER_S must be at least three times "
                "FIELDCHECK_JOB_HEARTBEAT_S, or live jobs would be taken for dead ones"
            )
        if settings.secret_key is None and settings.mode != "production":
            settings = replace(settings, secret_key=DEV_SECRET_KEY)
        return settings

    def check_secret(self) -> None:
        """Refuse to serve production traffic with a missing, default or weak secret."""
        if self.mode != "production":
            return
        if not self.secret_key:
            raise ConfigurationError(
                "FIELDCHECK_SECRET_KEY is not set: in production mode the server needs a secret"
                " of at least 32 characters to sign tokens (or set FIELDCHECK_MODE=dev)"
            )
        if self.secret_key == DEV_SECRET_KEY:
            raise ConfigurationError(
                "FIELDCHECK_SECRET_KEY is the built-in development secret: production needs its own"
            )
        if len(self.secret_key) < 32:
            raise ConfigurationError(
                "FIELDCHECK_SECRET_KEY is shorter than 32 characters: too weak to sign tokens"
            )

    @property
    def photo_storage_url(self) -> str:
        return self.storage_url or str(self.instance_dir / "photos")


def _positive(var: str, text: str, kind: type[float] | type[int]) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        value = 0
    if not 0 < value < float("inf"):  # also refuses nan
        noun = "a whole number" if kind is int else "a number"
        raise ConfigurationError(f"{var} must be {noun} above 0, not {text!r}")
    return value
