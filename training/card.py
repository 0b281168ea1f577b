"""Render the figures part of ``weights/MODEL_CARD.md`` from a manifest entry.

The prose of the card is written by people; the numbers come from here so that the card
and the manifest can never disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.layout import build_command
from training.risk import min_decisions

__all__ = [
    "metrics_markdown",
    "model_card",
    "operating_points_markdown",
    "package_classifier_markdown",
    "promotion_markdown",
    "refusals_markdown",
    "with_operating_points",
    "with_refusals",
]


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def metrics_markdown(entry: dict[str, Any], split: str = "test") -> str:
    """Per-label and per-group tables for one split of a manifest entry."""
    m = entry["metrics"][split]
    lines = [
        f"Held-out **{split}** split: {m['images']} images, never trained or tuned on. "
        f"mAP50 {m['map50']}, mAP50-95 {m['map50_95']} (labels with instances).",
        "",
        "| label | boxes | threshold | image precision | image recall | box AP50 | box AP50-95 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, s in m["per_label"].items():
        if not s.get("instances"):
            lines.append(f"| {label} | 0 | {entry['thresholds'][label]} | | | | |")
            continue
        lines.append(
            f"| {label} | {s['instances']} | {s['threshold']} | {s['precision']} | "
            f"{s['recall']} | {s['ap50']} | {s['ap50_95']} |"
        )
    lines += [
        "",
        "| image-level (defective = any label at its threshold) | images | accuracy | "
        "recall of defects | false alarms on clean |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    rows = [("all held-out images", m["image_level"]), *m["groups"].items()]
    for name, g in rows:
        lines.append(
            f"| {name} | {g['images']} | {_pct(g['accuracy'])} | {_pct(g['recall'])} | "
            f"{_pct(g['false_alarm_rate'])} |"
        )
    lines += [
        "",
        f"Spoilage AP50 on the banana and mango boxes: {m['spoilage_ap50_banana_mango']}.",
    ]
    parts = entry["metrics"].get("ablation")
    if parts and parts.get("split") == split:
        names = [n for n in parts if n != "split"]
        groups = list(parts[names[0]]["groups"])
        lines += [
            "",
            "Why both networks (each part alone, thresholds chosen on val the same way; "
            f"image-level accuracy on {split}):",
            "",
            "| scored by | all | " + " | ".join(groups) + " |",
            "| --- | ---: | " + " | ".join("---:" for _ in groups) + " |",
        ]
        for n in names:
            p = parts[n]
            cells = [_pct(p["groups"][g]["accuracy"]) for g in groups]
            lines.append(
                f"| {n} | {_pct(p['image_level']['accuracy'])} | " + " | ".join(cells) + " |"
            )
    cal = entry.get("calibration")
    if cal and "calibration_error" in m:
        fitted = ", ".join(sorted(cal.get("per_label", {}))) or "none"
        errors = ", ".join(f"{k} {v}" for k, v in m["calibration_error"].items() if v is not None)
        lines += [
            "",
            f"Confidences are Platt-scaled per label, fitted on `{cal.get('fitted_on')}` "
            f"(labels: {fitted}). Expected calibration error on {split} (10 bins, 0 is "
            f"perfect): {errors}.",
        ]
    return "\n".join(lines) + "\n"


_POOL_USE = """| pool | how it is used | label(s) |
| --- | --- | --- |
| fruit_fresh_rotten | whole-fruit box from a foreground mask (studio backgrounds); rotten oranges, overwhelmingly visibly mouldy, are the only real source of `mold` | rotten apples/bananas → `spoilage`, rotten oranges → `mold`, fresh → no box |
| banana_ripeness_det | the pool's own boxes; only `rotten` is a defect (overripe is not) | `spoilage` |
| mango_rot_grade_det | the pool's own whole-fruit boxes for slight and severe rot | `spoilage` |
| rot_region_masks | one box per rot region of the mask; mouldy-looking regions (white/green by colour) as `mold` | `spoilage`, `mold` |
| apple_lesion_masks | one box per rot lesion (RA*, ROT*); scab images left out (a tree disease) | `spoilage` |
| parcel_damaged_intact, box_damaged_fine | whole-object box from a foreground mask, falling back to near-full frame | `package_damage` |
| can_defects | major and critical defects boxed as `package_damage`; minor (cosmetic) left out; intact as negatives | `package_damage` |
| synthetic (generated) | intact real cans with their silhouette bulged by a warp, and procedural vacuum pouches drawn swollen or flat | `swelling` |
| composite (generated, opt-in) | real cut-outs of one split's photos pasted onto drawn clutter, crates, bags or cloth, sometimes with a hand, then phone-camera blur, noise, lighting and JPEG; only that split's photos are pasted, so no test photo reaches training | the pasted objects' own labels |
"""


def _lineage(det: dict[str, Any], cls: dict[str, Any]) -> str:
    """Where training started, when a release went on from an earlier one's checkpoints."""
    starts = [s for s in (det.get("from"), cls.get("from")) if s and str(s).endswith(".pt")]
    if not starts:
        return ""
    # A checkpoint shipped in weights/ is named as the repository names it, not by the path of
    # the checkout it was trained in.
    named = " and ".join(
        f"`weights/{Path(s).name}`" if Path(s).parent.name == "weights" else f"`{s}`"
        for s in starts
    )
    return (
        f"\nThis release went on training from {named}: weights trained here earlier, from\n"
        "scratch or on from a release. Its training times below come on top of theirs. A\n"
        "promotion removes the replaced release's files from `weights/`; `git log -- weights/`\n"
        "finds them.\n"
    )


def _views(clf: dict[str, Any]) -> str:
    """How the classifier's probability is taken: on the photo alone or averaged over views."""
    tried = clf.get("views_on_val") or {}
    on_val = ", ".join(f"{k} {v:.1%}" for k, v in tried.items())
    chosen = ", ".join(clf.get("views") or [])
    if not chosen:
        return f" (on the photo alone; chosen on val: {on_val})" if tried else ""
    return (
        f" (averaged over the photo and its test-time views {chosen}, chosen on val by the "
        f"real val photos judged right: {on_val})"
    )


def _with_build(command: str) -> str:
    """The card's commands, from the dataset build on: a fresh clone has no built dataset."""
    if "freshproof datasets build" in command:
        return command
    return f"{build_command()}   # once: the dataset from the photo pools\n{command}"


def model_card(entry: dict[str, Any], *, command: str) -> str:
    """The whole card: what the model is, what it learned from, how well it does, its limits."""
    t = entry["training"]
    ds = t.get("dataset", {})
    train_images = t.get("train_images_used") or ds.get("images", {}).get("train", {})
    det = t.get("detector", {})
    cls = t.get("classifier", {})
    clf = entry.get("classifier") or {}
    figures = metrics_markdown(entry, "test") if "test" in entry.get("metrics", {}) else ""
    return f"""# Model card: {entry["name"]} {entry["version"]}

Two small networks trained **from scratch** (no pretrained weights can be downloaded here),
both served as ONNX on ONNX Runtime, float32:

- a YOLO11n **detector** for the four labels (`spoilage`, `mold`, `swelling`,
  `package_damage`) at {entry["imgsz"]} px: `{entry["file"]}` (SHA-256 `{entry["sha256"]}`);
- a YOLO11n-cls **condition classifier** (one class per photo: {", ".join(clf.get("classes", []))})
  at {clf.get("imgsz", "?")} px: `{clf.get("file", "-")}` (SHA-256 `{clf.get("sha256", "-")}`).
{_lineage(det, cls)}
Each label's score for a photo is the larger of the classifier's probability for it{_views(clf)} and the
detector's best box for it; a label is reported when that score reaches its threshold
(chosen on the validation split). Boxes come from the detector; when only the classifier
supports a label, the finding covers the whole photo and says `"localized": false`. The
PyTorch checkpoints ship beside the ONNX files (optimizer state stripped) as the reference
for benches and the start point for fine-tuning.

**Why two models:** on a 2-core CPU a from-scratch detector learns boxes slowly (see its
figures below); the classifier learns "is this photo defective, and how" far faster. The
detector is kept for boxes and for what the classifier misses.

## How it was trained

- Hardware: **{t.get("hardware", "unknown")}**. No GPU was lent to this task.
- Detector: {det.get("summary", "?")}
- Classifier: {cls.get("summary", "?")}
- Reduced for the CPU: detector input {entry["imgsz"]} px, classifier {clf.get("imgsz")} px; the
  train split of fruit_fresh_rotten and banana_ripeness_det capped (their images are mostly
  augmented copies of few shots). A GPU run at 416-640 px for 100+ epochs is the obvious next
  step and should do far better, above all for boxes.
- Reproduce (same dataset and split; the schedules follow the time budgets):

```sh
{_with_build(command)}
```

## What it learned from

Real photos from `../shared/datasets` (never committed) plus generated images. Splits are by
original photo: near-duplicate copies of a shot are grouped before splitting, and the lists
of which photo went where are in `datasets/splits/`. Thresholds were chosen on `val`; the
figures below are on `test`, which was neither trained nor tuned on.

{_POOL_USE}
Training images per pool (after caps): {json.dumps(train_images)}.

## How well it does

{figures}
{operating_points_markdown(entry) + chr(10) if entry.get("operating_points") else ""}{package_classifier_markdown(entry) + chr(10) if entry.get("package_classifier") else ""}## What it cannot do (read before trusting a finding)

- **Swelling is learned only from synthetic images** (warped cans, drawn pouches). There is no
  real photo of a puffed pack or bulging can in the pools; its figures above are on synthetic
  test images and say nothing about real packs. Station data through the retraining loop is
  how this gets fixed.
- **Mould is learned almost only from oranges.** Mould on bread, cheese, berries or meat is
  outside what it has seen.
- **Boxes are weak.** The detector is badly under-trained (see box AP above); many findings
  are whole-photo findings from the classifier. Package damage boxes are whole-object boxes
  derived from foreground masks of web photos with some label noise.
- **Calibration is only as good as the validation split** it was fitted on: a few dozen
  positives for `mold` and `swelling`, studio photos mostly. On other photos a confidence of
  0.8 need not mean 80%.
- Studio and web photos dominate; phone photos in kitchens, bags and crates are rare.
"""


def package_classifier_markdown(entry: dict[str, Any]) -> str:
    """The packaging classifier's section: what it is, how it was chosen and fused, and what
    it was measured to do outside packs (empty for a release without one)."""
    pc = entry.get("package_classifier")
    if not pc:
        return ""
    t = entry.get("training", {}).get("package_classifier", {})
    fused = {
        "replace": "replaces the `package_damage` score (the detector's boxes still say where)",
        "max": "is fused with the `package_damage` score as the larger of the two",
    }.get(pc["fusion"], pc["fusion"])
    tried = ", ".join(f"{k} {v:.1%}" for k, v in (pc.get("fusion_on_val") or {}).items())
    lines = [
        "## Packaging classifier",
        "",
        f"A third network judges packs: a two-class YOLO11n-cls ({', '.join(pc['classes'])}) "
        f"at {pc['imgsz']} px, `{pc['file']}` (SHA-256 `{pc['sha256']}`), run on every judged "
        f"photo. Its probability of damage, on the {pc['input']} input"
        f"{' averaged with its views ' + ', '.join(pc['views']) if pc.get('views') else ''}, "
        f"is mapped so that its threshold {pc['threshold']} lands on the release's "
        f"`package_damage` threshold {entry['thresholds'].get('package_damage')}, and {fused}"
        f"{f' (chosen on val by the real val photos judged right: {tried})' if tried else ''}.",
        "",
        "| what | value |",
        "| --- | --- |",
    ]
    for key, value in t.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        lines.append(f"| {key.replace('_', ' ')} | {value} |")
    return "\n".join(lines) + "\n"


def promotion_markdown(entry: dict[str, Any]) -> str:
    """Why this release replaced the previous one: the paired comparison on held-out photos."""
    p = entry.get("promotion")
    if not p:
        return ""
    lines = [
        f"## Why it replaced {p.get('replaced') or 'nothing'}",
        "",
        "Both models judged the same held-out photos, each at its own thresholds; the decision "
        "uses real photos only and McNemar's exact test on the photos they judge differently "
        f"(alpha {p['alpha']:.3g}, this look's share of the family level; "
        "`weights/gate-looks.jsonl` lists every look at the split).",
        "",
        "| photos | images | accuracy before | accuracy after | only before right | "
        "only after right | p |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [("all real photos", p["real_photos"]), *p["groups"].items()]
    for name, g in rows:
        if not g["images"]:
            continue
        lines.append(
            f"| {name} | {g['images']} | {_pct(g['incumbent_accuracy'])} | "
            f"{_pct(g['candidate_accuracy'])} | {g['only_incumbent_right']} | "
            f"{g['only_candidate_right']} | {g['p_value']:.3g} |"
        )
    lines += ["", *(f"- {r}" for r in p["reasons"])]
    for r in p.get("refused_before", []):
        g = r["real_photos"]
        lines.append(
            f"- Before it, candidate {r['version']} was refused: real photos "
            f"{_pct(g['incumbent_accuracy'])} -> {_pct(g['candidate_accuracy'])}, "
            f"McNemar p={g['p_value']:.3g} (alpha {r['alpha']:.3g})."
        )
    return "\n".join(lines) + "\n"


REFUSED_HEADING = "## Retrained candidates that did not replace it"


def refusals_markdown(entry: dict[str, Any]) -> str:
    """The candidates the promotion gate kept out, with the paired figures that decided it."""
    refused = entry.get("refused") or []
    if not refused:
        return ""
    lines = [
        REFUSED_HEADING,
        "",
        f"Judged by `freshproof models promote` against {entry['version']} on the same "
        "held-out photos (real photos only, McNemar's exact test).",
        "",
        f"| candidate | real photos: {entry['version']} | candidate | only {entry['version']} "
        "right | only candidate right | p | why not |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in refused:
        g = r["real_photos"]
        lines.append(
            f"| {r['version']} | {_pct(g['incumbent_accuracy'])} | "
            f"{_pct(g['candidate_accuracy'])} | {g['only_incumbent_right']} | "
            f"{g['only_candidate_right']} | {g['p_value']:.3g} | {'; '.join(r['reasons'])} |"
        )
    lines.append("")
    for r in refused:
        test = r.get("test", {})
        groups = ", ".join(
            f"{name} {_pct(acc)}" for name, acc in test.get("groups", {}).items() if acc is not None
        )
        trained = "; ".join(f"{k}: {v.rstrip('.')}" for k, v in r.get("training", {}).items() if v)
        own = (
            f"on its own test images (composites included): {groups}; spoilage AP50 on banana "
            f"and mango {test.get('spoilage_ap50_banana_mango')}. "
            if groups
            else ""
        )
        by_group = ", ".join(
            f"{name} {_pct(g['incumbent_accuracy'])} -> {_pct(g['candidate_accuracy'])} "
            f"({g['only_incumbent_right']}/{g['only_candidate_right']})"
            for name, g in (r.get("groups") or {}).items()
            if g.get("images")
        )
        paired = f"paired on real photos by group: {by_group}. " if by_group else ""
        lines.append(f"- {r['version']}, {own}{paired}Trained: {trained}")
    return "\n".join(lines) + "\n"


def with_refusals(card: str, entry: dict[str, Any]) -> str:
    """The card with its refused-candidates section replaced by the entry's current one."""
    head = card.split("\n" + REFUSED_HEADING, 1)[0].rstrip("\n") + "\n"
    section = refusals_markdown(entry)
    return head + ("\n" + section if section else "")


OPERATING_HEADING = "## When it decides alone (operating points)"


def _cell(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def operating_points_markdown(entry: dict[str, Any]) -> str:
    """Per family: the operating point of each decision, what it does on test (share decided
    alone, error of those, its upper bound), and the risk-coverage curve on test."""
    block = entry.get("operating_points")
    if not block:
        return (
            f"{OPERATING_HEADING}\n\nThis release states no operating points: it decides "
            "nothing alone, and every photo goes to a person.\n"
        )
    unit = block.get("unit", "photo")
    lines = [
        OPERATING_HEADING,
        "",
        f"A decision (clean: resell; defect: rework or scrap) is taken without a person only "
        f"at or above its family's operating point, chosen on `{block['fitted_on']}` so that "
        f"decisions taken alone are wrong at most {block['max_error']:.0%} of the time by a "
        f"{1 - block['delta']:.0%} {block['bound']} upper bound ({block['selection']};"
        f" unit of evidence: {unit}, since copies of one shot are not independent). Everything "
        "below goes to a person: the station's manual queue, or a claim's review with the "
        "reason that the model is unsure of the photo. A family or decision without a point "
        "is never decided alone.",
        *_feedback_summary(block),
        *_coverage_summary(block),
        "",
        "| family | decision | operating point | on val | test photos | decided alone | "
        "wrong of those | upper bound |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    test = block.get("test", {})
    for family, spec in block["families"].items():
        for decision, point in spec["decisions"].items():
            val = point.get("val", {})
            why = val.get("why_none") or (
                f"{val.get('decided')} photos, {val.get('groups')} shots, "
                f"{val.get('wrong_groups')} wrong; bound {_cell(val.get('upper_bound'))}"
            )
            t = test.get(family, {}).get("decisions", {}).get(decision, {})
            floor = point.get("min_confidence")
            lines.append(
                f"| {family} | {decision} | {'none' if floor is None else floor} | {why} | "
                f"{t.get('photos', 0)} | {_cell(t.get('coverage'))} | {_cell(t.get('error'))} | "
                f"{_cell(t.get('upper_bound'))} |"
            )
    lines += [
        "",
        "Per family on test: coverage is the share of its photos decided alone; the error "
        "without abstaining is what deciding every photo alone would have cost.",
        "",
        "| family | test photos | coverage | decided error | upper bound | error without "
        "abstaining |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for family, row in test.items():
        lines.append(
            f"| {family} | {row['photos']} | {_cell(row['coverage'])} | {_cell(row['error'])} | "
            f"{_cell(row['upper_bound'])} | {_cell(row['error_without_abstaining'])} |"
        )
    curves = block.get("risk_coverage_test") or {}
    if curves:
        lines += [
            "",
            "Risk-coverage on test (the most confident photos of each family decided, both "
            "decisions ranked together): what any other operating point would do.",
            "",
            "| family | coverage | decided | min confidence | error | shots | upper bound |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for family, rows in curves.items():
            for r in rows:
                lines.append(
                    f"| {family} | {r['coverage']:.0%} | {r['decided']} | {r['min_confidence']} "
                    f"| {_cell(r['error'])} | {r['groups']} | {_cell(r['upper_bound'])} |"
                )
    return "\n".join(lines) + "\n"


def _feedback_summary(block: dict[str, Any]) -> list[str]:
    """A line per export of people's decisions counted beside val (``training.feedback_val``)."""
    out = []
    for fb in block.get("feedback") or ():
        families = ", ".join(f"{f} {n}" for f, n in fb["val_photos"].items()) or "none"
        out.append(
            f"- Counted beside `val`: feedback `{fb['version']}` (manifest sha256 "
            f"`{fb['manifest_sha256'][:12]}…`): val photos by family {families} from "
            f"{fb['val_items']} items or claims; left out: {fb['val_photos_trained_on']} the "
            f"model learned from, {fb['val_photos_without_family']} of no known family, "
            f"{fb['val_photos_counted_before']} counted from an earlier export."
        )
    return ["", *out] if out else []


def _coverage_summary(block: dict[str, Any]) -> list[str]:
    """A paragraph saying what the release decides alone, when some decision has no point:
    why not, and what would give it one."""
    points = {
        (family, decision): point
        for family, spec in block["families"].items()
        for decision, point in spec["decisions"].items()
    }
    missing = [k for k, p in points.items() if p.get("min_confidence") is None]
    if not missing:
        return []
    needed = min_decisions(block["max_error"], delta=block["delta"])
    unit = "original shots" if "group" in block.get("unit", "photo") else "photos"
    if len(missing) == len(points):
        head = (
            "**This release decides nothing alone.** No family reaches the bound for either "
            "decision, so every station item goes to the manual queue and every claim photo "
            'the model judges holds its claim for a person ("the model is unsure of this '
            'photo (photo N)").'
        )
    else:
        head = "Some decisions have no operating point and always go to a person: " + (
            ", ".join(f"{f} {d}" for f, d in missing) + "."
        )
    few: list[tuple[str, str, dict[str, Any]]] = []
    enough: list[tuple[str, str, dict[str, Any]]] = []
    for family, decision in missing:
        val = points[(family, decision)].get("val", {})
        (enough if val.get("val_groups", 0) >= needed else few).append((family, decision, val))
    why = [
        f"even with every decision right, the bound reaches {block['max_error']:.0%} only from "
        f"{needed} independent {unit} of one family and decision on `{block['fitted_on']}` "
        "(more when some are wrong)"
    ]
    if few:
        counts = ", ".join(f"{f} {d} {v.get('val_groups', 0)}" for f, d, v in few)
        why.append(f"`{block['fitted_on']}` holds fewer ({counts})")
    for f, d, v in enough:
        stop = v.get("stopped_at") or {}
        why.append(
            f"{f} {d} has {v.get('val_groups')}, but at the strictest cut-off that could pass "
            f"({stop.get('groups')} {unit}, {stop.get('wrong_groups')} of them wrong) the bound "
            f"is {_cell(stop.get('upper_bound'))}"
            if stop
            else f"{f} {d} has {v.get('val_groups')}: {v.get('why_none', 'no cut-off passed')}"
        )
    return [
        "",
        f"{head} Why: {'; '.join(why)}. What would restore coverage: at least {needed} "
        f"independent {unit} per family and decision in `{block['fitted_on']}`, decided right "
        "often enough at some confidence to stay under the bound: people's decisions since the "
        "model last learned from them (station returns a person graded, the station naming a "
        "package's family; photos of claims an adjudicator decided, the claim naming its "
        "family or being on produce), exported with "
        "`freshproof feedback export` and counted with `freshproof models operating-points "
        "--feedback`.",
    ]


def with_operating_points(card: str, entry: dict[str, Any]) -> str:
    """The card with its operating-points section replaced by the entry's current one (put
    before the limits section, or at the end when the card has none)."""
    section = operating_points_markdown(entry)
    if OPERATING_HEADING in card:
        head, rest = card.split(OPERATING_HEADING, 1)
        tail = rest.split("\n## ", 1)
        after = "\n## " + tail[1] if len(tail) > 1 else ""
        return head + section + after
    marker = "## What it cannot do"
    if marker in card:
        head, rest = card.split(marker, 1)
        return head + section + "\n" + marker + rest
    return card.rstrip("\n") + "\n\n" + section
