"""The local photo folder's disk full during an upload: a 503 with Retry-After, no partial
file left, and the same upload after space was freed keeps exactly one photo.

The folder is a 1 MiB tmpfs filled to the last byte when this process may mount one (root on
Linux); else the write fails with ENOSPC where a full disk reports it, at the fsync.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from fieldcheck.evidence import storage as storage_module
from fieldcheck.evidence.models import Photo
from fieldcheck.evidence.storage import LocalStorage
from tests.builders import auth, courier_user, make_courier
from tests.photos import jpeg, sha256


def _mount_tmpfs(folder: Path) -> bool:
    if os.name != "posix" or os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _unmount(folder: Path) -> None:
    done = subprocess.run(["umount", str(folder)], capture_output=True, check=False)
    if done.returncode != 0:  # busy: detach it now, the kernel frees it when unused
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def _fill(folder: Path) -> Path:
    """Write a file until the filesystem has no byte left."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as out:
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 4096)
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0")
    return filler


@pytest.fixture
def full_photo_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Callable[[], None]]]:
    """A photo folder whose disk is full; the second item frees the space."""
    folder = tmp_path / "photos"
    folder.mkdir()
    if _mount_tmpfs(folder):
        try:
            filler = _fill(folder)
            yield folder, lambda: filler.unlink()
        finally:
            _unmount(folder)
        return
    real_fsync = os.fsync

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(storage_module.os, "fsync", no_space)
    yield folder, lambda: monkeypatch.setattr(storage_module.os, "fsync", real_fsync)


def files_in(folder: Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "filler"
    )


def test_upload_to_a_full_disk_is_a_503_leaves_no_file_and_the_retry_keeps_one_photo(
    app, client, session, full_photo_store
):
    folder, free_space = full_photo_store
    app.extensions["fieldcheck"].storage = LocalStorage(folder)
    headers = auth(courier_user(session, make_courier(session)))
    data = jpeg(size=(640, 480))

    def upload():
        return client.post(
            "/api/v1/courier/photos",
            headers=headers,
            content_type="multipart/form-data",
            data={"file": (io.BytesIO(data), "p.jpg", "image/jpeg")},
        )

    failed = upload()

    assert failed.status_code == 503, failed.json
    assert int(failed.headers["Retry-After"]) > 0
    assert (failed.json["code"], failed.json["reason"]) == ("storage_unavailable", "full")
    assert failed.json["detail"] == (
        "The photo store is full. The photo was not kept. Try again later."
    )
    assert files_in(folder) == []  # no partial photo, no temporary file
    assert session.scalar(sa.select(sa.func.count()).select_from(Photo)) == 0

    free_space()
    retried = upload()

    assert retried.status_code == 201, retried.json
    [photo] = session.scalars(sa.select(Photo)).all()
    assert photo.sha256 == sha256(data)
    assert files_in(folder) == sorted([photo.storage_key, photo.thumbnail_key])
    assert (folder / photo.storage_key).read_bytes() == data
