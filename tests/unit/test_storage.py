"""Local photo storage, storage URLs and storage keys."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from fieldcheck.errors import ConfigurationError, NotFoundError
from fieldcheck.evidence import storage as storage_module
from fieldcheck.evidence.storage import (
    LocalStorage,
    PhotoStorage,
    S3Storage,
    StorageUnavailableError,
    key_for,
    storage_from_url,
)

DIGEST = "0123456789abcdef" * 4
KEY = key_for(DIGEST, ".jpg")
PHOTO = b"\xff\xd8\xff\xe0 photo bytes"


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "photos")


def files_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


# --- keys ---------------------------------------------------------------------------------


def test_key_for_fans_out_on_the_first_four_hex_digits() -> None:
    assert key_for(DIGEST, ".jpg") == f"01/23/{DIGEST}.jpg"
    assert key_for(DIGEST.upper(), ".thumb.jpg") == f"01/23/{DIGEST}.thumb.jpg"


@pytest.mark.parametrize(
    ("digest", "suffix"),
    [("abc", ".jpg"), ("g" * 64, ".jpg"), (DIGEST, "/../x"), (DIGEST, ".j pg")],
)
def test_key_for_refuses_what_is_not_a_digest_and_a_plain_suffix(digest: str, suffix: str) -> None:
    with pytest.raises(ValueError):
        key_for(digest, suffix)


# --- local storage ------------------------------------------------------------------------


def test_local_storage_is_a_photo_storage(storage: LocalStorage) -> None:
    assert isinstance(storage, PhotoStorage)


def test_put_creates_folders_and_get_returns_the_bytes(storage: LocalStorage) -> None:
    storage.put(KEY, PHOTO, "image/jpeg")

    assert storage.get(KEY) == PHOTO
    assert (storage.root / "01" / "23" / f"{DIGEST}.jpg").read_bytes() == PHOTO


def test_put_replaces_and_leaves_no_temporary_file(storage: LocalStorage) -> None:
    storage.put(KEY, b"first", "image/jpeg")
    storage.put(KEY, PHOTO, "image/jpeg")

    assert storage.get(KEY) == PHOTO
    assert files_under(storage.root) == [KEY]


def test_put_writes_a_file_others_cannot_read(storage: LocalStorage) -> None:
    storage.put(KEY, PHOTO, "image/jpeg")

    mode = stat.S_IMODE((storage.root / KEY).stat().st_mode)
    assert mode & stat.S_IRWXO == 0


def test_exists_follows_put_and_delete(storage: LocalStorage) -> None:
    assert storage.exists(KEY) is False
    storage.put(KEY, PHOTO, "image/jpeg")
    assert storage.exists(KEY) is True
    storage.delete(KEY)
    assert storage.exists(KEY) is False


def test_get_missing_key_raises_not_found(storage: LocalStorage) -> None:
    with pytest.raises(NotFoundError):
        storage.get(KEY)


def test_delete_missing_key_is_harmless(storage: LocalStorage) -> None:
    storage.delete(KEY)


def test_local_storage_has_no_presigned_urls(storage: LocalStorage) -> None:
    assert storage.presigned_get_url(KEY, 60) is None
    assert storage.presigned_put(KEY, "image/jpeg", 60, 1_000_000) is None


@pytest.mark.parametrize(
    "key",
    [
        "../outside.jpg",
        "ab/../../outside.jpg",
        "/etc/passwd",
        "",
        "ab//cd.jpg",
        "ab/./cd.jpg",
        ".hidden",
        "ab\\..\\cd.jpg",
        "ab/cd.jpg\x00",
        "ab/cd.jpg/",
    ],
)
def test_keys_that_could_escape_the_root_are_refused(storage: LocalStorage, key: str) -> None:
    with pytest.raises(ValueError):
        storage.put(key, PHOTO, "image/jpeg")
    with pytest.raises(ValueError):
        storage.get(key)

    assert not storage.root.exists() or files_under(storage.root) == []
    assert not (storage.root.parent / "outside.jpg").exists()


def test_symlink_leading_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    outside = tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "ab").symlink_to(outside)

    with pytest.raises(ValueError):
        LocalStorage(root).put("ab/photo.jpg", PHOTO, "image/jpeg")

    assert list(outside.iterdir()) == []


def test_disk_full_is_storage_unavailable_and_keeps_the_old_file(
    storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.put(KEY, b"old", "image/jpeg")

    def disk_full(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(storage_module.os, "replace", disk_full)

    with pytest.raises(StorageUnavailableError) as excinfo:
        storage.put(KEY, PHOTO, "image/jpeg")

    assert excinfo.value.code == "storage_unavailable"
    assert excinfo.value.details == {"retry_after": excinfo.value.retry_after, "reason": "full"}
    assert excinfo.value.message.startswith("The photo store is full. The photo was not kept.")
    assert isinstance(excinfo.value.__cause__, OSError)
    assert excinfo.value.__cause__.errno == errno.ENOSPC
    assert storage.get(KEY) == b"old"
    assert files_under(storage.root) == [KEY]


@pytest.mark.parametrize(
    ("code", "reason", "told"),
    [
        (errno.ENOSPC, "full", "The photo store is full."),
        (errno.EDQUOT, "full", "The photo store is full."),
        (errno.EROFS, "read_only", "The photo store is read-only for now."),
        (errno.EIO, "error", "Photo storage is unavailable."),
    ],
)
def test_a_failed_write_leaves_no_partial_file_and_says_why(
    storage: LocalStorage, monkeypatch: pytest.MonkeyPatch, code: int, reason: str, told: str
) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(code, os.strerror(code))  # where a full disk shows on delayed writes

    monkeypatch.setattr(storage_module.os, "fsync", failing_fsync)

    with pytest.raises(StorageUnavailableError) as excinfo:
        storage.put(KEY, PHOTO, "image/jpeg")

    assert (excinfo.value.reason, excinfo.value.message) == (
        reason,
        f"{told} The photo was not kept. Try again later.",
    )
    assert files_under(storage.root) == []
    monkeypatch.undo()
    storage.put(KEY, PHOTO, "image/jpeg")
    assert files_under(storage.root) == [KEY]


def test_a_failed_read_does_not_speak_of_keeping_the_photo(
    storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.put(KEY, PHOTO, "image/jpeg")

    def failing_read(self: Path) -> bytes:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(Path, "read_bytes", failing_read)

    with pytest.raises(StorageUnavailableError) as excinfo:
        storage.get(KEY)

    assert excinfo.value.message == "Photo storage is unavailable. Try again later."


def test_unwritable_root_is_storage_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")  # a file where the root folder should be

    with pytest.raises(StorageUnavailableError):
        LocalStorage(blocker / "photos").put(KEY, PHOTO, "image/jpeg")


# --- storage URLs -------------------------------------------------------------------------


def test_storage_from_file_url(tmp_path: Path) -> None:
    storage = storage_from_url(f"file://{tmp_path}/photo%20store")

    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path / "photo store"


def test_storage_from_plain_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    absolute = storage_from_url(str(tmp_path / "photos"))
    relative = storage_from_url("instance/photos")

    assert isinstance(absolute, LocalStorage)
    assert absolute.root == tmp_path / "photos"
    assert isinstance(relative, LocalStorage)
    assert relative.root == tmp_path / "instance" / "photos"


def test_storage_from_s3_url_needs_no_connection() -> None:
    storage = storage_from_url("s3://fieldcheck-evidence/yongkang/", s3_endpoint_url=None)

    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == ("fieldcheck-evidence", "yongkang")


@pytest.mark.parametrize(
    "url",
    ["", "   ", "s3://", "s3:///prefix", "s3://bucket?region=x", "file://nas/photos", "ftp://x/y"],
)
def test_storage_from_url_refuses_what_it_cannot_use(url: str) -> None:
    with pytest.raises(ConfigurationError):
        storage_from_url(url)
