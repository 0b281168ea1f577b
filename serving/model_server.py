"""Which model serves: the release the ledger says, loaded once and swapped when it changes.

``freshproof models promote`` and ``freshproof models rollback`` append release entries;
every process that judges photos (the API, a worker) checks the serving release at most
every ``FRESHPROOF_MODEL_REFRESH_SECONDS`` and loads the new one, hash-checked, without a
restart. Requests already running finish on the model they started with. A deployment
that starts with no release on its ledger records the shipped model as its first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from ledger.log import Ledger
from serving.releases import Release, ensure_released, release_body, serving_release
from vision.errors import ModelError
from vision.predictor import Predictor
from vision.registry import default_name, manifest_entry

__all__ = ["ModelServer", "ServingSettings", "record_serving_release"]

log = logging.getLogger("freshproof.models")

START_UP_ACTOR = "system:start-up"


class ServingSettings(Protocol):
    """What the model server reads of a process's settings (``api.settings.Settings`` has it)."""

    @property
    def weights_dir(self) -> Path: ...

    @property
    def model_name(self) -> str | None: ...

    @property
    def model_refresh_seconds(self) -> float: ...


S = TypeVar("S", bound=ServingSettings)


class ModelServer(Generic[S]):
    """The serving model of one process, following the ledger's releases.

    ``load(settings, release)`` makes the predictor of a release; the settings are handed
    back to it whole, so that the caller's own settings type (backend, limits) reaches it.
    """

    def __init__(
        self,
        settings: S,
        ledger: Ledger,
        load: Callable[[S, Release], Predictor],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._ledger = ledger
        self._load = load
        self._clock = clock
        self._lock = threading.Lock()
        self._predictor: Predictor | None = None
        self._release: Release | None = None
        self._checked = float("-inf")
        self.name = settings.model_name or default_name(settings.weights_dir)

    def ensure_released(self) -> Release:
        """The serving release, recording the shipped model when the ledger has none."""
        entry = manifest_entry(self._settings.weights_dir, self.name)
        return ensure_released(self._ledger, release_body(entry), actor=START_UP_ACTOR)

    @property
    def release(self) -> Release | None:
        """The release the loaded model came from (None before the first load)."""
        return self._release

    @property
    def loaded(self) -> Predictor | None:
        """The model loaded so far, without loading one (None before the first photo)."""
        return self._predictor

    def current(self) -> Predictor:
        """The serving model: loaded on first use, reloaded when another release serves."""
        now = self._clock()
        if (
            self._predictor is not None
            and now - self._checked < self._settings.model_refresh_seconds
        ):
            return self._predictor
        with self._lock:
            if (
                self._predictor is None
                or now - self._checked >= self._settings.model_refresh_seconds
            ):
                self._checked = now
                serving = serving_release(self._ledger.engine, self.name) or self.ensure_released()
                if self._release is None or serving.ref != self._release.ref:
                    self._predictor = self._load(self._settings, serving)
                    self._release = serving
            assert self._predictor is not None
            return self._predictor

    def preload(self) -> threading.Thread:
        """Load and warm the serving model now, on a thread of its own, so the first photo
        after start does not wait for it (about 2 s on 2 cores with ``auto`` precision, which
        compiles and times both precisions of each network). A photo arriving meanwhile
        waits for this load instead of starting its own. A model that cannot load is logged
        here; the photos then meet its error as they would have without the preload."""

        def load() -> None:
            started = time.perf_counter()
            try:
                predictor = self.current()
                predictor.warm_up()
            except Exception:  # any failure: logged, and met again by the first photo
                log.exception("the serving model could not be loaded ahead of the first photo")
                return
            log.info(
                "serving model %s loaded ahead of the first photo in %.1f s",
                predictor.model.get("version", "?"),
                time.perf_counter() - started,
            )

        thread = threading.Thread(target=load, name="freshproof-model-preload", daemon=True)
        thread.start()
        return thread


def record_serving_release(models: ModelServer[Any]) -> None:
    """At start-up: make sure the ledger names a serving release (the shipped model if none).

    A broken or missing model is logged, not raised: the service still starts, answers what
    needs no model, and refuses photos with the model's own error.
    """
    try:
        release = models.ensure_released()
    except ModelError as exc:
        log.error("no model release could be recorded: %s", exc)
        return
    log.info("serving %s %s (ledger entry %d)", release.name, release.version, release.ref.index)
