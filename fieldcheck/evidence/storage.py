"""Where photo bytes live: a local directory or an S3 bucket, behind one small interface."""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from fieldcheck.errors import ConfigurationError, NotFoundError, StorageUnavailableError

__all__ = [
    "LocalStorage",
    "PhotoStorage",
    "S3Storage",
    "StorageUnavailableError",
    "check_key",
    "key_for",
    "make_s3_client",
    "storage_from_url",
]

log = logging.getLogger(__name__)

# Keys are "/"-separated segments of safe characters; a segment never starts with "." (no
# "..", no hidden files, and LocalStorage's temporary files can never collide with a key).
_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
_MAX_KEY_LENGTH = 512
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SUFFIX = re.compile(r"[A-Za-z0-9._-]{0,32}")
_MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # the longest a SigV4 signature may live


@runtime_checkable
class PhotoStorage(Protocol):
    """Bytes by key. Keys come from `key_for`; every method may raise StorageUnavailableError."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, replacing what was there."""

    def get(self, key: str) -> bytes:
        """The bytes under `key`; NotFoundError when there are none."""

    def exists(self, key: str) -> bool:
        """Whether something is stored under `key`."""

    def delete(self, key: str) -> None:
        """Remove `key`; removing a missing key is not an error."""

    def presigned_get_url(self, key: str, expires_s: int) -> str | None:
        """A URL that downloads `key` without credentials, or None if the store has none."""

    def presigned_put(
        self, key: str, content_type: str, expires_s: int, max_bytes: int
    ) -> dict[str, Any] | None:
        """How a client uploads `key` directly (method, url, fields), or None."""


def key_for(sha256: str, suffix: str) -> str:
    """The storage key of a content hash: `ab/cd/abcd…<suffix>`.

    Two fan-out levels keep directories and S3 listings small at a few hundred thousand
    photos; `suffix` tells variants apart (".jpg", ".thumb.jpg").
    """
    digest = sha256.lower()
    if not _SHA256.fullmatch(digest):
        raise ValueError(f"not a hex SHA-256 digest: {sha256!r}")
    if not _SUFFIX.fullmatch(suffix):
        raise ValueError(f"suffix must be up to 32 of A-Z a-z 0-9 . _ -: {suffix!r}")
    return f"{digest[:2]}/{digest[2:4]}/{digest}{suffix}"


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative key, else raise ValueError."""
    if len(key) > _MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise ValueError(f"invalid storage key {key!r}: it must be a relative path of safe names")
    return key


def storage_from_url(
    url: str,
    *,
    s3_endpoint_url: str | None = None,
    s3_connect_timeout: float = 3.0,
    s3_read_timeout: float = 15.0,
    s3_max_attempts: int = 3,
) -> PhotoStorage:
    """Build the store a URL names: `file:///path`, a plain path, or `s3://bucket/prefix`.

    `s3_endpoint_url` points S3 at a compatible service (MinIO, Aliyun OSS); the timeouts
    (seconds) and the attempts per call bound how long a request waits on a slow or dead
    bucket. Call this once per process and share the result: the S3 store holds the
    process's one boto3 client.
    """
    text = url.strip()
    if not text:
        raise ConfigurationError("The photo storage URL is empty.")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        if not parts.netloc or parts.query or parts.fragment:
            raise ConfigurationError(
                f"Photo storage URL {url!r} must look like s3://bucket or s3://bucket/prefix."
            )
        return S3Storage(
            parts.netloc,
            parts.path.strip("/"),
            endpoint_url=s3_endpoint_url,
            connect_timeout=s3_connect_timeout,
            read_timeout=s3_read_timeout,
            max_attempts=s3_max_attempts,
        )
    if scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path:
            raise ConfigurationError(
                f"Photo storage URL {url!r} must look like file:///absolute/path."
            )
        return LocalStorage(Path(path))
    if scheme == "":
        return LocalStorage(Path(text).expanduser())
    raise ConfigurationError(
        f"Photo storage URL {url!r} has an unknown scheme; "
        "use file:///path, a plain path, or s3://bucket/prefix."
    )


class LocalStorage:
    """Photos as files under `root`, for the demo and small deployments."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A reader sees the old file or the whole new one, never a half-written photo.
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(temp, 0o640)
                os.replace(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            _fsync_directory(path.parent)  # the rename itself must survive a power cut
        except OSError as exc:
            raise _unavailable("write", key, exc) from exc

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"No stored photo under {key}.") from exc
        except OSError as exc:
            raise _unavailable("read", key, exc) from exc

    def exists(self, key: str) -> bool:
        path = self._path(key)
        try:
            return path.is_file()
        except OSError as exc:
            raise _unavailable("check", key, exc) from exc

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise _unavailable("delete", key, exc) from exc

    def presigned_get_url(self, key: str, expires_s: int) -> str | None:
        check_key(key)
        return None  # the API streams local photos itself

    def presigned_put(
        self, key: str, content_type: str, expires_s: int, max_bytes: int
    ) -> dict[str, Any] | None:
        check_key(key)
        return None  # clients upload through the API

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        # The key is already clean; this catches a symlink inside the root that leads out.
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise ValueError(f"storage key {key!r} leads outside {self.root}")
        return path


class S3Storage:
    """Photos as private objects in an S3 (or S3-compatible) bucket, under `prefix`."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 15.0,
        max_attempts: int = 3,
    ) -> None:
        if not bucket:
            raise ConfigurationError("The S3 bucket name is empty.")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or make_s3_client(
            endpoint_url=endpoint_url,
            region=region,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
        )

    def __repr__(self) -> str:
        return f"S3Storage({self.bucket!r}, {self.prefix!r})"

    def put(self, key: str, data: bytes, content_type: str) -> None:
        # No ACL is sent: objects are private by default, and buckets with ACLs disabled
        # (the AWS default since 2023) refuse any ACL but bucket-owner-full-control.
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._name(key),
                Body=data,
                ContentType=content_type,
                ContentMD5=md5,  # the store refuses a body damaged on the way
            )
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable("write", key, exc) from exc

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
            with contextlib.closing(response["Body"]) as body:
                return body.read()
        except ClientError as exc:
            if _is_missing(exc):
                raise NotFoundError(f"No stored photo under {key}.") from exc
            raise _unavailable("read", key, exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("read", key, exc) from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise _unavailable("check", key, exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("check", key, exc) from exc
        return True

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable("delete", key, exc) from exc

    def presigned_get_url(self, key: str, expires_s: int) -> str | None:
        try:
            return self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._name(key)},
                ExpiresIn=_expiry(expires_s),
            )
        except BotoCoreError as exc:  # e.g. no credentials to sign with
            raise _unavailable("sign", key, exc) from exc

    def presigned_put(
        self, key: str, content_type: str, expires_s: int, max_bytes: int
    ) -> dict[str, Any] | None:
        """A presigned POST form: unlike a presigned PUT, its policy caps the size."""
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        try:
            post = self.client.generate_presigned_post(
                Bucket=self.bucket,
                Key=self._name(key),
                Fields={"Content-Type": content_type},
                Conditions=[
                    {"Content-Type": content_type},
                    ["content-length-range", 1, max_bytes],
                ],
                ExpiresIn=_expiry(expires_s),
            )
        except BotoCoreError as exc:
            raise _unavailable("sign", key, exc) from exc
        return {"method": "POST", "url": post["url"], "fields": post["fields"]}

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key


def make_s3_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    connect_timeout: float = 3.0,
    read_timeout: float = 15.0,
    max_attempts: int = 3,
) -> Any:
    """A boto3 S3 client whose every call is bounded in time.

    Credentials come from boto3's usual chain (environment, config files, instance role).
    """
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        signature_version="s3v4",
        # Since boto3 1.36 every upload carries a CRC checksum that several S3-compatible
        # stores (Aliyun OSS, older MinIO) reject; ContentMD5 already guards the body.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    # A session of its own: boto3's default session is shared module state and not thread-safe.
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def _expiry(expires_s: int) -> int:
    if not 1 <= expires_s <= _MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires_s must be between 1 and {_MAX_PRESIGN_SECONDS} seconds")
    return expires_s


def _is_missing(exc: ClientError) -> bool:
    # Only a missing object; a missing bucket (NoSuchBucket, also a 404) is a broken setup.
    return exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# errno -> (reason, what the client is told) for local faults an operator must fix.
_LOCAL_FAULTS = {
    errno.ENOSPC: ("full", "The photo store is full."),
    errno.EDQUOT: ("full", "The photo store is full."),
    errno.EROFS: ("read_only", "The photo store is read-only for now."),
}
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout"}


def _unavailable(action: str, key: str, exc: Exception) -> StorageUnavailableError:
    """The retryable error a client sees for a storage fault; the cause stays in the log
    and in `__cause__` (the client learns the kind of fault, not the server's internals)."""
    reason, what = _classify(exc)
    level = logging.ERROR if reason in ("full", "read_only", "refused") else logging.WARNING
    log.log(level, "Photo storage failed to %s %s (%s): %s", action, key, reason, exc)
    kept = " The photo was not kept." if action == "write" else ""
    return StorageUnavailableError(f"{what}{kept} Try again later.", reason=reason)


def _classify(exc: Exception) -> tuple[str, str]:
    """(reason, what happened) of a storage fault."""
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | TimeoutError):
        return "timeout", "Photo storage did not answer in time."
    if isinstance(exc, BotoConnectionError | ConnectionClosedError):
        return "unreachable", "Photo storage cannot be reached."
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if status >= 500 or exc.response.get("Error", {}).get("Code") in _THROTTLED:
            return "error", "Photo storage answered with an error."
        # Access denied, no such bucket: a setup an operator must fix.
        return "refused", "Photo storage refused the request."
    if isinstance(exc, OSError) and exc.errno in _LOCAL_FAULTS:
        return _LOCAL_FAULTS[exc.errno]
    return "error", "Photo storage is unavailable."
