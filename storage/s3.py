"""Evidence in an S3-compatible object store (MinIO, SeaweedFS, AWS S3) under object lock.

One bucket, two prefixes: ``originals/<sha256>`` holds the bytes the ledger names, each
written with a retention period (GOVERNANCE or COMPLIANCE) so that no one, this service
included, can delete or replace that version while a dispute may still need it;
``served/<sha256>`` holds the copy without GPS or device serials. Served copies carry no
retention: they are derived, and a better stripping rule must be able to replace them.

Object lock protects versions, not keys: a client with write access can still put a newer
version (or a delete marker) over ``originals/<sha256>``. The retained version survives
underneath, and every read hashes the bytes it got, so such a write is reported as an
``EvidenceIntegrityError`` rather than served as evidence.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Literal

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error
from minio.helpers import check_bucket_name
from minio.retention import Retention

from storage.errors import (
    EvidenceIntegrityError,
    EvidenceNotFoundError,
    StorageError,
    StorageUnavailableError,
)
from storage.evidence import StoredEvidence, is_sha256, strip_private_exif

__all__ = ["RetentionMode", "S3EvidenceStore"]

RetentionMode = Literal["GOVERNANCE", "COMPLIANCE"]

# User metadata (x-amz-meta-sha256): lets an idempotent put skip a download.
_META_SHA256 = "sha256"
_MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchVersion"})
_LOCK_MISSING = frozenset(
    {"ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"}
)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A user metadata value, whatever case the server or the client gave the header."""
    wanted = f"x-amz-meta-{name}"
    for key, value in (headers or {}).items():
        if key.lower() in (wanted, name):
            return value
    return None


def _describe(exc: Exception) -> str:
    if isinstance(exc, S3Error):
        return f"{exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


class S3EvidenceStore:
    """Evidence in one S3 bucket with object lock: ``originals/`` retained, ``served/`` not."""

    def __init__(
        self,
        client: Minio,
        *,
        bucket: str,
        retention_mode: RetentionMode = "GOVERNANCE",
        retention_days: int = 365,
    ) -> None:
        check_bucket_name(bucket)  # a bad name is a configuration error: fail at start-up
        if retention_mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise ValueError(f"retention mode must be GOVERNANCE or COMPLIANCE: {retention_mode}")
        if retention_days < 1:
            raise ValueError(f"retention must be at least one day: {retention_days}")
        self.client = client
        self.bucket = bucket
        self.retention_mode: RetentionMode = retention_mode
        self.retention_days = retention_days
        self._bucket_ready = False
        self._lock = threading.Lock()

    @classmethod
    def connect(
        cls,
        *,
        endpoint: str,
        bucket: str,
        access_key: str | None = None,
        secret_key: str | None = None,
        secure: bool = False,
        retention_mode: RetentionMode = "GOVERNANCE",
        retention_days: int = 365,
        timeout_seconds: float = 10.0,
    ) -> S3EvidenceStore:
        """A store on ``endpoint`` (``host:port``); nothing is contacted until first use.

        The client's own default waits five minutes and retries five times; a claim upload
        should fail fast instead (503, try again) while the store is down.
        """
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds),
            retries=urllib3.Retry(
                total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)
            ),
            maxsize=10,
        )
        client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, http_client=http
        )
        return cls(
            client, bucket=bucket, retention_mode=retention_mode, retention_days=retention_days
        )

    # ------------------------------------------------------------------ the protocol

    def put(self, data: bytes) -> StoredEvidence:
        """Store a photo (idempotent by content) and return where it lives."""
        digest = hashlib.sha256(data).hexdigest()
        self._ensure_bucket()
        original, served = f"originals/{digest}", f"served/{digest}"
        if not self._holds(original, digest):
            retain_until = datetime.now(UTC) + timedelta(days=self.retention_days)
            self._write(
                original,
                data,
                metadata={_META_SHA256: digest},
                retention=Retention(self.retention_mode, retain_until),
            )
        if self._stat(served) is None:
            copy = strip_private_exif(data)
            self._write(
                served,
                copy,
                metadata={_META_SHA256: hashlib.sha256(copy).hexdigest(), "source-sha256": digest},
            )
        prefix = f"s3://{self.bucket}/"
        return StoredEvidence(digest, prefix + original, prefix + served, len(data))

    def get_original(self, sha256: str) -> bytes:
        """The original bytes; ``EvidenceIntegrityError`` if they do not hash to ``sha256``."""
        data, _ = self._read("original", sha256)
        if (found := hashlib.sha256(data).hexdigest()) != sha256:
            raise EvidenceIntegrityError(sha256, "original", found)
        return data

    def get_served(self, sha256: str) -> bytes:
        """The copy without GPS or device serials, checked against the hash written with it."""
        data, headers = self._read("served", sha256)
        recorded = _header(headers, _META_SHA256)
        if recorded is not None and (found := hashlib.sha256(data).hexdigest()) != recorded:
            raise EvidenceIntegrityError(sha256, "served", found)
        return data

    # ------------------------------------------------------------------ S3 calls

    @contextmanager
    def _translate(self, doing: str) -> Iterator[None]:
        """Turn client and network failures into ``StorageUnavailableError``."""
        try:
            yield
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise StorageUnavailableError(
                f"{doing} in bucket {self.bucket}: {_describe(exc)}"
            ) from exc

    def _ensure_bucket(self) -> None:
        """Create the bucket with object lock if missing; refuse one that lacks it.

        Done on first write, not at start-up, so the service starts (and answers reads of
        its database) while the store is briefly down.
        """
        if self._bucket_ready:
            return
        with self._lock, self._translate("preparing the bucket"):
            if self._bucket_ready:
                return
            if not self.client.bucket_exists(self.bucket):
                try:
                    # Object lock needs versioning; S3 switches it on with the lock.
                    self.client.make_bucket(self.bucket, object_lock=True)
                except S3Error as exc:
                    if exc.code != "BucketAlreadyOwnedByYou":  # another worker won the race
                        raise
            try:
                self.client.get_object_lock_config(self.bucket)
            except S3Error as exc:
                if exc.code in _LOCK_MISSING:
                    # Retention cannot be set there, so evidence could be deleted: refuse.
                    raise StorageError(
                        f"bucket {self.bucket} exists without object lock; evidence there "
                        "could be deleted. Use a bucket created with object lock."
                    ) from None
                raise
            self._bucket_ready = True

    def _stat(self, key: str) -> Mapping[str, str] | None:
        """The object's headers, or None if there is no current version."""
        with self._translate(f"looking up {key}"):
            try:
                stat = self.client.stat_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in _MISSING:
                    return None
                raise
        return stat.metadata or {}

    def _holds(self, key: str, digest: str) -> bool:
        """Whether ``key`` already holds these bytes; raises if it holds other bytes."""
        headers = self._stat(key)
        if headers is None:
            return False
        if _header(headers, _META_SHA256) == digest:
            return True
        # Written without our metadata (a migration) or tampered with: decide by the bytes.
        data, _ = self._read("original", digest)
        if (found := hashlib.sha256(data).hexdigest()) != digest:
            raise EvidenceIntegrityError(digest, "original", found)
        return True

    def _write(
        self,
        key: str,
        data: bytes,
        *,
        metadata: dict[str, str],
        retention: Retention | None = None,
    ) -> None:
        # Two workers storing the same photo at once may both write: S3 keeps two identical
        # versions, both retained. Harmless, and cheaper than a lock around every upload.
        with self._translate(f"writing {key}"):
            self.client.put_object(
                self.bucket,
                key,
                io.BytesIO(data),
                len(data),
                metadata=dict(metadata),
                retention=retention,
            )

    def _read(
        self, kind: Literal["original", "served"], sha256: str
    ) -> tuple[bytes, Mapping[str, str]]:
        if not is_sha256(sha256):
            raise EvidenceNotFoundError(sha256, kind)
        key = f"{'originals' if kind == 'original' else 'served'}/{sha256}"
        with self._translate(f"reading {key}"):
            try:
                response = self.client.get_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in _MISSING:
                    raise EvidenceNotFoundError(sha256, kind) from None
                raise
            try:
                return response.read(), response.headers
            finally:
                response.close()
                response.release_conn()
