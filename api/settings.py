"""All runtime settings, from ``FRESHPROOF_*`` environment variables or an env file.

The defaults are the embedded ones: SQLite and evidence files under ``./var``, the shipped
ONNX model, everything in process. Production swaps engines by configuration alone.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.limits import BodyLimits
from supplychain.epcis import CaptureLimits
from supplychain.held import HoldPolicy
from vision.image import ImageLimits, QualityThresholds
from vision.registry import DEFAULT_WEIGHTS_DIR

__all__ = ["Settings"]


class Settings(BaseSettings):
    """freshproof settings; every field is ``FRESHPROOF_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="FRESHPROOF_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(Path("var"), description="Mutable state: database, evidence, keys.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite.")
    db_auto_upgrade: bool = Field(
        True,
        description="Start-up creates or upgrades the database schema to the code's revision. "
        "The embedded default; set false in production and run `freshproof db upgrade`.",
    )
    weights_dir: Path = Field(DEFAULT_WEIGHTS_DIR, description="Folder with manifest.json.")
    model_name: str | None = Field(None, description="Manifest model name; default its default.")
    # Each network runs on the runtime and at the precision that measure faster on this CPU
    # when it is loaded (``auto``, vision.runtime.choose): ONNX Runtime or OpenVINO at f32,
    # then OpenVINO's bf16 only where it is clearly faster still (BF16_MARGIN). OpenVINO f32
    # was 1.5x ONNX Runtime's speed on the AVX-512 machines measured, ONNX Runtime 1.1x
    # OpenVINO's on an AVX2-only EPYC; bf16 took about 0.6x f32's CPU on an EPYC with
    # avx512_bf16 and 1.4x on a Xeon with it and no AMX. Both runtimes are in the serving
    # install (OpenVINO's wheel is 180 MB beside ONNX Runtime's 78 MB). Every result
    # records the runtime and precision that ran.
    inference_backend: Literal["auto", "onnxruntime", "openvino"] = Field(
        "auto",
        description="auto (the default): each network on the runtime that measures faster "
        "on this CPU when loaded; onnxruntime or openvino to fix it.",
    )
    inference_precision: Literal["auto", "f32", "bf16"] = Field(
        "auto",
        description="auto: each network at bf16 where that measures faster than f32 on this "
        "CPU when loaded (OpenVINO, clearly faster than the faster runtime at f32), else f32; "
        "bf16 (OpenVINO) or f32 to fix it. f32 gives the same scores "
        "on any CPU, and results record the precision that ran. Unset with backend "
        "onnxruntime: f32.",
    )
    # One runtime thread per network: a photo's detector and classifier run side by side on
    # a pool of one thread per core (vision/parallel.py), and a small network split over two
    # threads spends a third of its CPU on keeping them in step.
    inference_threads: int = Field(
        1, ge=0, description="Runtime threads per network run; 0 lets the runtime choose."
    )
    preload_model: bool = Field(
        True,
        description="Load and warm the serving model when the API starts, on a thread of its "
        "own, instead of when the first photo arrives (which would wait about 2 s for it).",
    )
    model_refresh_seconds: float = Field(
        5.0,
        ge=0,
        description="How often a serving process checks the ledger for another model release "
        "(promoted or rolled back) and loads it, without a restart.",
    )
    max_photos: int = Field(10, ge=1, description="Photos per request.")
    max_photo_bytes: int = Field(15 * 1024 * 1024, ge=1024, description="Bytes per photo.")
    max_image_pixels: int = Field(40_000_000, ge=10_000, description="Pixels per photo.")
    min_image_side: int = Field(64, ge=1, description="Quality gate: smallest side in pixels.")
    # Decoding is CPU-bound: more decodes at once than cores only adds memory. 256 MiB is one
    # 40 Mpx RGB decode (160 MB) plus room for small ones beside it; over the serving
    # process's 235-275 MB at rest, ten concurrent requests of ten 40 Mpx PNGs peaked at
    # 430-470 MB (bench/memory.py; 1.8 GB with no budget). A wait of 10 s rides out such a
    # burst on two cores; past it, a 503.
    decode_concurrency: int = Field(
        2, ge=0, description="Photos decoded at once across all requests; 0: no cap."
    )
    decode_budget_mb: int = Field(
        256,
        ge=0,
        description="MiB of decoded pixels held at once across all requests; 0: no cap. "
        "A photo costing more decodes alone.",
    )
    decode_wait_seconds: float = Field(
        10.0,
        ge=0,
        description="How long a photo waits for room to decode before a 503 with Retry-After.",
    )
    epcis_max_events: int = Field(
        1000, ge=1, description="Events per EPCIS document; a longer one is a 413 problem."
    )
    # Reading costs ~40-80 µs and a few hundred bytes of memory per sensor reading on two
    # cores: 20,000 readings parse in about a second; 1,000 events of 1,000 readings (57.5 MB)
    # took 37.6 s and 1.6 GB. Larger histories are sent as several documents.
    epcis_max_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="Bytes per EPCIS document, checked from Content-Length before it is read; "
        "a larger one is a 413 problem.",
    )
    epcis_max_readings: int = Field(
        20_000,
        ge=1,
        description="Sensor readings per EPCIS document, all events together; more is a 413.",
    )
    epcis_query_max_per_page: int = Field(
        1000,
        ge=1,
        description="Most events one page of GET /v1/events holds; a larger perPage gets this.",
    )
    epcis_max_clock_skew_seconds: float = Field(
        300.0,
        ge=0,
        description="How far ahead of the server's clock an EPCIS event time may be.",
    )
    held_capture_ttl_seconds: float = Field(
        7 * 24 * 3600.0,
        gt=0,
        le=90 * 24 * 3600.0,
        description="How long a document awaiting its senders' records of a handover (a "
        "receipt that arrived before the shipment) is held before it expires unappended "
        "(at most 90 days).",
    )
    held_capture_max_per_key: int = Field(
        1000,
        ge=1,
        description="Documents one key may have held at once; more is a 429 too-many-held.",
    )
    ledger_origin: str = Field("freshproof.local/ledger", description="Checkpoint origin line.")
    ledger_signing_key: str | None = Field(
        None,
        description="Signed-note signer key (PRIVATE+KEY+...); default: generated in var/keys.",
    )

    evidence_backend: Literal["local", "s3"] = Field(
        "local", description="Evidence photos: files under data_dir, or an S3/MinIO bucket."
    )
    s3_endpoint: str | None = Field(None, description="S3/MinIO host:port (s3 backend).")
    s3_access_key: str | None = Field(None, description="S3 access key; unset: anonymous.")
    s3_secret_key: str | None = Field(None, description="S3 secret key.")
    s3_bucket: str = Field(
        "freshproof-evidence", description="Bucket; created with object lock if missing."
    )
    s3_secure: bool = Field(False, description="HTTPS to the endpoint (on in production).")
    s3_retention_mode: Literal["GOVERNANCE", "COMPLIANCE"] = Field(
        "GOVERNANCE",
        description="Object lock mode of each original: COMPLIANCE binds the root account too.",
    )
    s3_retention_days: int = Field(
        365,
        ge=1,
        description="Days each stored original version can be neither deleted nor altered.",
    )

    anchor_backend: str = Field(
        "inprocess",
        pattern="^(inprocess|rpc|none)$",
        description="Checkpoint anchors: in-process EVM, a JSON-RPC node, or none.",
    )
    anchor_rpc_url: str | None = Field(None, description="Ethereum JSON-RPC URL (rpc backend).")
    anchor_private_key: str | None = Field(None, description="Hex key that pays for anchors.")
    anchor_contract: str | None = Field(
        None, description="CheckpointAnchor address; deployed if unset."
    )
    anchor_every_entries: int = Field(100, ge=1, description="Anchor after this many new entries.")
    anchor_every_seconds: float = Field(3600.0, gt=0, description="...or after this long.")

    webhook_urls: str = Field("", description="Comma-separated ticket webhook endpoints.")
    webhook_secret: str | None = Field(
        None, description="HMAC secret; default: generated in var/keys."
    )
    relay_interval_seconds: float = Field(2.0, gt=0, description="Outbox relay poll interval.")
    auto_pay_limit: str = Field("50.00", description="Largest compensation paid without a person.")
    auto_pay_min_confidence: float = Field(
        0.8, ge=0, le=1, description="Verdict confidence needed."
    )
    claims_policy_file: Path | None = Field(
        None,
        description="JSON file with the SLA table, routes, compensation, temperature profiles "
        "and lot-alert policy (see claims/policy_file.py); its compensation keys override "
        "the auto-pay settings.",
    )
    public_story_policy_file: Path | None = Field(
        None,
        description="JSON file saying what a pack's public page shows: products (names, "
        "temperature category per GTIN), origin fields, public extension fields "
        "(see supplychain/story_policy.py); unset: supply-chain records only, nothing private.",
    )
    resolver_base: str | None = Field(
        None,
        pattern=r"^https?://[^/?#\s]+$",
        description="The GS1 Digital Link resolver base a pack's QR code names (e.g. "
        "https://trace.example.com); unset: the base URL the request came to.",
    )
    duplicate_photo_max_distance: int = Field(
        6,
        ge=0,
        le=31,
        description="Perceptual-hash bits within which a claim photo duplicates another claim's.",
    )

    web_secure_cookies: bool = Field(
        True,
        description="Mark the workbench's cookies Secure (sent over HTTPS only). Turn it off "
        "only for plain-http development on 127.0.0.1 (`make run` does).",
    )

    max_json_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Bytes per request body on routes without photo uploads or EPCIS "
        "documents (JSON and form posts); more is a 413 before the body is read.",
    )
    # The HTTP server (`freshproof serve`): what a connection may hold before it says what it
    # wants. Behind a reverse proxy these are a second line; see README.
    server_header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="A connection whose request line and headers are not complete this long "
        "after it opened (or after its previous response) is closed.",
    )
    server_body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="A request body with no bytes for this long (while the server waits for "
        "them) closes its connection.",
    )
    server_keep_alive_seconds: int = Field(
        5, ge=1, description="An idle keep-alive connection is closed after this long."
    )
    server_limit_concurrency: int = Field(
        10_000,
        ge=1,
        description="Open connections (and requests in flight) at most: a connection beyond "
        "it is answered 503 and closed at once; lowered to the open-file limit less 512.",
    )
    server_backlog: int = Field(2048, ge=1, description="Pending connections the kernel queues.")
    server_max_header_bytes: int = Field(
        16 * 1024,
        ge=1024,
        description="Request line and headers together; more is a 400 and the connection closed.",
    )
    log_repeat_window_seconds: float = Field(
        10.0,
        ge=0,
        description="An identical warning or error within this long of the first is counted, "
        "not logged again; the count is logged with the next one after the window (0: log all).",
    )

    rate_limit_per_minute: int = Field(
        600, ge=0, description="Requests per minute per API key, sustained (0: no limit)."
    )
    rate_limit_burst: int = Field(120, ge=1, description="Requests a key may send at once.")
    redis_url: str | None = Field(
        None,
        description="Redis for state the API processes share (the rate limits); unset: each "
        "process keeps its own.",
    )
    redis_key_prefix: str = Field(
        "freshproof:",
        description="Prefix of every Redis key this installation writes; installations "
        "sharing one Redis need different prefixes.",
    )
    redis_timeout_seconds: float = Field(
        0.25,
        gt=0,
        description="How long a Redis call may take; past it the request's rate is counted "
        "in this process, and Redis is tried again 5 s later.",
    )
    key_cache_seconds: float = Field(
        1.0,
        ge=0,
        le=1.0,
        description="How long a process reuses an API key it looked up; a key revoked in "
        "another process is refused here within this long (0: look it up every request).",
    )

    tasks: str = Field(
        "inprocess",
        pattern="^(inprocess|celery)$",
        description="Where large station batches are graded: a pool in this process, or "
        "Celery workers (`freshproof worker`).",
    )
    broker_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672//", description="Celery broker (RabbitMQ)."
    )
    result_backend: str = Field(
        "redis://127.0.0.1:6379/0", description="Celery result backend (Redis)."
    )
    station_sync_items: int = Field(
        8, ge=1, description="Station batches up to this many items are graded at once (200)."
    )
    station_threads: int = Field(
        0, ge=0, description="Items of a station batch graded at once; 0: one per CPU."
    )
    station_max_items: int = Field(
        256, ge=1, description="Larger station batches are refused (413)."
    )
    station_max_queued: int = Field(
        50,
        ge=1,
        description="Queued station batches beyond this are refused (429); only live ones "
        "count (a dead process's are taken over, not counted).",
    )
    station_job_lease_seconds: float = Field(
        30,
        gt=0,
        description="A queued batch's holder renews its lease this often (a third of it); "
        "a batch whose lease ran out is taken over by another process or a restart.",
    )
    station_job_attempts: int = Field(
        3, ge=1, description="Runs a queued batch gets (its worker died) before it fails."
    )
    grading_min_confidence: float = Field(
        0.7, ge=0, le=1, description="Below this a station item is graded by a person."
    )
    # bench/ocr.py, generated label photos, release 0.3.1 interleaved on 2 shared cores:
    # rapidocr (two reads) costs about 23x the model's time per photo, so it is off unless
    # asked for (docs/label-reading.md).
    label_ocr: Literal["off", "auto", "rapidocr", "tesseract"] = Field(
        "off",
        description="Read each claim and station photo's printed lot and use-by date: an "
        "engine (rapidocr: the ocr extra; tesseract: Debian's tesseract-ocr), auto (the "
        "first installed, off when none is), or off.",
    )
    # 0.5: on bench/ocr.py's photos a higher floor only turned exact reads into abstentions;
    # the strict grammar and the second read catch the misreads (docs/label-reading.md).
    label_min_confidence: float = Field(
        0.5,
        ge=0,
        le=1,
        description="The engine confidence a lot or date needs to be read; below it the "
        "label counts as unreadable.",
    )
    label_day_first: bool = Field(
        True, description="Numeric dates on labels are day first (12/03/2026: 12 March)."
    )

    @model_validator(mode="after")
    def _precision_follows_the_backend(self) -> Settings:
        # auto is the default of the default backend; someone choosing ONNX Runtime (f32
        # only) without naming a precision means its f32.
        if "inference_precision" not in self.model_fields_set and (
            self.inference_backend == "onnxruntime"
        ):
            # Not through __setattr__: that would count it as set by the operator, and a
            # command choosing another backend for one run reads that (api/cli.py predict).
            object.__setattr__(self, "inference_precision", "f32")
        return self

    @model_validator(mode="after")
    def _s3_needs_an_endpoint(self) -> Settings:
        # Refuse at start-up rather than at the first claim's upload.
        if self.evidence_backend == "s3" and not self.s3_endpoint:
            raise ValueError("FRESHPROOF_S3_ENDPOINT is required when evidence_backend is s3")
        return self

    @property
    def webhooks(self) -> tuple[str, ...]:
        """The webhook endpoints as a tuple."""
        return tuple(u.strip() for u in self.webhook_urls.split(",") if u.strip())

    @cached_property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under ``data_dir``."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'freshproof.db').resolve()}"

    @property
    def key_dir(self) -> Path:
        """Where generated keys are kept."""
        return self.data_dir / "keys"

    @property
    def image_limits(self) -> ImageLimits:
        """Byte and pixel limits for one upload."""
        return ImageLimits(max_bytes=self.max_photo_bytes, max_pixels=self.max_image_pixels)

    @property
    def quality_thresholds(self) -> QualityThresholds:
        """Quality gate thresholds."""
        return QualityThresholds(min_side=self.min_image_side)

    @property
    def capture_limits(self) -> CaptureLimits:
        """Events, bytes and readings per EPCIS document; the clock skew allowed to events."""
        return CaptureLimits(
            max_events=self.epcis_max_events,
            max_bytes=self.epcis_max_bytes,
            max_readings=self.epcis_max_readings,
            max_clock_skew=timedelta(seconds=self.epcis_max_clock_skew_seconds),
        )

    @property
    def hold_policy(self) -> HoldPolicy:
        """How long a receipt waits for its sender's record, and how many one key may hold."""
        return HoldPolicy(
            ttl=timedelta(seconds=self.held_capture_ttl_seconds),
            max_per_key=self.held_capture_max_per_key,
        )

    @property
    def body_limits(self) -> BodyLimits:
        """Request body caps by kind of route, applied before the body is read."""
        return BodyLimits(
            uploads=self.max_request_bytes, epcis=self.epcis_max_bytes, other=self.max_json_bytes
        )

    @property
    def max_request_bytes(self) -> int:
        """A whole multipart request: every photo at its limit plus room for the form."""
        return self.max_photos * self.max_photo_bytes + 1024 * 1024
