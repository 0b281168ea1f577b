"""The S3 evidence store against a real S3 server (SeaweedFS): what only object storage does.

Retention refuses deletion by the server itself, a write over an original is caught on
read, a bucket without object lock is refused, and every failure arrives as a storage
error. The contract shared with the local store is in tests/test_evidence.py.
"""

from __future__ import annotations

import hashlib
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from minio import Minio
from minio.error import MinioException, S3Error

from storage.errors import EvidenceIntegrityError, StorageError, StorageUnavailableError
from storage.s3 import RetentionMode, S3EvidenceStore
from tests.storage.seaweedfs import S3Server, free_ports, fresh_bucket
from tests.test_evidence import photo_with_private_exif

pytestmark = pytest.mark.s3


@pytest.fixture
def client(s3_server: S3Server) -> Minio:
    return s3_server.client()


@pytest.fixture
def store(client: Minio) -> S3EvidenceStore:
    return S3EvidenceStore(client, bucket=fresh_bucket())


def _versions(client: Minio, bucket: str, key: str) -> list[str | None]:
    return [
        o.version_id
        for o in client.list_objects(bucket, prefix=key, include_version=True)
        if o.object_name == key
    ]


def test_bucket_is_created_with_object_lock_and_versioning(
    store: S3EvidenceStore, client: Minio
) -> None:
    assert not client.bucket_exists(store.bucket)  # nothing is made before the first write
    store.put(photo_with_private_exif())
    assert client.get_bucket_versioning(store.bucket).status == "Enabled"
    client.get_object_lock_config(store.bucket)  # raises if the bucket has no object lock


def test_put_writes_each_object_once(store: S3EvidenceStore, client: Minio) -> None:
    data = photo_with_private_exif()
    digest = store.put(data).sha256
    store.put(data)
    assert len(_versions(client, store.bucket, f"originals/{digest}")) == 1
    assert len(_versions(client, store.bucket, f"served/{digest}")) == 1
    stat = client.stat_object(store.bucket, f"originals/{digest}")
    assert stat.metadata is not None and stat.metadata["x-amz-meta-sha256"] == digest


@pytest.mark.parametrize("mode", ["GOVERNANCE", "COMPLIANCE"])
def test_original_is_retained_and_served_copy_is_not(client: Minio, mode: RetentionMode) -> None:
    store = S3EvidenceStore(client, bucket=fresh_bucket(), retention_mode=mode, retention_days=3)
    before = datetime.now(UTC)
    digest = store.put(photo_with_private_exif()).sha256
    retention = client.get_object_retention(store.bucket, f"originals/{digest}")
    assert retention is not None and retention.mode == mode
    until = retention.retain_until_date
    assert until is not None
    assert before + timedelta(days=3) - timedelta(seconds=5) <= until
    assert until <= datetime.now(UTC) + timedelta(days=3, seconds=5)
    try:
        served = client.get_object_retention(store.bucket, f"served/{digest}")
    except S3Error:  # servers answer "no retention" with an error or with nothing
        served = None
    assert served is None or served.mode is None


@pytest.mark.parametrize("mode", ["GOVERNANCE", "COMPLIANCE"])
def test_server_refuses_to_delete_a_retained_original(client: Minio, mode: RetentionMode) -> None:
    store = S3EvidenceStore(client, bucket=fresh_bucket(), retention_mode=mode)
    data = photo_with_private_exif()
    digest = store.put(data).sha256
    key = f"originals/{digest}"
    (version,) = _versions(client, store.bucket, key)
    with pytest.raises(S3Error) as err:
        client.remove_object(store.bucket, key, version_id=version)
    assert err.value.code == "AccessDenied"
    assert _versions(client, store.bucket, key) == [version]
    assert store.get_original(digest) == data


def test_write_over_an_original_is_detected_and_the_original_survives(
    store: S3EvidenceStore, client: Minio
) -> None:
    # Object lock protects versions, not the key: a writer can still add a newer version.
    data = photo_with_private_exif()
    digest = store.put(data).sha256
    key = f"originals/{digest}"
    (retained,) = _versions(client, store.bucket, key)
    forged = photo_with_private_exif(seed=1)
    client.put_object(store.bucket, key, io.BytesIO(forged), len(forged))
    with pytest.raises(EvidenceIntegrityError) as err:
        store.get_original(digest)
    assert err.value.found == hashlib.sha256(forged).hexdigest()
    with pytest.raises(EvidenceIntegrityError):
        store.put(data)  # a later upload of the photo must not paper over the forgery
    kept = client.get_object(store.bucket, key, version_id=retained)
    try:
        assert kept.read() == data
    finally:
        kept.close()
        kept.release_conn()


def test_tampered_object_in_a_bucket_without_lock_is_detected(client: Minio) -> None:
    bucket = fresh_bucket("fp-nolock")
    client.make_bucket(bucket)  # no object lock: bytes under a key can simply be replaced
    data = photo_with_private_exif()
    digest = hashlib.sha256(data).hexdigest()
    tampered = photo_with_private_exif(seed=2)
    client.put_object(bucket, f"originals/{digest}", io.BytesIO(tampered), len(tampered))
    store = S3EvidenceStore(client, bucket=bucket)
    with pytest.raises(EvidenceIntegrityError) as err:
        store.get_original(digest)
    assert (err.value.sha256, err.value.kind) == (digest, "original")


def test_existing_bucket_without_object_lock_is_refused_for_writes(client: Minio) -> None:
    bucket = fresh_bucket("fp-nolock")
    client.make_bucket(bucket)
    store = S3EvidenceStore(client, bucket=bucket)
    with pytest.raises(StorageError, match="without object lock"):
        store.put(photo_with_private_exif())
    assert not list(client.list_objects(bucket, recursive=True))


def test_wrong_credentials_are_a_storage_error(s3_server: S3Server) -> None:
    store = S3EvidenceStore.connect(
        endpoint=s3_server.endpoint, bucket=fresh_bucket(), access_key="nobody", secret_key="x"
    )
    with pytest.raises(StorageUnavailableError) as err:
        store.put(photo_with_private_exif())
    assert not isinstance(err.value, MinioException)
    assert "InvalidAccessKeyId" in err.value.reason


def test_store_down_is_a_storage_error_and_fails_fast() -> None:
    (port,) = free_ports(1)  # nothing listens there
    store = S3EvidenceStore.connect(endpoint=f"127.0.0.1:{port}", bucket=fresh_bucket())
    started = time.monotonic()
    for call in (
        lambda: store.put(photo_with_private_exif()),
        lambda: store.get_original("0" * 64),
        lambda: store.get_served("0" * 64),
    ):
        with pytest.raises(StorageUnavailableError) as err:
            call()
        assert not isinstance(err.value, MinioException)
    assert time.monotonic() - started < 10
