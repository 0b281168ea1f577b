"""Train the packaging classifier (damaged or intact pack), resumably, on a shared CPU.

Starts from a condition classifier trained here before (``weights/*-condition.pt``; no
pretrained weights can be downloaded) with a new two-class head, and fine-tunes the whole
network at ``imgsz`` (288 px by default, where dents and tears show better than in the
condition classifier's 224 px centre crop). What it learns from: the train split of the
pack pools (``training.packaging``, corrections applied) plus cut-paste composites of
those same train photos (``training.composites``) in phone-like scenes.

Each epoch draws ``samples_per_epoch`` images with replacement so that every (pool, damaged)
group is drawn equally often and composites make ``composite_share`` of the draw: the pools
are small and lopsided (124 damaged cans, 23 damaged thumbnails). Strong augmentation:
random resized crops, flips, rotation, colour, blur, JPEG, small erasures.

Resumable: ``run_dir/last.pt`` holds the weights, optimizer, schedule position, best score
and random states after every epoch; calling ``train_pack`` again with the same run folder
goes on from there (the epoch count may be raised to train longer). ``best.pt`` is the epoch
with the best val AUROC on parcels and boxes; ``log.jsonl`` has one line per epoch.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from training.imageio import read_bgr
from training.offline import configure_offline
from training.packaging import PackPhoto, file_sha256

__all__ = [
    "PackConfig",
    "build_model",
    "composite_set",
    "load_pack_model",
    "pack_scores",
    "train_pack",
]

PACK_CLASSES = ("intact", "damaged")
_CACHE_SIDE = 448  # decoded photos are kept in RAM at most this big (long side)


@dataclass(frozen=True)
class PackConfig:
    """One training run's settings; stored in the checkpoint so a resume keeps them."""

    start: str = "weights/freshproof-detector-0.3.1-condition.pt"
    imgsz: int = 288
    epochs: int = 60
    batch: int = 32
    samples_per_epoch: int = 800
    lr: float = 6e-4
    weight_decay: float = 0.05
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    composites: int = 400
    composite_share: float = 0.2
    # Photos that are no pack (produce) drawn as "not damaged", so that the classifier can
    # be asked about any photo; 0 trains on packs alone.
    other_share: float = 0.0
    seed: int = 0
    threads: int = 1
    select_pools: tuple[str, ...] = ("parcel_damaged_intact", "box_damaged_fine")
    notes: dict[str, str] = field(default_factory=dict)


YOLO_CONFIG = Path("var/yolo-config")  # ultralytics' settings, project-local (training.offline)


def build_model(start: Path) -> Any:
    """The ultralytics classification network of ``start`` with a fresh two-class head."""
    # Unpickling the checkpoint imports ultralytics: offline, with its settings kept here.
    configure_offline(YOLO_CONFIG)
    import torch

    ckpt = torch.load(start, map_location="cpu", weights_only=False)
    model = (ckpt.get("ema") or ckpt["model"]).float()
    head = model.model[-1]
    torch.manual_seed(0)
    head.linear = torch.nn.Linear(head.linear.in_features, len(PACK_CLASSES))
    model.names = dict(enumerate(PACK_CLASSES))
    for p in model.parameters():
        p.requires_grad = True
    return model


def load_pack_model(checkpoint: Path) -> Any:
    """A trained packaging classifier (``best.pt`` or ``last.pt``) in eval mode."""
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = build_model(Path(state["config"]["start"]))
    model.load_state_dict(state["model"])
    return model.eval()


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"unreadable image {path}")
    h, w = img.shape[:2]
    scale = min(1.0, _CACHE_SIDE / max(h, w))
    if scale < 1.0:
        img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _scene(cutout: Any, rng: np.random.Generator) -> np.ndarray:
    """One pack cut-out, large (55-90% of the frame's short side, so its dents still show),
    slightly rotated, on a drawn background, degraded like a phone photo."""
    from training.composites import FRAMES, draw_background, phone_photo

    width, height = FRAMES[int(rng.integers(len(FRAMES)))]
    canvas, _ = draw_background(rng=rng, width=width, height=height)
    ch, cw = cutout.mask.shape
    s = float(rng.uniform(0.55, 0.9) * min(width, height) / max(ch, cw))
    cx, cy = rng.uniform(0.4, 0.6) * width, rng.uniform(0.4, 0.6) * height
    m = cv2.getRotationMatrix2D((cw / 2, ch / 2), float(rng.uniform(-15, 15)), s)
    m[:, 2] += np.array([cx, cy]) - np.array([cw / 2, ch / 2])
    if rng.random() < 0.5:
        m[0] = -m[0]
        m[0, 2] += 2 * cx
    pixels = cv2.warpAffine(cutout.image, m, (width, height), flags=cv2.INTER_LINEAR)
    hard = (
        cv2.warpAffine(cutout.mask.astype(np.uint8), m, (width, height), flags=cv2.INTER_NEAREST)
        > 0
    )
    alpha = (cv2.GaussianBlur(hard.astype(np.float32), (5, 5), 0) * hard)[..., None]
    canvas = (canvas * (1 - alpha) + pixels * alpha).astype(np.uint8)
    image, _ = phone_photo(canvas, rng=rng)
    return image


def composite_set(
    *, photos: Sequence[PackPhoto], pools_dir: Path, out: Path, n: int, seed: int
) -> list[tuple[Path, bool]]:
    """``n`` scenes under ``out`` (made once, then reused), each one train photo's pack cut out
    (``training.composites.cut_out``, the pool readers' foreground mask) and pasted large on a
    drawn background: (image, damaged?), the photo's own label. Photos whose mask is
    implausible are skipped, as the detector's composites skip them."""
    index = out / "index.json"
    if index.exists():
        rows = json.loads(index.read_text())
        if len(rows) >= n:
            return [(out / r["file"], bool(r["damaged"])) for r in rows[:n]]
    from training.composites import cut_out

    rng = np.random.default_rng([seed, 0xBAC])
    cutouts = []
    for p in photos:
        if p.split == "train":
            c = cut_out(
                img=read_bgr(p.path),
                boxes=(),
                source=p.path,
                kind="package",
            )
            if c is not None:
                cutouts.append((c, p.damaged))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(n):
        c, damaged = cutouts[int(rng.integers(len(cutouts)))]
        name = f"pack_scene_{k:04d}.jpg"
        cv2.imwrite(str(out / name), _scene(c, rng), [cv2.IMWRITE_JPEG_QUALITY, 92])
        rows.append({"file": name, "damaged": damaged})
    index.write_text(json.dumps(rows))
    return [(out / r["file"], bool(r["damaged"])) for r in rows]


def _augment(size: int, rng: random.Random) -> Callable[[np.ndarray], np.ndarray]:
    """A strong, label-keeping augmentation of an RGB uint8 photo to size x size."""

    def apply(img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        # random resized crop, scale 0.35..1 of the area, aspect 3/4..4/3
        for _ in range(10):
            area = h * w * rng.uniform(0.35, 1.0)
            ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
            cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if 0 < cw <= w and 0 < ch <= h:
                x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
                break
        else:
            cw, ch, x0, y0 = w, h, 0, 0
        crop = img[y0 : y0 + ch, x0 : x0 + cw]
        crop = cv2.resize(
            crop, (size, size), interpolation=cv2.INTER_AREA if cw > size else cv2.INTER_LINEAR
        )
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if rng.random() < 0.2:
            crop = crop[::-1]
        if rng.random() < 0.5:
            m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-20, 20), 1.0)
            crop = cv2.warpAffine(
                np.ascontiguousarray(crop), m, (size, size), borderMode=cv2.BORDER_REFLECT
            )
        out = crop.astype(np.float32)
        # colour: brightness, contrast, per-channel gain (white balance), saturation
        out = out * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
        mean = out.mean()
        out = (out - mean) * rng.uniform(0.7, 1.3) + mean
        out *= np.array([rng.uniform(0.85, 1.15) for _ in range(3)], np.float32)
        grey = out.mean(axis=2, keepdims=True)
        out = grey + (out - grey) * (0.0 if rng.random() < 0.1 else rng.uniform(0.6, 1.4))
        pic = np.clip(out, 0, 255).astype(np.uint8)
        if rng.random() < 0.25:
            k = rng.choice((3, 5))
            pic = cv2.GaussianBlur(pic, (k, k), 0)
        if rng.random() < 0.4:
            ok, buf = cv2.imencode(".jpg", pic, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(35, 90)])
            if ok:
                pic = np.asarray(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
        if rng.random() < 0.2:  # a small erasure: a finger, a label, a shadow
            ew, eh = rng.randint(size // 12, size // 5), rng.randint(size // 12, size // 5)
            ex, ey = rng.randint(0, size - ew), rng.randint(0, size - eh)
            pic = pic.copy()
            pic[ey : ey + eh, ex : ex + ew] = rng.randint(0, 255)
        return np.ascontiguousarray(pic)

    return apply


def _eval_input(rgb: np.ndarray, size: int) -> np.ndarray:
    from vision.postprocess import center_crop_input

    return center_crop_input(rgb, size)[0]


def pack_scores(
    model: Any, images: Sequence[np.ndarray], size: int, batch: int = 32, device: str = "cpu"
) -> np.ndarray:
    """P(damaged) per RGB photo: the serving preprocessing (centre crop), averaged with its
    mirror image as the condition classifier's releases do."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(np.stack([_eval_input(im, size) for im in images[i : i + batch]]))
            x = x.to(device)
            probs = []
            for view in (x, x.flip(-1)):
                y = model(view)
                y = y[0] if isinstance(y, tuple) else y
                probs.append(y[:, 1].float())
            out.append(torch.stack(probs).mean(0).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def auroc(scores: npt.ArrayLike, positive: npt.ArrayLike) -> float:
    """Area under the ROC curve (ties count half); NaN when one class is missing."""
    s = np.asarray(scores, float)
    y = np.asarray(positive, bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def _val_metrics(
    scores: np.ndarray, photos: Sequence[PackPhoto], pools: Sequence[str]
) -> dict[str, float]:
    keep = np.array([p.pool in pools for p in photos])
    y = np.array([p.damaged for p in photos])[keep]
    s = scores[keep]
    pred = s >= 0.5
    return {
        "auroc": round(auroc(s, y), 4),
        "accuracy": round(float((pred == y).mean()), 4),
        "false_alarms": round(float(pred[~y].mean()) if (~y).any() else float("nan"), 4),
        "recall": round(float(pred[y].mean()) if y.any() else float("nan"), 4),
        "images": int(keep.sum()),
    }


def _draw(
    photos: Sequence[PackPhoto],
    composites: Sequence[tuple[Path, bool]],
    n: int,
    share: float,
    rng: random.Random,
    others: Sequence[Path] = (),
    other_share: float = 0.0,
) -> list[tuple[Path, bool]]:
    """``n`` (image, damaged) draws: each (pool, damaged) group equally often, composites
    ``share`` of the whole and photos of other things (``others``: produce, no pack at all,
    drawn as not damaged) ``other_share``."""
    groups: dict[tuple[str, bool], list[PackPhoto]] = {}
    for p in photos:
        groups.setdefault((p.pool, p.damaged), []).append(p)
    keys = sorted(groups)
    n_comp = round(n * share) if composites else 0
    draws = [(c[0], c[1]) for c in (rng.choice(composites) for _ in range(n_comp))]
    n_other = round(n * other_share) if others else 0
    draws += [(rng.choice(others), False) for _ in range(n_other)]
    for _ in range(n - n_comp - n_other):
        p = rng.choice(groups[rng.choice(keys)])
        draws.append((p.path, p.damaged))
    rng.shuffle(draws)
    return draws


class _Draws:
    """One epoch's draws as a map-style dataset: photo ``i`` is augmented by a generator
    seeded with (seed, epoch, i), so loader workers and resumes draw the same pixels."""

    def __init__(
        self,
        draws: Sequence[tuple[Path, bool]],
        size: int,
        seed: int,
        epoch: int,
        cache: dict[Path, np.ndarray],
    ) -> None:
        self.draws = list(draws)
        self.size = size
        self.seed = seed
        self.epoch = epoch
        self.cache = cache  # decoded photos, shared across epochs in-process

    def __len__(self) -> int:
        return len(self.draws)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        import torch

        path, damaged = self.draws[i]
        if path not in self.cache:
            self.cache[path] = _read(path)
        rng = random.Random(f"{self.seed}:{self.epoch}:{i}")
        img = _augment(self.size, rng)(self.cache[path])
        return torch.from_numpy(img).permute(2, 0, 1), int(damaged)


def train_pack(
    *,
    photos: Sequence[PackPhoto],
    pools_dir: Path,
    run_dir: Path,
    config: PackConfig,
    hours: float | None = None,
    device: str = "cpu",
    workers: int = 0,
    others: Sequence[Path] = (),
    log: Callable[[str], None] = print,
) -> Path:
    """Train (or go on training) in ``run_dir`` until ``config.epochs`` or ``hours`` run out;
    returns the best checkpoint. ``photos``: the pack photos with their splits and labels.
    On a GPU (``device="cuda"``) the forward pass runs in bfloat16 and ``workers`` loader
    processes augment."""
    import torch

    torch.set_num_threads(config.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    start_time = time.monotonic()
    train = [p for p in photos if p.split == "train"]
    val = [p for p in photos if p.split == "val"]
    composites = (
        composite_set(
            photos=train,
            pools_dir=pools_dir,
            out=run_dir / "composites",
            n=config.composites,
            seed=config.seed,
        )
        if config.composites
        else []
    )
    log(f"train {len(train)} photos + {len(composites)} composites; val {len(val)}")
    val_images = [_read(p.path) for p in val]
    cache: dict[Path, np.ndarray] = {}
    model = build_model(Path(config.start)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(config.samples_per_epoch / config.batch)
    rng = random.Random(config.seed)
    epoch, best = _resume(run_dir / "last.pt", model, opt, rng, device=device, log=log)
    schedule = _Schedule(config, steps_per_epoch)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    meta = {
        "config": asdict(config),
        "start_sha256": file_sha256(Path(config.start)),
        "classes": list(PACK_CLASSES),
    }
    while epoch < config.epochs:
        if hours is not None and time.monotonic() - start_time > hours * 3600:
            log(f"time budget of {hours} h spent after epoch {epoch}: stopping (resumable)")
            break
        t0 = time.monotonic()
        draws = _draw(
            train,
            composites,
            config.samples_per_epoch,
            config.composite_share,
            rng,
            others,
            config.other_share,
        )
        loader: Any = torch.utils.data.DataLoader(
            _Draws(draws, config.imgsz, config.seed, epoch, cache),  # type: ignore[arg-type]
            batch_size=config.batch,
            num_workers=workers,
            pin_memory=device.startswith("cuda"),
            persistent_workers=False,
        )
        losses = _train_epoch(model, opt, loss_fn, loader, schedule, epoch, device)
        model.eval()
        scores = pack_scores(model, val_images, config.imgsz, device=device)
        chosen = _val_metrics(scores, val, config.select_pools)
        every = _val_metrics(scores, val, sorted({p.pool for p in val}))
        epoch += 1
        score = chosen["auroc"] + 1e-3 * chosen["accuracy"]
        improved = score > best
        record = {
            "epoch": epoch,
            "loss": round(float(np.mean(losses)), 4),
            "lr": round(schedule.lr_at(epoch * steps_per_epoch - 1), 6),
            "val_parcels_boxes": chosen,
            "val_all_packs": every,
            "seconds": round(time.monotonic() - t0, 1),
            "best": improved,
        }
        with (run_dir / "log.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        log(json.dumps(record))
        best = max(best, score)
        _checkpoint(
            run_dir,
            model,
            opt,
            epoch=epoch,
            best=best,
            improved=improved,
            val=chosen,
            rng=rng,
            meta=meta,
        )
    return run_dir / "best.pt"


def _resume(
    state_file: Path,
    model: Any,
    opt: Any,
    rng: random.Random,
    *,
    device: str,
    log: Callable[[str], None],
) -> tuple[int, float]:
    """Load the last checkpoint's weights, optimizer and rng into these, when one exists;
    return (epochs done, best val score), (0, -1.0) for a new run."""
    if not state_file.exists():
        return 0, -1.0
    import torch

    state = torch.load(state_file, map_location=device, weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    rng.setstate(state["rng"])
    epoch, best = state["epoch"], state["best"]
    log(f"resumed from {state_file} after epoch {epoch} (best val AUROC {best})")
    return epoch, best


@dataclass(frozen=True)
class _Schedule:
    """Linear warm-up, then cosine decay to 2% of the peak rate over the planned epochs."""

    config: PackConfig
    steps_per_epoch: int

    def lr_at(self, step: int) -> float:
        lr, warm = self.config.lr, self.config.warmup_epochs * self.steps_per_epoch
        total = self.config.epochs * self.steps_per_epoch
        if step < warm:
            return lr * (step + 1) / warm
        t = (step - warm) / max(1, total - warm)
        return lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _train_epoch(
    model: Any, opt: Any, loss_fn: Any, loader: Any, schedule: _Schedule, epoch: int, device: str
) -> list[float]:
    """One pass over the epoch's draws; bfloat16 autocast on a GPU. Returns the batch losses."""
    import torch

    cuda = device.startswith("cuda")
    model.train()
    losses = []
    for i, (x, y) in enumerate(loader):
        x = x.to(device, non_blocking=True).float() / 255.0
        y = y.to(device)
        for g in opt.param_groups:
            g["lr"] = schedule.lr_at(epoch * schedule.steps_per_epoch + i)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = loss_fn(model(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def _checkpoint(
    run_dir: Path,
    model: Any,
    opt: Any,
    *,
    epoch: int,
    best: float,
    improved: bool,
    val: dict[str, Any],
    rng: random.Random,
    meta: dict[str, Any],
) -> None:
    """best.pt when val improved; last.pt (weights, optimizer, rng) always, replaced
    atomically so a run killed mid-write resumes from the previous epoch."""
    import torch

    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if improved:
        torch.save({"model": weights, "epoch": epoch, "val": val, **meta}, run_dir / "best.pt")
    state = {
        "model": weights,
        "optimizer": opt.state_dict(),
        "epoch": epoch,
        "best": best,
        "rng": rng.getstate(),
        **meta,
    }
    torch.save(state, run_dir / "last.tmp")
    (run_dir / "last.tmp").replace(run_dir / "last.pt")
