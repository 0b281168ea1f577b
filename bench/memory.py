"""Peak memory of the serving process under hostile uploads: the decode budget vs none, same run.

Starts ``freshproof serve`` (the venv's entry point) on a free loopback port with a fresh
temporary ``FRESHPROOF_DATA_DIR``, warms it up with one small photo, resets its peak RSS
(``/proc/PID/clear_refs``) and sends ``--requests`` concurrent ``POST /v1/inspect`` requests
(threads, httpx), each with ``--photos`` worst-case photos. Then reads the server's peak
RSS (``VmHWM``) and prints it with the wall time and the status counts. Every load runs
against a server with the configured decode budget and against its peer, the same server
with the budget off (``FRESHPROOF_DECODE_CONCURRENCY=0``, ``FRESHPROOF_DECODE_BUDGET_MB=0``),
measured in the same run; the last column is budget / peer.

Loads: ``png``, the 6300 x 6300 PNG of about 150 KB (39.7 Mpx, just under the 40 Mpx
limit: 119 MB of pixels per photo); ``jpeg``, 12 MP phone JPEGs of a few MB each.

    .venv/bin/python bench/memory.py [--requests 10] [--photos 10] [--load png --load jpeg]
    .venv/bin/python bench/memory.py --calibrate

Each server gets its own customer-app API key, made with ``freshproof keys create`` in its
data dir before it starts; every request (the warm-up too) carries it, budget and peer alike.

``--calibrate`` decodes one 12 Mpx photo per format, each in a fresh child process, and
prints the peak RSS it added next to the cost ``decode_image`` holds in the budget for it:
the check behind the per-format decoder costs in ``vision/image.py``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.server import Server  # noqa: E402
from tests.hostile_images import compressible_png, heic_bytes, phone_jpeg  # noqa: E402  (the path above)

SERVE = REPO / ".venv" / "bin" / "freshproof"
MiB = 1024 * 1024


def _status_kib(pid: int, field: str) -> int:
    """A ``VmXXX`` field of /proc/PID/status in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak(pid: int) -> None:
    """Make VmHWM start again from the current RSS (Linux 4.0+)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _customer_app_key(env: dict[str, str]) -> dict[str, str]:
    """A customer app's key, made by ``freshproof keys create``: its Authorization header."""
    command = [str(SERVE), "keys", "create", "--role", "customer_app", "--name", "memory bench"]
    command += ["--customer", "BENCH-CUSTOMER"]
    out = subprocess.run(
        command,
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return {"Authorization": f"Bearer {out.stdout.strip()}"}


@contextmanager
def _server(*, budget: bool, data_dir: Path) -> Iterator[tuple[int, str, dict[str, str]]]:
    """A running ``freshproof serve``: (pid, base URL, a key's headers); stopped on exit."""
    # No rate limit: --requests above the 120-request burst of one key would get 429s,
    # and a refused request measures no decoding.
    env = os.environ | {
        "FRESHPROOF_DATA_DIR": str(data_dir),
        "FRESHPROOF_RATE_LIMIT_PER_MINUTE": "0",
    }
    if not budget:
        env |= {"FRESHPROOF_DECODE_CONCURRENCY": "0", "FRESHPROOF_DECODE_BUDGET_MB": "0"}
    headers = _customer_app_key(env)
    server = Server(env, data_dir / "server.log")
    server.start(timeout=120)
    try:
        assert server.proc is not None
        yield server.proc.pid, server.base, headers
    finally:
        server.stop()


def _post(url: str, headers: dict[str, str], photos: list[tuple[str, bytes, str]]) -> int:
    import httpx

    files = [("photos", photo) for photo in photos]
    try:
        return httpx.post(
            url + "/v1/inspect", files=files, headers=headers, timeout=600
        ).status_code
    except httpx.TransportError:
        return 0  # connection lost: the server died (e.g. killed for memory)


def _load(
    url: str,
    headers: dict[str, str],
    pid: int,
    photos: list[tuple[str, bytes, str]],
    requests: int,
) -> dict[str, object]:
    """Send ``requests`` concurrent requests; the server's peak RSS, wall time and statuses."""
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        status = _post(url, headers, photos)
        with lock:
            statuses.append(status)

    _reset_peak(pid)
    before = _status_kib(pid, "VmRSS")
    threads = [threading.Thread(target=one) for _ in range(requests)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "rss_before_mb": before / 1024,
        "peak_mb": _status_kib(pid, "VmHWM") / 1024,
        "wall_s": wall,
        "statuses": dict(sorted(Counter(statuses).items())),
    }


def _loads(names: list[str], photos_per_request: int) -> dict[str, list[tuple[str, bytes, str]]]:
    out = {}
    for name in names:
        if name == "png":
            png = compressible_png(6300)
            out[name] = [(f"big-{i}.png", png, "image/png") for i in range(photos_per_request)]
        else:
            out[name] = [
                (f"phone-{i}.jpg", phone_jpeg(seed=i), "image/jpeg")
                for i in range(photos_per_request)
            ]
    return out


def run_loads(args: argparse.Namespace) -> None:
    """The load table: each load against the budgeted server and its unbudgeted peer."""
    small = [("warm.jpg", phone_jpeg(640, 480), "image/jpeg")]
    loads = _loads(args.load or ["png", "jpeg"], args.photos)
    for name, photos in loads.items():
        size = sum(len(p[1]) for p in photos) / MiB
        print(
            f"\nload {name}: {args.requests} concurrent requests x {len(photos)} photos "
            f"({size:.1f} MiB a request)"
        )
        print(f"{'server':<10} {'rss before':>10} {'peak RSS':>10} {'wall s':>8}  statuses")
        results = {}
        for budget in (True, False):
            with (
                tempfile.TemporaryDirectory() as tmp,
                _server(budget=budget, data_dir=Path(tmp)) as (pid, url, headers),
            ):
                assert _post(url, headers, small) == 200, "warm-up request failed"
                r = _load(url, headers, pid, photos, args.requests)
            side = "budget" if budget else "peer"
            results[side] = r
            print(
                f"{side:<10} {r['rss_before_mb']:>8.0f}MB {r['peak_mb']:>8.0f}MB "
                f"{r['wall_s']:>8.1f}  {r['statuses']}"
            )
        ratio = float(results["budget"]["peak_mb"]) / float(results["peer"]["peak_mb"])  # type: ignore[arg-type]
        print(f"peak RSS budget/peer: {ratio:.2f}")


def _calibration_files() -> dict[str, bytes]:
    """One 4000 x 3000 photo per format and mode the decoder meets."""
    import cv2
    import numpy as np
    from PIL import Image

    from tests.conftest import scene

    w, h = 4000, 3000
    rgb = cv2.resize(scene(h // 8, w // 8), (w, h))
    rgb = np.clip(rgb + np.random.default_rng(0).normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)
    img = Image.fromarray(rgb)

    def enc(im: Image.Image, fmt: str, **save: object) -> bytes:
        buf = io.BytesIO()
        im.save(buf, format=fmt, **save)
        return buf.getvalue()

    grey16 = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    rgb16 = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    return {
        "jpeg": enc(img, "JPEG", quality=90),
        "jpeg-progressive": enc(img, "JPEG", quality=90, progressive=True),
        "jpeg-cmyk": enc(img.convert("CMYK"), "JPEG", quality=90),
        "png-rgb": enc(img, "PNG", compress_level=1),
        "png-rgba": enc(img.convert("RGBA"), "PNG", compress_level=1),
        "png-palette": enc(img.quantize(64), "PNG", compress_level=1),
        "png-grey16": cv2.imencode(".png", grey16)[1].tobytes(),
        "png-rgb16": cv2.imencode(".png", rgb16)[1].tobytes(),
        "webp-lossy": enc(img, "WEBP", quality=80),
        "webp-lossless": enc(img, "WEBP", lossless=True, method=0),
        "tiff-rgb": enc(img, "TIFF"),
        "tiff-deflate-rgb": enc(img, "TIFF", compression="tiff_adobe_deflate"),
        "tiff-grey16": cv2.imencode(".tiff", grey16)[1].tobytes(),
        "tiff-rgb16": cv2.imencode(".tiff", rgb16)[1].tobytes(),
        "bmp": enc(img, "BMP"),
        "heic": heic_bytes(rgb),
    }


def measure_one(path: Path) -> None:
    """Child: decode one file at the working size; print its peak RSS and held cost."""
    from vision.budget import DecodeBudget
    from vision.image import WORKING_SIDE, ImageLimits, decode_image

    data = path.read_bytes()
    decode_image(_tiny(data), max_side=WORKING_SIDE)  # load the codec's library first
    pid = os.getpid()
    _reset_peak(pid)
    before = _status_kib(pid, "VmRSS")
    budget = DecodeBudget()
    # Uncompressed TIFF and BMP of 12 Mpx are over the 15 MB upload limit: lift it here.
    limits = ImageLimits(max_bytes=1 << 30)
    out = decode_image(data, limits=limits, max_side=WORKING_SIDE, budget=budget)
    peak = _status_kib(pid, "VmHWM")
    print(
        json.dumps(
            {
                "added_mb": (peak - before) / 1024,
                "held_mb": budget.peak_bytes / MiB,
                "pixels": out.width * out.height,
            }
        )
    )


def _tiny(data: bytes) -> bytes:
    """A small photo of the same format as ``data``, to load its codec before measuring."""
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    small = Image.new(img.mode if img.mode != "P" else "RGB", (64, 48), 0)
    buf = io.BytesIO()
    small.save(buf, format=img.format if img.format != "MPO" else "JPEG")
    return buf.getvalue()


def calibrate() -> None:
    """Peak RSS each format's decode adds, against what the budget holds for it."""
    files = _calibration_files()
    print(f"{'format':<18} {'file MB':>8} {'peak +MB':>9} {'held MB':>8} {'B/px peak':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            path = Path(tmp) / name
            path.write_bytes(data)
            out = subprocess.run(
                [sys.executable, __file__, "--measure-one", str(path)],
                capture_output=True,
                text=True,
            )
            if out.returncode:
                print(f"{name:<18} failed: {out.stderr.strip().splitlines()[-1]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            per_px = r["added_mb"] * MiB / r["pixels"]
            print(
                f"{name:<18} {len(data) / MiB:>8.1f} {r['added_mb']:>9.0f} "
                f"{r['held_mb']:>8.0f} {per_px:>9.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--load", action="append", choices=["png", "jpeg"])
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--measure-one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_one:
        measure_one(args.measure_one)
    elif args.calibrate:
        calibrate()
    else:
        run_loads(args)


if __name__ == "__main__":
    main()
