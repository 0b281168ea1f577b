"""How well the responsibility engine decides claims, on simulated supply chains over HTTP.

Scenarios of every fault kind (simulator: clean chains, reefer failures, damage at
handovers, late claims, missing and contradictory records, messy posting) are built from a
seed, posted to a real uvicorn server on localhost through the public API, and each claim's
verdict is scored against the party GUIDE §4 holds responsible. Two modes:

- ``given``: each photo's findings are the scenario's own (a stand-in predictor through
  FastAPI's dependency seam, ``api.deps.get_predictor``): the rules alone are measured.
- ``model``: real held-out photos of the scenario's subject, judged by the shipped model:
  model and rules together, each miss put down to one or the other. There is no real
  photo of a swollen pack, so swelling scenarios are skipped there and counted as such.

Each mode gets a fresh data directory. Printed per fault kind: n, accuracy, automation
(verdicts that name a party), wrong among decided verdicts, wrong among verdicts at or above
the auto-pay confidence; then the total, and the confident verdicts on missing-data cases.

    .venv/bin/python bench/responsibility.py [--per-kind 15] [--seed 7] [--mode both]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.app import create_app  # noqa: E402
from api.deps import get_predictor  # noqa: E402
from api.settings import Settings  # noqa: E402
from simulator.photos import (  # noqa: E402
    GivenFindings,
    GivenPhotos,
    HeldOutPhotos,
    PhotoSource,
)
from simulator.report import (  # noqa: E402
    confident_on_missing_data,
    format_table,
    score,
    upper_bound_95,
)
from simulator.runner import KeyRing, Runner  # noqa: E402
from simulator.scenarios import KINDS, suite  # noqa: E402
from simulator.spec import Outcome  # noqa: E402
from tests.web.server import serve  # noqa: E402
from vision.registry import resolve_model  # noqa: E402

POOLS = REPO.parent / "shared" / "datasets"
SPLIT = REPO / "datasets" / "splits" / "fp-v0-test.txt"


def run_mode(mode: str, *, per_kind: int, seed: int, kinds: tuple[str, ...], verbose: bool) -> int:
    """Run one mode end to end and print its report; returns the missing-data confident count."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"fp-bench-{mode}-") as tmp:
        # No rate limit: one supply-chain key posts every scenario's documents back to back,
        # far more than the 120-request burst a key gets by default.
        settings = Settings(
            data_dir=Path(tmp) / "var", anchor_backend="none", rate_limit_per_minute=0
        )
        app = create_app(settings)
        photos: PhotoSource
        given: GivenFindings | None = None
        if mode == "given":
            given = GivenFindings(limits=settings.image_limits, quality=settings.quality_thresholds)
            app.dependency_overrides[get_predictor] = lambda: given
            photos = GivenPhotos(given)
        else:
            if not POOLS.is_dir():
                print(f"\n== model mode skipped: real photo pools not found at {POOLS}")
                return 0
            photos = HeldOutPhotos(
                pools=POOLS,
                split=SPLIT,
                seed=seed,
                limits=settings.image_limits,
                quality=settings.quality_thresholds,
                product_photo=resolve_model(verify=False).product_photo,
            )
        threshold = app.state.services.claims_config.compensation.auto_pay_min_confidence
        # Laid back from a minute ago: the server's clock must see every event as past.
        now = datetime.now(UTC) - timedelta(minutes=1)
        scenarios = suite(per_kind=per_kind, seed=seed, now=now, kinds=kinds)
        with serve(app) as base, httpx.Client(base_url=base, timeout=120) as client:
            # Keys as the service issues them: the supply chain's, bound to every party the
            # scenarios name, and one customer app's per customer (the in-process key store).
            keys = KeyRing(app.state.services.keys, created_by="bench")
            outcomes = Runner(client, photos, keys).run_all(scenarios)
    elapsed = time.perf_counter() - started
    rows, total = score(outcomes, auto_pay_min_confidence=threshold)
    label = (
        "findings given (rules alone)" if mode == "given" else "shipped model on held-out photos"
    )
    print(
        f"\n== mode {mode}: {label}; {len(scenarios)} scenarios, seed {seed}, "
        f"{elapsed:.0f} s over HTTP (uvicorn on localhost, SQLite), {os.cpu_count()} CPUs"
    )
    print(format_table(rows, total, threshold=threshold))
    bound = upper_bound_95(total.wrong_confident, total.confident)
    print(
        f"automation where the records can carry a verdict: "
        f"{_share(total.decidable_decided, total.decidable)}; wrong at or above the auto-pay "
        f"confidence {threshold:g}: {_share(total.wrong_confident, total.confident)}, "
        f"95% upper bound {'-' if bound is None else f'{100 * bound:.1f}%'}; decided verdicts "
        f"with a reason citing no ledger entry: {total.uncited}"
    )
    _notes(mode, outcomes, total.model_misses, total.rule_misses, photos, given, verbose)
    confident = confident_on_missing_data(outcomes)
    print(f"confident verdicts on missing-data cases: {len(confident)}")
    for o in confident:
        v = o.verdict
        assert v is not None
        print(
            f"  {o.scenario.name} ({o.scenario.variant}): {v.role} {v.party_id or ''} "
            f"conf {v.confidence:.2f} {'/'.join(v.codes)}"
        )
    return len(confident)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}% ({part}/{whole})" if whole else "- (0/0)"


def _notes(
    mode: str,
    outcomes: list[Outcome],
    model_misses: int,
    rule_misses: int,
    photos: PhotoSource,
    given: GivenFindings | None,
    verbose: bool,
) -> None:
    skipped = [o for o in outcomes if o.skipped]
    if skipped:
        reasons = sorted({o.skipped or "" for o in skipped})
        per_kind = Counter(o.scenario.kind for o in skipped)
        print(
            f"skipped {len(skipped)} scenarios ({', '.join(reasons)}): "
            + ", ".join(f"{k} {n}" for k, n in per_kind.items())
        )
    if mode == "model":
        print(
            f"misses: {model_misses} the model's (a photo's findings lacked its defect or "
            f"had a false one), {rule_misses} the rules' (findings right, verdict wrong)"
        )
        if isinstance(photos, HeldOutPhotos):
            print(
                f"held-out photos passed over by the quality gate: {photos.unjudgeable}; "
                f"reused once a subject's pool ran out: {photos.reused} "
                "(a reused photo marks its claim for review; the verdict stands)"
            )
    if given is not None and given.unknown:
        print(f"WARNING: {given.unknown} photos reached the predictor without given findings")
    for o in outcomes:
        if o.error:
            print(f"  error {o.scenario.name}: {o.error}")
    if verbose:
        from simulator.report import is_right

        for o in outcomes:
            if o.verdict is None or is_right(o.scenario.truth, o.verdict):
                continue
            t, v = o.scenario.truth, o.verdict
            found = ["+".join(sorted(f)) or "none" for f in o.findings]
            print(
                f"  wrong {o.scenario.name} [{o.scenario.category}; {o.scenario.variant}] "
                f"truth {t.role} {t.party_id or ''} | got {v.role} {v.party_id or ''} "
                f"conf {v.confidence:.2f} {'/'.join(v.codes)} | findings {', '.join(found)}"
            )


def main() -> None:
    """Parse arguments, run the modes, print the reports."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-kind", type=int, default=15, help="scenarios per fault kind")
    ap.add_argument("--seed", type=int, default=7, help="run seed (scenarios are reproducible)")
    ap.add_argument("--mode", choices=("given", "model", "both"), default="both")
    ap.add_argument("--kinds", help=f"comma-separated subset of: {', '.join(KINDS)}")
    ap.add_argument("--verbose", action="store_true", help="print every wrong verdict")
    ap.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when any missing-data case got a confident verdict",
    )
    args = ap.parse_args()
    kinds = tuple(args.kinds.split(",")) if args.kinds else KINDS
    unknown = set(kinds) - set(KINDS)
    if unknown:
        ap.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    modes = ("given", "model") if args.mode == "both" else (args.mode,)
    confident = 0
    for mode in modes:
        confident += run_mode(
            mode, per_kind=args.per_kind, seed=args.seed, kinds=kinds, verbose=args.verbose
        )
    if args.strict and confident:
        sys.exit(1)


if __name__ == "__main__":
    main()
