"""Would OpenVINO INT8 do for station grading? Accuracy and speed against the shipped f32.

Both shipped networks (detector and condition classifier) are quantized post-training with
NNCF on their OpenVINO models read from the manifest's ONNX files, calibrated on photos of
the **val** split preprocessed exactly as ``vision.predictor`` does (decoded as the service
decodes, then letterbox for the detector, centre crop for the classifier). What stays float
is a named recipe: ``--detector-scope decode`` is ultralytics' own OpenVINO INT8 export (box
decoding, DFL and sigmoids float); the defaults ``classes`` (also the detector's class
branch) and ``--classifier-scope head`` (the classifier's last module) are what recovered
most accuracy on val, and were chosen on val figures alone.

Then, on the **test** split of a dataset built by ``freshproof train``:

- accuracy by the project's own code (``training.evaluate.collect`` and
  ``evaluate_records``, the figures of the model card), f32 on ONNX Runtime (the shipped path)
  against INT8 on OpenVINO, and how many photos get a different decision (the set of labels
  at their operating thresholds);
- speed with one runtime thread per network (the project default): photos/s of the two
  networks alone and of the whole ``Predictor.inspect`` on 1920x1080 JPEGs made from test
  photos, all sides in the same run, rounds interleaved, medians; OpenVINO f32 is timed too,
  so the runtime's share of any gain is told apart from quantization's.

INT8 may ship only if every headline figure stays within one percentage point of f32.
Quantized files and the generated photos go to ``var/int8/`` (git-ignored); nothing in
``weights/`` or the serving path is touched.

    .venv/bin/python bench/int8.py [--dataset var/datasets/fp-v1] [--calibration 300]
                                   [--detector-scope classes] [--classifier-scope head]
                                   [--speed-photos 60] [--rounds 5] [--requantize]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.evaluate import (  # noqa: E402
    ImageRecord,
    collect,
    evaluate_records,
    image_level,
    is_real_photo,
)
from vision.image import WORKING_SIDE, decode_image  # noqa: E402
from vision.postprocess import center_crop_input, letterbox  # noqa: E402
from vision.predictor import Predictor  # noqa: E402
from vision.registry import DEFAULT_WEIGHTS_DIR, ModelSpec, resolve_model  # noqa: E402
from vision.runtime import OpenVinoBackend  # noqa: E402

OUT = REPO / "var" / "int8"
PHOTO_SIZE = (1920, 1080)
RULE_PP = 1.0  # the most any headline figure may lose, in percentage points


class Int8Backend:
    """OpenVINO on a quantized IR; quantized layers run in INT8, the others stay f32.

    ``OpenVinoBackend`` with the f32 hint is exactly how the service would run it; this
    only names the precision that actually ran, so no result passes for f32.
    """

    name = "openvino"
    precision = "int8"

    def __init__(self, xml: Path, *, threads: int) -> None:
        self._ov = OpenVinoBackend(xml, precision="f32", threads=threads)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch."""
        return self._ov.run(batch)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _spread(paths: list[Path], n: int) -> list[Path]:
    """Every k-th path, so that ``n`` of them cover all pools of a sorted listing."""
    step = max(1, len(paths) // n)
    return paths[::step][:n]


def _calibration(spec: ModelSpec, photos: list[Path]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The detector's and the classifier's input tensors for each photo, as inspect makes them."""
    det, cls = [], []
    for p in photos:
        rgb = decode_image(p.read_bytes(), max_side=WORKING_SIDE).rgb
        det.append(letterbox(rgb, spec.imgsz)[0])
        if spec.classifier is not None:
            cls.append(center_crop_input(rgb, spec.classifier.imgsz))
    return det, cls


# What each recipe leaves float (the rest is INT8). "decode" is ultralytics' own OpenVINO INT8
# export: the detector's box decoding (its last module's own ops, DFL) and every Sigmoid.
# "classes" also keeps the detector's class branch (cv3) float, and "head" the classifier's
# last module (1x1 conv, pool, linear): the two choices that recovered most on val.
DETECTOR_SCOPES = ("decode", "classes", "none")
CLASSIFIER_SCOPES = ("head", "none")


def _last_module(model: Any) -> str:
    """The ONNX name prefix of the network's last ultralytics module, e.g. "/model.23"."""
    found = [re.match(r"/model\.(\d+)/", op.get_friendly_name()) for op in model.get_ordered_ops()]
    return f"/model.{max(int(m.group(1)) for m in found if m)}"


def _float_ops(model: Any, scope: str) -> list[str]:
    """The names of the ops that ``scope`` keeps float (see DETECTOR/CLASSIFIER_SCOPES)."""
    head = _last_module(model)
    names = []
    for op in model.get_ordered_ops():
        name, kind = op.get_friendly_name(), op.get_type_name()
        if kind in ("Constant", "Result", "Parameter"):
            continue
        own = name.startswith(f"{head}/") and not name.startswith(f"{head}/cv")
        keep = {
            "decode": kind == "Sigmoid" or own,
            "classes": kind == "Sigmoid" or own or name.startswith(f"{head}/cv3"),
            "head": name.startswith(f"{head}/"),
        }.get(scope, False)
        if keep:
            names.append(name)
    return names


def _quantize(
    onnx: Path,
    data: list[np.ndarray],
    *,
    out: Path,
    scope: str,
    requantize: bool,
    calibration_id: str,
) -> tuple[Path, float]:
    """Quantize one ONNX network to ``out`` (an IR .xml); reuse it when its recipe matches.

    Returns the IR and the seconds NNCF took (0 when reused).
    """
    import nncf
    import openvino as ov

    recipe = {
        "source": onnx.name,
        "source_sha256": _sha256(onnx),
        "calibration": calibration_id,
        "calibration_images": len(data),
        "preset": "mixed",
        "float_scope": scope,
        "nncf": nncf.__version__,
        "openvino": ov.__version__,
    }
    meta = out.with_suffix(".json")
    if not requantize and out.exists() and meta.exists():
        stored = json.loads(meta.read_text())
        if stored.get("recipe") == recipe:
            return out, 0.0
    t = time.perf_counter()
    model = ov.Core().read_model(str(onnx))
    keep = _float_ops(model, scope)
    quantized = nncf.quantize(
        model,
        nncf.Dataset(data),
        preset=nncf.QuantizationPreset.MIXED,  # asymmetric activations: SiLU goes negative
        subset_size=len(data),
        ignored_scope=nncf.IgnoredScope(names=keep) if keep else None,
    )
    seconds = time.perf_counter() - t
    out.parent.mkdir(parents=True, exist_ok=True)
    # Float weights left outside the quantized layers stay f32, not the default f16 storage.
    ov.save_model(quantized, str(out), compress_to_fp16=False)
    files = {p.name: _sha256(p) for p in (out, out.with_suffix(".bin"))}
    meta.write_text(json.dumps({"recipe": recipe, "seconds": seconds, "sha256": files}, indent=2))
    return out, seconds


def _int8_layers(xml: Path) -> tuple[int, int]:
    """(convolutions and matmuls the CPU plugin runs in INT8, all of them) once compiled."""
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(str(xml)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    heavy = int8 = 0
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str)
        if kind in ("Convolution", "FullyConnected", "MatMul", "Deconvolution"):
            heavy += 1
            int8 += info["runtimePrecision"].astype(str) in ("i8", "u8")
    return int8, heavy


def _photo_1080p(sources: list[Path]) -> list[Path]:
    """Each photo scaled to cover 1920x1080 and centre-cropped to it, JPEG q92, written once."""
    import cv2

    from training.imageio import read_bgr

    w, h = PHOTO_SIZE
    folder = OUT / f"photos-{w}x{h}"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, src in enumerate(sources):
        dest = folder / f"{i:03d}-{src.stem}.jpg"
        if not dest.exists():
            img = read_bgr(src)
            r = max(w / img.shape[1], h / img.shape[0])
            big = cv2.resize(
                img,
                (max(w, round(img.shape[1] * r)), max(h, round(img.shape[0] * r))),
                interpolation=cv2.INTER_CUBIC,
            )
            top, left = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
            cv2.imwrite(
                str(dest), big[top : top + h, left : left + w], [cv2.IMWRITE_JPEG_QUALITY, 92]
            )
        out.append(dest)
    return out


# ---------------------------------------------------------------------------- accuracy


def _headline(
    m: dict[str, Any], records: list[ImageRecord], thresholds: dict[str, float]
) -> dict[str, float]:
    """The model card's figures (weights/MODEL_CARD.md, "How well it does") and the real-photo
    accuracy the promotion gate judges, in percent."""
    out = {"mAP50": m["map50"], "mAP50-95": m["map50_95"]}
    for lab, st in m["per_label"].items():
        if st.get("instances"):
            out |= {
                f"{lab} image precision": st["precision"],
                f"{lab} image recall": st["recall"],
                f"{lab} box AP50": st["ap50"],
                f"{lab} box AP50-95": st["ap50_95"],
            }
    out["spoilage AP50 banana+mango"] = m["spoilage_ap50_banana_mango"]
    for group, st in {"all": m["image_level"], **m["groups"]}.items():
        if st["images"]:
            out |= {
                f"{group} accuracy": st["accuracy"],
                f"{group} defect recall": st["recall"],
                f"{group} false alarms": st["false_alarm_rate"],
            }
    real = image_level([r for r in records if is_real_photo(r)], thresholds)
    out["real photos accuracy"] = real["accuracy"]
    # False alarms are better lower; every other figure higher.
    return {k: 100.0 * v for k, v in out.items() if v is not None}


def _verdicts(
    records: list[ImageRecord], thresholds: dict[str, float]
) -> dict[str, frozenset[str]]:
    return {
        r.file: frozenset(lab for lab, t in thresholds.items() if r.score(lab) >= t)
        for r in records
    }


def _compare_decisions(
    f32: list[ImageRecord], int8: list[ImageRecord], thresholds: dict[str, float]
) -> dict[str, Any]:
    """How often the per-photo decision (labels at thresholds) differs, and which way."""
    a, b = _verdicts(f32, thresholds), _verdicts(int8, thresholds)
    truth = {r.file: r.defective for r in f32}
    labels_differ = [f for f in a if a[f] != b[f]]
    verdict_differ = [f for f in a if bool(a[f]) != bool(b[f])]
    fixed = sum(bool(b[f]) == truth[f] for f in verdict_differ)
    score_diff = np.array(
        [
            abs(x.score(lab) - y.score(lab))
            for x, y in zip(f32, int8, strict=True)
            for lab in thresholds
        ]
    )
    return {
        "photos": len(a),
        "labels_differ": len(labels_differ),
        "verdict_differ": len(verdict_differ),
        "int8_right_f32_wrong": fixed,
        "f32_right_int8_wrong": len(verdict_differ) - fixed,
        "score_mean_abs_diff": float(score_diff.mean()),
        "score_max_abs_diff": float(score_diff.max()),
        "examples": labels_differ[:10],
    }


# ---------------------------------------------------------------------------- speed


def _speed(
    sides: dict[str, Predictor], photos: list[Path], rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Per side and round: photos/s of the two networks alone and of the whole inspect.

    Sides take turns within each round, so load from other processes falls on all of them.
    """
    datas = [p.read_bytes() for p in photos]
    inputs = []
    any_pred = next(iter(sides.values()))
    for d in datas:
        rgb = decode_image(d, max_side=WORKING_SIDE).rgb  # as inspect decodes it
        cls_sz = any_pred.spec.classifier.imgsz if any_pred.spec.classifier else 0
        inputs.append(
            (
                letterbox(rgb, any_pred.spec.imgsz)[0],
                center_crop_input(rgb, cls_sz) if cls_sz else None,
            )
        )
    out: dict[str, dict[str, list[float]]] = {
        s: {"networks": [], "detector": [], "classifier": [], "inspect": []} for s in sides
    }

    def networks(pred: Predictor) -> tuple[float, float]:
        det = cls = 0.0
        for d_in, c_in in inputs:
            t = time.perf_counter()
            pred.backend.run(d_in)
            t2 = time.perf_counter()
            if pred.classifier is not None and c_in is not None:
                pred.classifier.run(c_in)
            det += t2 - t
            cls += time.perf_counter() - t2
        return det, cls

    def inspect(pred: Predictor) -> float:
        t = time.perf_counter()
        for i, d in enumerate(datas):
            pred.inspect(d, image=str(i))
        return time.perf_counter() - t

    for pred in sides.values():  # warm-up: first-call allocations, caches
        networks(pred)
        inspect(pred)
    n = len(photos)
    for _ in range(rounds):
        for name, pred in sides.items():
            det, cls = networks(pred)
            out[name]["detector"].append(n / det)
            out[name]["classifier"].append(n / cls if cls else 0.0)
            out[name]["networks"].append(n / (det + cls))
            out[name]["inspect"].append(n / inspect(pred))
    return out


# ---------------------------------------------------------------------------- main


def _timed(what: str, fn: Callable[[], Any]) -> Any:
    t = time.perf_counter()
    print(f"{what} ...", flush=True)
    result = fn()
    print(f"{what}: {time.perf_counter() - t:.0f} s", flush=True)
    return result


def main() -> None:
    """Quantize, measure, print the table and the decision."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", type=Path, default=REPO / "var" / "datasets" / "fp-v1")
    ap.add_argument("--split", default="test")
    ap.add_argument("--calibration-split", default="val")
    ap.add_argument("--calibration", type=int, default=300, help="val photos to calibrate on")
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS_DIR)
    ap.add_argument(
        "--detector-scope",
        choices=DETECTOR_SCOPES,
        default="classes",
        help="what stays float: decode (ultralytics' INT8 export), classes (also the class "
        "branch; chosen on val), none",
    )
    ap.add_argument(
        "--classifier-scope",
        choices=CLASSIFIER_SCOPES,
        default="head",
        help="what stays float: head (the last module; chosen on val), none",
    )
    ap.add_argument("--requantize", action="store_true", help="quantize even if var/int8 matches")
    ap.add_argument("--speed-photos", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="runtime threads per network")
    args = ap.parse_args()

    import nncf
    import openvino as ov

    nncf.set_log_level(logging.ERROR)  # its per-node notes would bury the table
    if not (args.dataset / "images" / args.split).is_dir():
        sys.exit(
            f"no split {args.split!r} under {args.dataset}; build it with `freshproof train --rebuild`"
        )
    spec = resolve_model(args.weights)
    if spec.classifier is None:
        sys.exit("this bench expects the detector + classifier release")
    started = time.perf_counter()

    # 1. Calibration set: a spread of val photos over all pools.
    val = sorted((args.dataset / "images" / args.calibration_split).glob("*.jpg"))
    calib = _spread(val, args.calibration)
    calib_id = hashlib.sha256("\n".join(p.name for p in calib).encode()).hexdigest()[:16]
    det_in, cls_in = _calibration(spec, calib)
    tag = f"det-{args.detector_scope}-cls-{args.classifier_scope}"
    cls_path = spec.classifier.path
    det_xml, det_s = _timed(
        "quantizing the detector",
        lambda: _quantize(
            spec.path,
            det_in,
            out=OUT / f"{spec.path.stem}-int8-{args.detector_scope}.xml",
            scope=args.detector_scope,
            requantize=args.requantize,
            calibration_id=calib_id,
        ),
    )
    cls_xml, cls_s = _timed(
        "quantizing the classifier",
        lambda: _quantize(
            cls_path,
            cls_in,
            out=OUT / f"{cls_path.stem}-int8-{args.classifier_scope}.xml",
            scope=args.classifier_scope,
            requantize=args.requantize,
            calibration_id=calib_id,
        ),
    )

    # 2. Accuracy on the test split, the model card's way.
    f32 = Predictor.from_weights(args.weights, threads=args.threads)
    int8 = Predictor(
        spec,
        Int8Backend(det_xml, threads=args.threads),
        classifier=Int8Backend(cls_xml, threads=args.threads),
    )
    ov_f32 = Predictor.from_weights(
        args.weights, backend="openvino", precision="f32", threads=args.threads
    )

    rec_f32 = _timed("test split, f32 onnxruntime", lambda: collect(f32, args.dataset, args.split))
    rec_int8 = _timed("test split, int8 openvino", lambda: collect(int8, args.dataset, args.split))
    m_f32 = evaluate_records(rec_f32, spec.labels, spec.thresholds)
    m_int8 = evaluate_records(rec_int8, spec.labels, spec.thresholds)
    h_f32 = _headline(m_f32, rec_f32, spec.thresholds)
    h_int8 = _headline(m_int8, rec_int8, spec.thresholds)
    decisions = _compare_decisions(rec_f32, rec_int8, spec.thresholds)

    # 3. Speed on 1920x1080 JPEGs made from test photos.
    split_list = (REPO / "datasets" / "splits" / "fp-v0-test.txt").read_text().split()
    pools = REPO.parent / "shared" / "datasets"
    photos = _photo_1080p(_spread([pools / r for r in split_list], args.speed_photos))
    sides = {"f32 onnxruntime": f32, "int8 openvino": int8, "f32 openvino": ov_f32}
    speed = _timed("speed", lambda: _speed(sides, photos, args.rounds))

    # 4. Report.
    d_int8, d_total = _int8_layers(det_xml)
    c_int8, c_total = _int8_layers(cls_xml)
    print()
    print(
        f"model {spec.name} {spec.version}; nncf {nncf.__version__}, openvino {ov.__version__}; "
        f"calibrated on {len(calib)} {args.calibration_split} photos "
        f"(detector {det_s:.0f} s, classifier {cls_s:.0f} s; 0 = reused from {OUT.relative_to(REPO)})"
    )
    print(
        f"INT8 layers as compiled: detector {d_int8}/{d_total} conv+matmul "
        f"(float: {args.detector_scope}), classifier {c_int8}/{c_total} "
        f"(float: {args.classifier_scope})"
    )
    print(f"\naccuracy on {args.dataset.name}/{args.split}, {len(rec_f32)} images, percent")
    print(f"{'metric':44}{'f32':>9}{'int8':>9}{'delta':>9}")
    failing = []
    for key, a in h_f32.items():
        b = h_int8.get(key, float("nan"))
        # A lower false-alarm rate is better, so its loss is a rise.
        loss = (b - a) if key.endswith("false alarms") else (a - b)
        flag = ""
        if not loss <= RULE_PP + 1e-9:
            failing.append(f"{key} {a:.2f} -> {b:.2f}")
            flag = "  > 1 pp worse"
        print(f"{key:44}{a:9.2f}{b:9.2f}{b - a:+9.2f}{flag}")
    n = decisions["photos"]
    print(
        f"\nper-photo decision (labels at thresholds) differs on {decisions['labels_differ']} of "
        f"{n} photos; defective-or-not differs on {decisions['verdict_differ']} "
        f"(int8 right there: {decisions['int8_right_f32_wrong']}, f32 right: "
        f"{decisions['f32_right_int8_wrong']}); calibrated scores differ by "
        f"{decisions['score_mean_abs_diff']:.4f} on average, {decisions['score_max_abs_diff']:.4f} at most"
    )

    w, h = PHOTO_SIZE
    print(
        f"\nspeed, {args.threads} runtime thread(s) per network, {len(photos)} {w}x{h} JPEGs from "
        f"test photos, median of {args.rounds} interleaved rounds, photos/s"
    )
    print(f"{'side':18}{'detector':>10}{'classifier':>12}{'networks':>10}{'inspect':>10}")
    med = {s: {k: statistics.median(v) for k, v in r.items()} for s, r in speed.items()}
    for s, r in med.items():
        print(
            f"{s:18}{r['detector']:10.1f}{r['classifier']:12.1f}{r['networks']:10.1f}{r['inspect']:10.1f}"
        )
    base = med["f32 onnxruntime"]
    for s in ("int8 openvino", "f32 openvino"):
        r = med[s]
        print(
            f"{s + ' / f32 onnxruntime':36}networks x{r['networks'] / base['networks']:.2f}, "
            f"inspect x{r['inspect'] / base['inspect']:.2f}"
        )
    r, o = med["int8 openvino"], med["f32 openvino"]
    print(
        f"{'int8 openvino / f32 openvino':36}networks x{r['networks'] / o['networks']:.2f}, "
        f"inspect x{r['inspect'] / o['inspect']:.2f}"
    )

    ship = not failing
    print(
        "\ndecision: "
        + (
            f"SHIP-ELIGIBLE: every headline figure within {RULE_PP:g} pp of f32"
            if ship
            else f"DO NOT SHIP: {len(failing)} headline figure(s) more than {RULE_PP:g} pp worse "
            f"than f32: " + "; ".join(failing)
        )
    )
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"results-{tag}.json").write_text(
        json.dumps(
            {
                "versions": {"nncf": nncf.__version__, "openvino": ov.__version__},
                "calibration": {"split": args.calibration_split, "images": len(calib)},
                "float_scope": {
                    "detector": args.detector_scope,
                    "classifier": args.classifier_scope,
                },
                "accuracy": {"f32": m_f32, "int8": m_int8},
                "headline": {"f32": h_f32, "int8": h_int8, "failing": failing},
                "decisions": decisions,
                "speed": speed,
                "ship": ship,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
