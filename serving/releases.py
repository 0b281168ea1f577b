"""Model releases on the ledger: which model judges photos, since when, and on what grounds.

A release is a ledger entry (``model.release``): the model's name and version, the SHA-256
of every file it ships, the hash of the dataset manifest it was trained on, its test
metrics and the promotion gate's verdict. A rollback is another entry (``model.rollback``)
naming the release it returns to. The latest of these entries for a model name says which
release serves; a projection table (``model_releases``), written in the same transaction,
answers that without scanning the log. Findings name the release entry that made them, and
a verdict resting on a photo's findings cites it.

Pure planning (``release_body``) is apart from the writes (``record_release``,
``record_rollback``), which go through ``Ledger.writer`` like every other entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, String, Table, func, select

from claims.segments import LedgerRef
from ledger.log import Ledger, LedgerWriter
from storage.schema import metadata

__all__ = [
    "KIND_GATE",
    "KIND_RELEASE",
    "KIND_ROLLBACK",
    "NoEarlierReleaseError",
    "Release",
    "ensure_released",
    "gate_looks",
    "model_gate_looks",
    "model_releases",
    "record_gate_look",
    "record_release",
    "record_rollback",
    "release_body",
    "release_history",
    "rollback_target",
    "serving_release",
]

KIND_RELEASE = "model.release"
KIND_ROLLBACK = "model.rollback"
KIND_GATE = "model.gate"

model_releases = Table(
    "model_releases",
    metadata,
    Column("ledger_idx", BigInteger, primary_key=True),
    Column("name", String(100), nullable=False, index=True),
    Column("version", String(50), nullable=False),
    Column("kind", String(20), nullable=False),  # model.release or model.rollback
    Column("leaf_hash", String(64), nullable=False),
)
"""Every release and rollback entry, by model name; the newest row of a name serves."""

model_gate_looks = Table(
    "model_gate_looks",
    metadata,
    Column("ledger_idx", BigInteger, primary_key=True),
    Column("split_id", String(64), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("candidate", String(50), nullable=False),
)
"""Every comparison of a candidate on a held-out split (``model.gate`` entries): the looks."""


class NoEarlierReleaseError(Exception):
    """A rollback with nothing before the serving release to return to."""

    def __init__(self, name: str, version: str | None) -> None:
        self.name, self.version = name, version
        self.reason = f"{name} {version or '(none)'} has no earlier release on the ledger"
        super().__init__(self.reason)


@dataclass(frozen=True)
class Release:
    """A release (or rollback) entry as the projection knows it."""

    name: str
    version: str
    kind: str
    ref: LedgerRef

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "ledger_index": self.ref.index,
            "leaf_hash": self.ref.leaf_hash,
        }


def release_body(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The ledger body of a release, from its ``weights/manifest.json`` entry.

    Every file the release serves is named with its SHA-256 (the detector, the condition
    classifier and the packaging classifier, when it has one); the headline test metrics and the gate's verdict are copied as the
    manifest recorded them, so the entry stands on its own.
    """
    files = {entry["file"]: entry["sha256"]}
    for part in ("classifier", "package_classifier"):
        if block := entry.get(part):
            files[block["file"]] = block["sha256"]
    test = (entry.get("metrics") or {}).get("test") or {}
    metrics = {
        "image_level_accuracy": (test.get("image_level") or {}).get("accuracy"),
        "groups": {g: v.get("accuracy") for g, v in (test.get("groups") or {}).items()},
        "map50": test.get("map50"),
        "spoilage_ap50_banana_mango": test.get("spoilage_ap50_banana_mango"),
    }
    promotion = entry.get("promotion") or {}
    gate = (
        {
            "promote": promotion.get("promote"),
            "replaced": promotion.get("replaced"),
            "alpha": promotion.get("alpha"),
            "p_value": (promotion.get("real") or {}).get("p_value"),
            "reasons": promotion.get("reasons", []),
        }
        if promotion
        else None
    )
    training = entry.get("training") or {}
    return {
        "name": entry["name"],
        "version": entry["version"],
        "files": files,
        # How the files' scores become findings: per-label thresholds and abstention margins.
        "operating": {
            "thresholds": entry.get("thresholds"),
            "abstain": entry.get("abstain") or {},
            # How the packaging classifier's probability enters package_damage (issue 25).
            **(
                {"package": {k: pc.get(k) for k in ("input", "views", "threshold", "fusion")}}
                if (pc := entry.get("package_classifier"))
                else {}
            ),
        },
        "dataset_manifest_sha256": training.get("dataset_manifest_sha256"),
        "metrics": metrics,
        "gate": gate,
    }


def _append(ledger: Ledger, kind: str, body: dict[str, Any]) -> Release:
    with ledger.writer() as w:
        return _append_in(w, kind, body)


def _append_in(w: LedgerWriter, kind: str, body: dict[str, Any]) -> Release:
    (entry,) = w.append_many([(kind, body)])
    ref = LedgerRef(entry.index, entry.leaf_hash.hex())
    w.conn.execute(
        model_releases.insert().values(
            ledger_idx=ref.index,
            name=body["name"],
            version=body["version"],
            kind=kind,
            leaf_hash=ref.leaf_hash,
        )
    )
    return Release(body["name"], body["version"], kind, ref)


def record_release(ledger: Ledger, body: dict[str, Any], *, actor: str) -> Release:
    """Append a release entry (``release_body``'s output, and who released it)."""
    return _append(ledger, KIND_RELEASE, {**body, "released_by": actor})


def ensure_released(ledger: Ledger, body: dict[str, Any], *, actor: str) -> Release:
    """The serving release of ``body``'s model; when the ledger has none yet, ``body`` is
    recorded as its first (a deployment that starts on a shipped model). Checked and
    appended under the ledger's write lock, so an API and a worker starting together
    record it once."""
    with ledger.writer() as w:
        found = w.conn.execute(
            select(model_releases.c.ledger_idx).where(model_releases.c.name == body["name"])
        ).first()
        if found is None:
            return _append_in(w, KIND_RELEASE, {**body, "released_by": actor})
    serving = serving_release(ledger.engine, body["name"])
    assert serving is not None  # a row exists, and rows are never deleted
    return serving


def rollback_target(name: str, history: Sequence[Release]) -> Release:
    """The release a rollback of ``name`` returns to: that of the version served before the
    serving one (``history`` oldest first). Rolling back twice walks back twice."""
    served: list[str] = []  # versions in the order they last began serving
    for r in history:
        served = [v for v in served if v != r.version] + [r.version]
    if len(served) < 2:
        raise NoEarlierReleaseError(name, served[-1] if served else None)
    return _release_of(history, served[-2])


def record_rollback(ledger: Ledger, name: str, *, actor: str, reason: str) -> Release:
    """A ``model.rollback`` entry returning ``name`` to ``rollback_target``'s release."""
    history = release_history(ledger.engine, name)
    target = rollback_target(name, history)
    body = {
        "name": name,
        "version": target.version,
        "from_version": history[-1].version,
        "release_entry": target.ref.as_dict(),
        "reason": reason,
        "rolled_back_by": actor,
    }
    return _append(ledger, KIND_ROLLBACK, body)


def _release_of(history: Sequence[Release], version: str) -> Release:
    """The newest ``model.release`` entry of ``version`` (what a rollback re-serves)."""
    return next(r for r in reversed(history) if r.kind == KIND_RELEASE and r.version == version)


def gate_looks(engine: Engine, split_id: str) -> int:
    """How many comparisons the ledger records on the held-out split ``split_id``."""
    query = select(func.count()).select_from(model_gate_looks)
    with engine.connect() as conn:
        return int(conn.execute(query.where(model_gate_looks.c.split_id == split_id)).scalar_one())


def record_gate_look(ledger: Ledger, body: dict[str, Any], *, actor: str) -> LedgerRef:
    """Append one comparison on a held-out split (``model.gate``): the look it was, the level
    it was tested at, its figures and verdict. Counted by ``gate_looks`` from then on."""
    with ledger.writer() as w:
        (entry,) = w.append_many([(KIND_GATE, {**body, "judged_by": actor})])
        w.conn.execute(
            model_gate_looks.insert().values(
                ledger_idx=entry.index,
                split_id=body["split_id"],
                name=body["name"],
                candidate=body["candidate"],
            )
        )
    return LedgerRef(entry.index, entry.leaf_hash.hex())


def release_history(engine: Engine, name: str) -> list[Release]:
    """Every release and rollback of ``name``, oldest first."""
    rows = select(model_releases).where(model_releases.c.name == name)
    with engine.connect() as conn:
        found = conn.execute(rows.order_by(model_releases.c.ledger_idx)).all()
    return [Release(r.name, r.version, r.kind, LedgerRef(r.ledger_idx, r.leaf_hash)) for r in found]


def serving_release(engine: Engine, name: str) -> Release | None:
    """The release entry of the version that serves ``name`` now (after any rollback), or
    None when the ledger has no release of it yet. Findings cite this entry."""
    history = release_history(engine, name)
    return _release_of(history, history[-1].version) if history else None
