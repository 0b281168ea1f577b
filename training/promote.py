"""Decide whether a retrained model may replace the shipped one: only when it measurably wins.

Both models judge the same held-out photos at their own operating thresholds. The decision
rests on the *real* photos only (generated images are built the way a candidate may have been
trained) and on a paired test: McNemar's exact test over the photos the two models judge
differently, since both see the very same photos. A candidate is promoted when it is right
significantly more often overall and no product group (produce, parcels, cans) gets
significantly worse, so a gain on fruit cannot hide a loss on cans.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import comb
from pathlib import Path
from typing import Any

from training.evaluate import (
    GROUPS,
    ImageRecord,
    is_real_photo,
    is_real_pool,
    judged_defective,
    sample_rows,
)

__all__ = [
    "LOOKS_FILE",
    "Comparison",
    "GroupComparison",
    "compare_models",
    "install",
    "look_alpha",
    "mcnemar_exact",
    "record_look",
    "record_refusal",
    "recorded_looks",
    "split_identity",
]

# Every look at a held-out split, one JSON object per line, kept beside the weights it judged.
# The ledger records looks too, but a ledger is one deployment's: a fresh database counted
# from zero would hand the next candidate the first look's generous level on photos that
# earlier candidates were already judged on. The file travels with the repository.
LOOKS_FILE = "gate-looks.jsonl"


def look_alpha(alpha: float, look: int) -> float:
    """The level of the ``look``-th comparison (1-based) on one held-out split.

    Every candidate judged on the same test photos is another look at them; testing each at
    the full level would let a run of lucky candidates through. The levels spend ``alpha``
    along 6/(pi^2 k^2), whose sum over all looks is exactly ``alpha``: 0.61 alpha for the
    first look, 0.15 alpha for the second, 0.068 alpha for the third, and so on, however many
    come. (Sums the Bonferroni way; the looks are not assumed independent.)
    """
    if look < 1:
        raise ValueError(f"looks count from 1, not {look}")
    return alpha * 6 / (math.pi**2 * look**2)


def split_identity(dataset: Path, split: str) -> str:
    """SHA-256 naming a held-out split: its real photos' names and their labels, sorted.

    Looks are counted per identity: a fresh split (new photos) starts counting again. Only
    the real photos count, as only they decide (``compare_models``): regenerating a split's
    composites or synthetic images leaves the photos judged, and so the count, as they were.
    """
    rows = sample_rows(dataset)
    h = hashlib.sha256()
    for image in sorted((dataset / "images" / split).iterdir()):
        if not is_real_pool(rows.get(f"images/{split}/{image.name}", {}).get("pool", "unknown")):
            continue
        label = dataset / "labels" / split / f"{image.stem}.txt"
        h.update(image.name.encode() + b"\0")
        h.update(label.read_bytes() if label.exists() else b"")
        h.update(b"\0")
    return h.hexdigest()


def recorded_looks(weights_dir: Path, split_id: str) -> int:
    """How many looks at the split ``split_id`` the weights folder's look file records."""
    path = weights_dir / LOOKS_FILE
    if not path.exists():
        return 0
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return sum(1 for row in rows if row.get("split_id") == split_id)


def record_look(weights_dir: Path, look: dict[str, Any]) -> None:
    """Append one look (its split id, number, level and verdict) to the look file."""
    if "split_id" not in look or "look" not in look:
        raise ValueError("a look names its split_id and its number")
    with (weights_dir / LOOKS_FILE).open("a") as f:
        f.write(json.dumps(look, sort_keys=True) + "\n")


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (a binomial test at 1/2)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class GroupComparison:
    """Paired accuracies of the two models on one set of photos."""

    images: int
    incumbent_accuracy: float | None
    candidate_accuracy: float | None
    only_incumbent_right: int
    only_candidate_right: int
    p_value: float

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the CLI and the manifest."""
        return {
            "images": self.images,
            "incumbent_accuracy": self.incumbent_accuracy,
            "candidate_accuracy": self.candidate_accuracy,
            "only_incumbent_right": self.only_incumbent_right,
            "only_candidate_right": self.only_candidate_right,
            "p_value": round(self.p_value, 6),
        }


@dataclass(frozen=True)
class Comparison:
    """The verdict, why, and the paired figures it rests on."""

    promote: bool
    reasons: tuple[str, ...]
    real_photos: GroupComparison
    groups: dict[str, GroupComparison]
    alpha: float

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the CLI and the manifest."""
        return {
            "promote": self.promote,
            "reasons": list(self.reasons),
            "alpha": self.alpha,
            "real_photos": self.real_photos.as_dict(),
            "groups": {k: v.as_dict() for k, v in self.groups.items()},
        }


def _paired(
    pairs: Sequence[tuple[ImageRecord, ImageRecord]],
    inc_thresholds: dict[str, float],
    cand_thresholds: dict[str, float],
) -> GroupComparison:
    inc_right = cand_right = only_inc = only_cand = 0
    for inc, cand in pairs:
        a = judged_defective(inc, inc_thresholds) == inc.defective
        b = judged_defective(cand, cand_thresholds) == cand.defective
        inc_right += a
        cand_right += b
        only_inc += a and not b
        only_cand += b and not a
    n = len(pairs)
    return GroupComparison(
        images=n,
        incumbent_accuracy=round(inc_right / n, 4) if n else None,
        candidate_accuracy=round(cand_right / n, 4) if n else None,
        only_incumbent_right=only_inc,
        only_candidate_right=only_cand,
        p_value=mcnemar_exact(only_inc, only_cand),
    )


def compare_models(
    *,
    incumbent: Sequence[ImageRecord],
    incumbent_thresholds: dict[str, float],
    candidate: Sequence[ImageRecord],
    candidate_thresholds: dict[str, float],
    alpha: float = 0.05,
    groups: dict[str, Callable[[ImageRecord], bool]] = GROUPS,
    guard_alpha: float = 0.05,
) -> Comparison:
    """Pair the two models' judgements photo by photo and decide on promotion.

    ``alpha`` is the level the gain must reach (a look's share of the family level);
    ``guard_alpha`` the level at which a group's loss blocks it. The guard is not spent per
    look: were it, the more candidates had been judged the larger the loss on cans or
    parcels a winner could bring along unnoticed.
    """
    by_file = {r.file: r for r in candidate}
    if set(by_file) != {r.file for r in incumbent}:
        raise ValueError("the two models were not judged on the same photos")
    pairs = [(r, by_file[r.file]) for r in incumbent if is_real_photo(r)]
    real = _paired(pairs, incumbent_thresholds, candidate_thresholds)
    per_group = {
        name: _paired([p for p in pairs if keep(p[0])], incumbent_thresholds, candidate_thresholds)
        for name, keep in groups.items()
    }
    reasons = []
    gained = real.only_candidate_right > real.only_incumbent_right
    if not pairs:
        reasons.append("no real photos to compare on")
    elif gained and real.p_value < alpha:
        reasons.append(
            f"right on {real.only_candidate_right} real photos the shipped model gets wrong, "
            f"wrong on {real.only_incumbent_right} it gets right (McNemar p={real.p_value:.3g})"
        )
    else:
        reasons.append(
            f"no significant gain on real photos: {real.only_candidate_right} newly right, "
            f"{real.only_incumbent_right} newly wrong (McNemar p={real.p_value:.3g}, "
            f"needs < {alpha})"
        )
    worse = [
        name
        for name, g in per_group.items()
        if g.images
        and g.only_incumbent_right > g.only_candidate_right
        and g.p_value < max(alpha, guard_alpha)
    ]
    for name in worse:
        g = per_group[name]
        reasons.append(
            f"significantly worse on {name}: {g.incumbent_accuracy} -> {g.candidate_accuracy} "
            f"(McNemar p={g.p_value:.3g})"
        )
    promote = bool(pairs) and gained and real.p_value < alpha and not worse
    return Comparison(promote, tuple(reasons), real, per_group, alpha)


def _entry_files(entry: dict[str, Any]) -> list[str]:
    """Every file a manifest entry ships: the ONNX networks (detector, condition classifier,
    packaging classifier) and their PyTorch checkpoints."""
    names = [entry["file"]]
    for part in ("classifier", "package_classifier"):
        if entry.get(part):
            names.append(entry[part]["file"])
    return [n for onnx in names for n in (onnx, onnx.removesuffix(".onnx") + ".pt")]


def install(
    *,
    candidate_dir: Path,
    weights_dir: Path,
    name: str,
    comparison: Comparison,
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make the candidate release the shipped one; returns its manifest entry.

    The shipped folder then holds the promoted release and the one it replaced, so that
    ``freshproof models rollback`` can serve that one again; older releases' files go (each
    release is ~25 MB and the repository carries its history). The comparison that
    justified the promotion is kept in the entry, and ``metrics`` (per split, the gate's own
    figures) fill in the splits the candidate's entry has none for.
    """
    manifest = json.loads((candidate_dir / "manifest.json").read_text())
    entry = next(m for m in manifest["models"] if m["name"] == name)
    entry["metrics"] = {**(metrics or {}), **entry.get("metrics", {})}
    old = json.loads((weights_dir / "manifest.json").read_text())
    mine = [m for m in old["models"] if m["name"] == name]
    previous = mine[-1] if mine else None
    entry["promotion"] = {
        "replaced": previous["version"] if previous else None,
        **comparison.as_dict(),
        # Candidates the replaced release had kept out: every look at the test split counts.
        "refused_before": previous.get("refused", []) if previous else [],
    }
    for f in _entry_files(entry):
        if f.endswith(".pt") and not (candidate_dir / f).exists():
            continue  # the PyTorch reference is optional; the ONNX networks are what serve
        shutil.copyfile(candidate_dir / f, weights_dir / f)
    card = candidate_dir / "MODEL_CARD.md"
    if card.exists():
        shutil.copyfile(card, weights_dir / "MODEL_CARD.md")
    others = [m for m in old["models"] if m["name"] != name]
    kept = [*([previous] if previous else []), entry]
    new = {"schema": old.get("schema", 1), "models": [*others, *kept], "default": name}
    (weights_dir / "manifest.json").write_text(json.dumps(new, indent=2) + "\n")
    keep = {f for m in kept for f in _entry_files(m)}
    for older in mine[:-1]:
        for f in set(_entry_files(older)) - keep:
            (weights_dir / f).unlink(missing_ok=True)
    return entry


def _trained(training: dict[str, Any]) -> dict[str, str | None]:
    """What a candidate's networks are, part by part: a part it kept from the release it was
    built on (``training.base_release``) says so instead of restating that release's run."""
    base = training.get("base_release")
    out: dict[str, str | None] = {
        part: f"kept from {base}" if base else (training.get(part) or {}).get("summary")
        for part in ("detector", "classifier")
    }
    if added := (training.get("package_classifier") or {}).get("summary"):
        out["package_classifier"] = added
    return out


def record_refusal(
    *, candidate_dir: Path, weights_dir: Path, name: str, comparison: Comparison
) -> dict[str, Any]:
    """Keep a refused candidate's verdict under the shipped entry; returns that entry.

    The retraining log should say what was tried and why it did not ship, not only what did.
    A candidate judged again replaces its earlier record.
    """
    candidate = json.loads((candidate_dir / "manifest.json").read_text())
    cand = next(m for m in candidate["models"] if m["name"] == name)
    path = weights_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    entry = next(m for m in reversed(manifest["models"]) if m["name"] == name)
    test = cand.get("metrics", {}).get("test", {})
    record = {
        "version": cand["version"],
        "sha256": cand["sha256"],
        "classifier_sha256": (cand.get("classifier") or {}).get("sha256"),
        "package_classifier_sha256": (cand.get("package_classifier") or {}).get("sha256"),
        "training": _trained(cand.get("training", {})),
        "test": {
            "image_level_accuracy": test.get("image_level", {}).get("accuracy"),
            "groups": {g: v.get("accuracy") for g, v in test.get("groups", {}).items()},
            "map50": test.get("map50"),
            "spoilage_ap50_banana_mango": test.get("spoilage_ap50_banana_mango"),
        },
        **comparison.as_dict(),
    }
    kept = [r for r in entry.get("refused", []) if r["version"] != cand["version"]]
    entry["refused"] = [*kept, record]
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return entry
