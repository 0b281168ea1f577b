"""What an evidence store holds, listed and removed object by object, for the orphan sweep.

The stores themselves (``storage.evidence``, ``storage.s3``) only put and get: evidence is
never deleted on the request path. Deciding what may go is ``claims.sweep``'s business,
since only it knows which records name a photo; this module gives it the store's side: every
photo held (original and served copy, grouped by SHA-256, with size and age), the leftover
temporary files of interrupted writes, and removal that reports what it could not remove
instead of failing (an S3 original under object-lock retention stays until its date).

S3 removal deletes versions by id, never by writing a delete marker: a marker would only
hide a retained original, and a later upload of the same photo would find it missing.
Incomplete multipart uploads (photos over 5 MiB that died mid-upload) are not listed here:
S3 has a bucket lifecycle rule for those (``AbortIncompleteMultipartUpload``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from storage.errors import StorageError, StorageUnavailableError
from storage.evidence import EvidenceStore, LocalEvidenceStore, is_sha256
from storage.s3 import S3EvidenceStore

__all__ = [
    "TEMP_PREFIX",
    "EvidenceInventory",
    "LocalInventory",
    "Removal",
    "S3Inventory",
    "StoredPhoto",
    "TempFile",
    "inventory_for",
]

TEMP_PREFIX = ".tmp-"
"""How ``storage.evidence._atomic_write`` names a file before it is renamed into place."""

_KINDS = ("original", "served")
# The server's answers when object lock refuses a version's deletion (AWS, MinIO, SeaweedFS).
_RETAINED = frozenset({"AccessDenied", "ObjectLocked", "InvalidRequest", "MethodNotAllowed"})


@dataclass(frozen=True)
class StoredPhoto:
    """One photo as the store holds it: its objects (original and/or served copy).

    ``size`` is the original's bytes (the served copy's when only that is left);
    ``modified`` the newest of its objects' times, so a copy written late keeps it young.
    """

    sha256: str
    size: int
    modified: datetime
    objects: tuple[str, ...]


@dataclass(frozen=True)
class TempFile:
    """A file an interrupted atomic write left behind (local store only)."""

    name: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Removal:
    """What removing one photo did: the objects gone, and each kept one with why."""

    sha256: str
    size: int
    removed: tuple[str, ...]
    kept: tuple[tuple[str, str], ...] = ()

    @property
    def complete(self) -> bool:
        """Whether every object of the photo is gone."""
        return not self.kept


class EvidenceInventory(Protocol):
    """A store's contents for the sweep: list, look again, remove."""

    name: str
    """How the ledger's ``evidence.swept`` entry names the store (``local``, ``s3://bucket``)."""

    def photos(self) -> Iterator[StoredPhoto]:
        """Every photo held, one per SHA-256."""
        ...

    def refresh(self, photo: StoredPhoto) -> StoredPhoto | None:
        """The photo as it is now (a re-upload makes it younger), or None when gone."""
        ...

    def remove(self, photo: StoredPhoto) -> Removal:
        """Remove the photo's objects; what cannot be removed is reported, not raised."""
        ...

    def temp_files(self) -> Iterator[TempFile]:
        """Leftovers of interrupted writes."""
        ...

    def remove_temp(self, temp: TempFile) -> str | None:
        """Remove a leftover; None when done, else why not."""
        ...


def _mtime(stat: os.stat_result) -> datetime:
    return datetime.fromtimestamp(stat.st_mtime, UTC)


def _group(found: Iterable[tuple[str, str, int, datetime]]) -> Iterator[StoredPhoto]:
    """(sha256, kind, size, modified) per object → one StoredPhoto per hash."""
    by_hash: dict[str, dict[str, tuple[int, datetime]]] = {}
    names: dict[str, list[str]] = {}
    for sha256, name, size, modified in found:
        kind = "original" if name.startswith("original") else "served"
        by_hash.setdefault(sha256, {})[kind] = (size, modified)
        names.setdefault(sha256, []).append(name)
    for sha256, kinds in sorted(by_hash.items()):
        size = (kinds.get("original") or kinds["served"])[0]
        yield StoredPhoto(
            sha256, size, max(m for _, m in kinds.values()), tuple(sorted(names[sha256]))
        )


class LocalInventory:
    """The local store's files: ``original/ab/<sha256>``, ``served/ab/<sha256>``, ``.tmp-*``.

    Files with any other name are not evidence this code wrote: never listed, never removed.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = "local"

    def _objects(self, sha256: str | None = None) -> Iterator[tuple[str, str, int, datetime]]:
        for kind in _KINDS:
            pattern = f"{sha256[:2]}/{sha256}" if sha256 else "??/*"
            for path in (self.root / kind).glob(pattern):
                name = path.name
                if not is_sha256(name) or path.parent.name != name[:2]:
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:  # removed meanwhile
                    continue
                yield name, f"{kind}/{name[:2]}/{name}", stat.st_size, _mtime(stat)

    def photos(self) -> Iterator[StoredPhoto]:
        """Every photo held, one per SHA-256."""
        return _group(self._objects())

    def refresh(self, photo: StoredPhoto) -> StoredPhoto | None:
        """The photo as it is now, or None when gone."""
        return next(_group(self._objects(photo.sha256)), None)

    def remove(self, photo: StoredPhoto) -> Removal:
        """Unlink the photo's files (the original last: a half-done sweep keeps the bytes)."""
        removed: list[str] = []
        kept: list[tuple[str, str]] = []
        for name in sorted(photo.objects, key=lambda n: n.startswith("original")):
            try:
                (self.root / name).unlink(missing_ok=True)
                removed.append(name)
            except OSError as exc:
                kept.append((name, f"{type(exc).__name__}: {exc.strerror or exc}"))
        return Removal(photo.sha256, photo.size, tuple(removed), tuple(kept))

    def temp_files(self) -> Iterator[TempFile]:
        """``.tmp-*`` files anywhere under the store."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.rglob(f"{TEMP_PREFIX}*")):
            with contextlib.suppress(FileNotFoundError):
                stat = path.lstat()
                if path.is_file() and not path.is_symlink():
                    yield TempFile(str(path.relative_to(self.root)), stat.st_size, _mtime(stat))

    def remove_temp(self, temp: TempFile) -> str | None:
        """Unlink the leftover."""
        try:
            (self.root / temp.name).unlink(missing_ok=True)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc.strerror or exc}"
        return None


def _describe(exc: Exception) -> str:
    if isinstance(exc, S3Error):
        return f"{exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


class S3Inventory:
    """The bucket's ``originals/`` and ``served/`` objects; it has no temporary files."""

    def __init__(self, client: Minio, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        self.name = f"s3://{bucket}"

    def _list(self, prefix: str) -> Iterator[tuple[str, str, int, datetime]]:
        try:
            for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
                key = obj.object_name or ""
                sha256 = key.rsplit("/", 1)[-1]
                if is_sha256(sha256) and obj.last_modified is not None:
                    yield sha256, key, int(obj.size or 0), obj.last_modified.astimezone(UTC)
        except S3Error as exc:
            if exc.code == "NoSuchBucket":  # nothing was ever stored
                return
            raise StorageUnavailableError(
                f"listing {prefix} in {self.bucket}: {_describe(exc)}"
            ) from exc
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise StorageUnavailableError(
                f"listing {prefix} in {self.bucket}: {_describe(exc)}"
            ) from exc

    def photos(self) -> Iterator[StoredPhoto]:
        """Every photo held, one per SHA-256 (the current version of each key)."""
        return _group(obj for prefix in ("originals/", "served/") for obj in self._list(prefix))

    def refresh(self, photo: StoredPhoto) -> StoredPhoto | None:
        """The photo as it is now, or None when gone."""
        found = [
            obj
            for prefix in (f"originals/{photo.sha256}", f"served/{photo.sha256}")
            for obj in self._list(prefix)
            if obj[0] == photo.sha256
        ]
        return next(_group(found), None)

    def _remove_key(self, key: str) -> str | None:
        """Delete every version of ``key`` by id; None when all went, else why not."""
        refused: list[str] = []
        try:
            versions = [
                o.version_id
                for o in self.client.list_objects(self.bucket, prefix=key, include_version=True)
                if o.object_name == key
            ]
            for version in versions:
                try:
                    self.client.remove_object(self.bucket, key, version_id=version)
                except S3Error as exc:
                    refused.append(self._why_kept(key, version, exc))
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            return f"store unavailable: {_describe(exc)}"
        return "; ".join(refused) or None

    def _why_kept(self, key: str, version: str | None, exc: S3Error) -> str:
        if exc.code not in _RETAINED:
            return _describe(exc)
        try:
            retention = self.client.get_object_retention(self.bucket, key, version_id=version)
        except (MinioException, urllib3.exceptions.HTTPError):
            retention = None
        if retention is not None and retention.retain_until_date is not None:
            return f"retained ({retention.mode} until {retention.retain_until_date.isoformat()})"
        return f"refused by the server ({exc.code})"

    def remove(self, photo: StoredPhoto) -> Removal:
        """Delete each object's versions; a retained original is reported, the rest still go."""
        removed: list[str] = []
        kept: list[tuple[str, str]] = []
        for key in sorted(photo.objects, key=lambda n: n.startswith("original")):
            why = self._remove_key(key)
            if why is None:
                removed.append(key)
            else:
                kept.append((key, why))
        return Removal(photo.sha256, photo.size, tuple(removed), tuple(kept))

    def temp_files(self) -> Iterator[TempFile]:
        """None: an S3 PUT is atomic (multipart leftovers: see the module docstring)."""
        return iter(())

    def remove_temp(self, temp: TempFile) -> str | None:
        """Nothing to do (there are none)."""
        return f"{self.name} has no temporary files"


def inventory_for(store: EvidenceStore) -> EvidenceInventory:
    """The inventory of a configured store; ``StorageError`` for a kind it cannot list."""
    if isinstance(store, LocalEvidenceStore):
        return LocalInventory(store.root)
    if isinstance(store, S3EvidenceStore):
        return S3Inventory(store.client, store.bucket)
    raise StorageError(f"cannot list a {type(store).__name__} for the sweep")
