"""The composition root: engines and domain objects the routes share, built once per app."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from api.auth.access import RateLimiter
from api.auth.keys import KeyStore
from api.auth.rate_limit import LocalBuckets, RedisBuckets, SharedBuckets
from api.database import prepare_database
from api.settings import Settings
from claims.compensation import CompensationPolicy
from claims.policy_file import PolicyOverrides, load_policy_file
from claims.service import ClaimsConfig
from ledger.anchor.base import Anchor, NoAnchor
from ledger.anchoring import AnchorPolicy
from ledger.keys import load_or_create_signer
from ledger.log import Ledger
from ledger.note import Signer
from storage.db import make_engine
from storage.evidence import EvidenceStore, LocalEvidenceStore
from storage.files import write_whole
from supplychain.story_policy import DEFAULT_STORY_POLICY, StoryPolicy, load_story_policy
from vision.label_text import ParsePolicy
from vision.ocr import LabelReader, available_engines, load_label_reader
from vision.parallel import networks_in_place

log = logging.getLogger("freshproof.jobs")
# Evidence writes in flight at once when a queued batch is stored (``Services.evidence_pool``).
EVIDENCE_WRITERS = 8

__all__ = ["Services", "build_services"]


@dataclass
class Services:
    """Everything with a lifetime: opened at start-up, closed at shutdown."""

    settings: Settings
    engine: Engine
    ledger: Ledger
    signer: Signer
    evidence: EvidenceStore
    claims_config: ClaimsConfig
    webhook_secret: bytes
    keys: KeyStore
    rate_limiter: RateLimiter
    story_policy: StoryPolicy = DEFAULT_STORY_POLICY
    # The wall clock held captures are judged by (their expiry): a test moves it.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Reads photos' printed labels (None: off; ``Settings.label_ocr``).
    label_reader: LabelReader | None = None
    _anchor: Anchor | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _relay_wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _relay_thread: threading.Thread | None = None
    _anchor_lock: threading.Lock = field(default_factory=threading.Lock)
    _grading_pool: ThreadPoolExecutor | None = None
    _evidence_pool: ThreadPoolExecutor | None = None

    def anchor_now(self) -> dict[str, object] | None:
        """Anchor the current checkpoint now; serialised with the background policy."""
        from ledger.anchoring import anchor_now

        with self._anchor_lock:
            return anchor_now(ledger=self.ledger, signer=self.signer, anchor=self.anchor())

    def maybe_anchor(self) -> dict[str, object] | None:
        """Anchor if the policy says it is due."""
        from ledger.anchoring import maybe_anchor

        with self._anchor_lock:
            return maybe_anchor(
                ledger=self.ledger,
                signer=self.signer,
                anchor=self.anchor(),
                policy=self.anchor_policy,
            )

    def after_write(self) -> None:
        """Kick the in-process jobs: anchoring by policy and webhook delivery."""
        self._relay_wake.set()

    def start_jobs(self) -> None:
        """Run the outbox relay and the anchoring policy in a background thread."""
        if self._relay_thread is not None:
            return
        self._relay_thread = threading.Thread(
            target=self._jobs, name="freshproof-jobs", daemon=True
        )
        self._relay_thread.start()

    def _jobs(self) -> None:
        from notifications.relay import Relay

        relay = Relay(self.engine, secret=self.webhook_secret)
        while not self._stop.is_set():
            try:
                relay.run_once()
                self.maybe_anchor()
            except Exception:  # a failing job must not kill the loop; it logs and retries
                log.exception("background job failed")
            self._relay_wake.wait(self.settings.relay_interval_seconds)
            self._relay_wake.clear()

    @property
    def grading_pool(self) -> ThreadPoolExecutor:
        """Where the items of a station batch are graded side by side (one per CPU)."""
        with self._lock:
            if self._grading_pool is None:
                threads = self.settings.station_threads or os.cpu_count() or 1
                self._grading_pool = ThreadPoolExecutor(
                    threads, thread_name_prefix="fp-grade", initializer=networks_in_place
                )
            return self._grading_pool

    @property
    def evidence_pool(self) -> ThreadPoolExecutor:
        """Where a queued batch's photos are written side by side.

        Each write waits on the disk (its fsync), not on a core, so this pool is sized for
        writes in flight, not for the CPUs: with one thread per CPU (the grading pool) a
        batch of 32 photos of 1080p took about 57 ms to store on 2 cores, with 8 about 40.
        """
        with self._lock:
            if self._evidence_pool is None:
                self._evidence_pool = ThreadPoolExecutor(
                    EVIDENCE_WRITERS, thread_name_prefix="fp-evidence"
                )
            return self._evidence_pool

    @property
    def anchor_policy(self) -> AnchorPolicy:
        """When to anchor, from the settings."""
        return AnchorPolicy(self.settings.anchor_every_entries, self.settings.anchor_every_seconds)

    def anchor(self) -> Anchor:
        """The configured anchor, connected (or its in-process chain started) on first use."""
        with self._lock:
            if self._anchor is None:
                self._anchor = _make_anchor(self.settings)
            return self._anchor

    def close(self) -> None:
        """Stop the jobs and release database connections."""
        self._stop.set()
        self._relay_wake.set()
        if self._relay_thread is not None:
            self._relay_thread.join(timeout=10)
        for pool in (self._grading_pool, self._evidence_pool):
            if pool is not None:
                pool.shutdown(wait=True)
        self.rate_limiter.close()
        self.engine.dispose()


def _make_anchor(settings: Settings) -> Anchor:
    if settings.anchor_backend == "none":
        return NoAnchor()
    from ledger.anchor.ethereum import EthereumAnchor

    if settings.anchor_backend == "inprocess":
        # An in-memory chain: receipts verify for this process's life only (README says so).
        return EthereumAnchor.in_process()
    state = settings.data_dir / "anchor.json"
    address = settings.anchor_contract or (
        json.loads(state.read_text())["contract_address"] if state.exists() else None
    )
    anchor = EthereumAnchor.from_rpc(
        settings.anchor_rpc_url or "", settings.anchor_private_key, contract_address=address
    )
    if address is None:  # just deployed: remember where
        state.write_text(json.dumps({"contract_address": anchor.contract_address}) + "\n")
    return anchor


def _make_evidence_store(settings: Settings) -> EvidenceStore:
    if settings.evidence_backend == "local":
        return LocalEvidenceStore(settings.data_dir / "evidence")
    from storage.s3 import S3EvidenceStore

    # Nothing is contacted yet: the bucket is checked (or created) on the first upload.
    return S3EvidenceStore.connect(
        endpoint=settings.s3_endpoint or "",
        bucket=settings.s3_bucket,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=settings.s3_secure,
        retention_mode=settings.s3_retention_mode,
        retention_days=settings.s3_retention_days,
    )


def build_services(settings: Settings) -> Services:
    """Open the database, the ledger and the signing key named by the settings.

    The database must be at the code's migration revision: with ``db_auto_upgrade`` it is
    brought there, else ``storage.errors.SchemaError`` says what to run.
    """
    story_policy = load_story_policy(settings.public_story_policy_file)  # before opening
    engine = make_engine(settings.resolved_database_url)
    try:
        prepare_database(engine, auto_upgrade=settings.db_auto_upgrade)
    except BaseException:
        engine.dispose()
        raise
    # Transparency logs conventionally name their key after the checkpoint origin.
    signer = load_or_create_signer(
        configured=settings.ledger_signing_key,
        key_dir=settings.key_dir,
        name=settings.ledger_origin,
    )
    ledger = Ledger(engine, origin=settings.ledger_origin, create_tables=False)
    config = claims_config(settings)
    return Services(
        settings,
        engine,
        ledger,
        signer,
        evidence=_make_evidence_store(settings),
        claims_config=config,
        webhook_secret=_webhook_secret(settings),
        keys=KeyStore(engine, ledger=ledger, cache_seconds=settings.key_cache_seconds),
        rate_limiter=_make_rate_limiter(settings),
        story_policy=story_policy,
        label_reader=make_label_reader(settings),
    )


def make_label_reader(settings: Settings) -> LabelReader | None:
    """The label reader the settings ask for: None when off, or ``auto`` and no engine is
    installed; an engine named but missing is ``vision.ocr.OCRUnavailableError`` at start."""
    engine: str = settings.label_ocr
    if engine == "auto":
        engine = next(iter(available_engines()), "off")
        if engine == "off":
            log.info("label reading is off: no OCR engine is installed")
    if engine == "off":
        return None
    policy = ParsePolicy(
        min_confidence=settings.label_min_confidence, day_first=settings.label_day_first
    )
    return load_label_reader(engine, policy=policy)


def _make_rate_limiter(settings: Settings) -> RateLimiter:
    """Buckets in Redis when one is configured (this process's while it fails), else here."""
    per_minute, burst = settings.rate_limit_per_minute, settings.rate_limit_burst
    local = LocalBuckets(per_minute, burst)
    if not settings.redis_url or per_minute <= 0:
        return RateLimiter(per_minute, burst, buckets=local)
    # Nothing is contacted yet: a Redis down at start-up only means per-process counting.
    shared = RedisBuckets.from_url(
        settings.redis_url,
        per_minute=per_minute,
        burst=burst,
        prefix=settings.redis_key_prefix,
        timeout=settings.redis_timeout_seconds,
    )
    return RateLimiter(per_minute, burst, buckets=SharedBuckets(shared, local))


def claims_config(settings: Settings) -> ClaimsConfig:
    """The claims policies: built-in defaults, then settings, then the policy file."""
    policy = (
        load_policy_file(settings.claims_policy_file)
        if settings.claims_policy_file
        else PolicyOverrides()
    )
    defaults = ClaimsConfig()
    return ClaimsConfig(
        profiles={**defaults.profiles, **policy.profiles},
        tickets=policy.tickets or defaults.tickets,
        compensation=CompensationPolicy.from_dict(
            {
                "auto_pay_min_confidence": settings.auto_pay_min_confidence,
                "auto_pay_limit": settings.auto_pay_limit,
                **policy.compensation,
            }
        ),
        webhooks=settings.webhooks,
        lot_alert_claims=policy.lot_alert_claims or defaults.lot_alert_claims,
        lot_alert_window=policy.lot_alert_window or defaults.lot_alert_window,
        responsibility=policy.responsibility or defaults.responsibility,
        duplicate_max_distance=settings.duplicate_photo_max_distance,
    )


def _webhook_secret(settings: Settings) -> bytes:
    if settings.webhook_secret:
        return settings.webhook_secret.encode()
    path = settings.key_dir / "webhook.secret"
    if not path.exists():  # the first of the processes starting together writes it
        write_whole(path, secrets.token_hex(32) + "\n", replace=False)
    return path.read_text().strip().encode()
