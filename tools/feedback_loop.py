"""The retraining loop end to end: adjudicators correct the model, the corrections become a
dataset, the model is retrained on it with the base pools replayed, and the gate decides.

On a copy of the shipped weights and a data folder of its own, under ``--out`` (nothing
shipped changes: the gate's look is counted in the copy's ``gate-looks.jsonl`` and the copy's
ledger, never in the repository's ``weights/gate-looks.jsonl``, which the run checks):

1. the serving release judges the val split; the photos it gets wrong (real photos only) are
   the errors an adjudicator would meet;
2. a share of them are filed as claims through the claims service, and decided by an
   "adjudicator" who corrects the findings to the photo's ground truth: wrong findings
   marked wrong, missed defects added with their boxes;
3. `freshproof feedback export` turns the decisions into a dataset (manifest hash printed);
4. `freshproof models retrain` trains on it with the base pools replayed;
5. `freshproof models promote` judges the candidate on the test split (which none of this
   touched) and prints its verdict with its figures.

    python tools/feedback_loop.py [--share 0.5] [--limit N] [--classifier-hours 0.2]

The walkthrough's short run (a few minutes on 2 cores, after ``freshproof datasets build``):

    python tools/feedback_loop.py --limit 6 --classifier-hours 0.01
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.deps import load_predictor  # noqa: E402
from api.services import build_services  # noqa: E402
from api.settings import Settings  # noqa: E402
from cases.adjudication import decide  # noqa: E402
from claims.models import ClaimInput, DecisionInput, FindingReview  # noqa: E402
from claims.service import file_claim  # noqa: E402
from serving.model_server import ModelServer  # noqa: E402
from training.errors import MissingInputError  # noqa: E402
from training.evaluate import ImageRecord, collect, is_real_photo, judged_defective  # noqa: E402
from training.layout import DEFAULT_DATASET, require_built  # noqa: E402

# This checkout's CLI, whatever is installed: a fresh clone runs its own code.
FRESHPROOF = [sys.executable, "-m", "api.cli"]


def _corrections(record: ImageRecord, claim: dict[str, object]) -> tuple[FindingReview, ...]:
    """What an adjudicator who knows the truth says about the claim's one photo."""
    (photo,) = claim["photos"]  # type: ignore[misc]
    truth = {label for label, _ in record.gt}
    reviews = [
        FindingReview(photo=0, index=i, correct=f["label"] in truth)
        for i, f in enumerate(photo["findings"])
    ]
    found = {f["label"] for f in photo["findings"]}
    for label, box in record.gt:  # missed: added with the labelled box
        if label not in found:
            reviews.append(
                FindingReview(photo=0, index=None, correct=False, label=label, box=box)  # type: ignore[arg-type]
            )
    return tuple(reviews)


def main() -> None:
    """Run the loop and print each step's figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=REPO / DEFAULT_DATASET)
    ap.add_argument("--out", type=Path, default=REPO / "var" / "loop-demo")
    ap.add_argument("--share", type=float, default=0.5, help="share of val errors corrected")
    ap.add_argument("--limit", type=int, default=None, help="correct at most this many")
    ap.add_argument("--classifier-hours", type=float, default=0.2)
    ap.add_argument("--weight", type=int, default=3)
    ap.add_argument("--version", default="0.2.2-loop")
    args = ap.parse_args()
    try:
        require_built(args.dataset)
    except MissingInputError as exc:
        raise SystemExit(f"error: {exc}") from exc
    repo_looks = REPO / "weights" / "gate-looks.jsonl"
    looks_before = repo_looks.read_bytes() if repo_looks.exists() else b""
    if args.out.exists():
        shutil.rmtree(args.out)
    weights = args.out / "weights"
    shutil.copytree(REPO / "weights", weights)
    env = {
        **os.environ,
        "FRESHPROOF_DATA_DIR": str(args.out / "var"),
        "FRESHPROOF_WEIGHTS_DIR": str(weights),
        "FRESHPROOF_ANCHOR_BACKEND": "none",
    }
    settings = Settings(data_dir=args.out / "var", weights_dir=weights, anchor_backend="none")
    services = build_services(settings)
    models = ModelServer(settings, services.ledger, load_predictor)
    release = models.ensure_released()
    predictor = models.current()
    print(f"1. serving {release.name} {release.version} (ledger entry {release.ref.index})")

    t0 = time.perf_counter()
    val = collect(predictor, args.dataset, "val")
    thresholds = predictor.spec.thresholds
    wrong = [r for r in val if is_real_photo(r) and judged_defective(r, thresholds) != r.defective]
    wrong.sort(key=lambda r: hashlib.sha256(r.file.encode()).hexdigest())
    chosen = wrong[: round(len(wrong) * args.share)][: args.limit]
    real = [r for r in val if is_real_photo(r)]
    print(
        f"   val: {len(real)} real photos, {len(wrong)} judged wrong "
        f"({1 - len(wrong) / len(real):.1%} right); {len(chosen)} corrected "
        f"({time.perf_counter() - t0:.0f} s)"
    )

    now = datetime.now(UTC)
    decided = 0
    for n, record in enumerate(chosen):
        data = (args.dataset / record.file).read_bytes()
        claim, _ = file_claim(
            ledger=services.ledger,
            store=services.evidence,
            inspector=predictor,
            claim=ClaimInput(
                order_id=f"loop-{n}",
                lot=f"LOOP-{n}",
                category="chilled",
                line_value=Decimal("5.00"),
                currency="EUR",
                delivered_at=now - timedelta(hours=2),
            ),
            photos=[(Path(record.file).name, data)],
            now=now,
            config=services.claims_config,
            actor="loop:customer",
        )
        decide(
            ledger=services.ledger,
            claim_id=str(claim["id"]),
            decision=DecisionInput(
                party="override",
                responsible_party="supplier",
                reason="loop demo: findings corrected to the photo's ground truth",
                compensation="deny",
                findings=_corrections(record, claim),
            ),
            actor="loop:adjudicator",
            now=now,
            policy=services.claims_config.compensation,
        )
        decided += 1
    services.close()
    print(f"2. {decided} claims filed and decided with corrected findings")

    def run(*cmd: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*FRESHPROOF, *cmd],
            env=env | {"PYTHONPATH": str(REPO)},
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    feedback = args.out / "feedback"
    exported = run("feedback", "export", str(feedback))
    print(f"3. export: {exported.stdout.strip()}")
    t0 = time.perf_counter()
    retrained = run(
        "models", "retrain", args.version,
        "--feedback", str(feedback),
        "--dataset", str(args.dataset),
        "--weight", str(args.weight),
        "--classifier-hours", str(args.classifier_hours),
        "--out", str(args.out / "runs"),
        "--candidate", str(args.out / "candidate"),
    )  # fmt: skip
    print(f"4. retrained in {time.perf_counter() - t0:.0f} s: {retrained.stdout.strip()}")
    gate = run(
        "models", "promote", str(args.out / "candidate"), "--dataset", str(args.dataset)
    )  # fmt: skip
    verdict = json.loads(gate.stdout)
    print("5. the gate on the test split:")
    print(json.dumps(verdict, indent=2))
    print(gate.stderr.strip())
    looks_after = repo_looks.read_bytes() if repo_looks.exists() else b""
    if looks_after != looks_before:
        raise SystemExit(f"{repo_looks} changed: the loop must count its look in its own copy")
    print(
        f"   the look was counted in {weights / 'gate-looks.jsonl'} and the ledger under "
        f"{args.out / 'var'}; {repo_looks.relative_to(REPO)} is unchanged"
    )


if __name__ == "__main__":
    main()
