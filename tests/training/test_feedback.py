"""Adjudicated evidence as training data, on a real app database: claims filed and decided
through the domain, station items graded by a person, then the YOLO export, its manifest,
the Label Studio round trip and the command line.

The model is a double that decodes, gates and hashes each photo with the real vision code
and reports the findings (with boxes) a test gave for that photo.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from api import cli_feedback
from api.services import Services, build_services
from api.settings import Settings
from cases.adjudication import decide
from cases.feedback import ModelFinding, gather_feedback, label_photo
from cases.moves import move_ticket
from claims.models import ClaimInput, DecisionInput, FindingReview
from claims.service import file_claim
from simulator.photos import texture_jpeg
from stations.batches import ItemInput, Station, grade_batch
from stations.grading import GradingPolicy
from stations.review import grade_by_person
from training.feedback import ExportDirectoryError, PhotoSizeError, export_yolo
from training.feedback_plan import split_of
from training.label_studio import LABEL_CONFIG, from_label_studio, to_label_studio
from vision.errors import InvalidExampleError
from vision.image import WORKING_SIDE, assess_quality, decode_image
from vision.labelled import LabelledPhoto, photo_class_of
from vision.labels import LABELS
from vision.phash import phash
from vision.predictor import Finding, Inspection

NOW = datetime.now(UTC).replace(microsecond=0)
JUDGE = "key:fpk_1111aaaa (Ana)"
GRADER = "key:fpk_2222bbbb (Ben)"
STATION = Station("ST-9", "urn:epc:id:sgln:4000002.00009.0", "key:fpk_0000abcd (station)")
# Every label at 0.45: no finding, and a station item whose grade is left to a person.
UNSURE = dict.fromkeys(LABELS, 0.45)


class GivenBoxes:
    """The model double: real decode, quality gate and pHash; the findings given per photo."""

    def __init__(self) -> None:
        self.given: dict[str, tuple[Finding, ...]] = {}

    def give(self, data: bytes, *findings: Finding) -> bytes:
        self.given[hashlib.sha256(data).hexdigest()] = findings
        return data

    def inspect(self, data: bytes, *, image: str, family: str | None = None) -> Inspection:
        digest = hashlib.sha256(data).hexdigest()
        decoded = decode_image(data, max_side=WORKING_SIDE)
        quality = assess_quality(decoded.rgb, size=(decoded.width, decoded.height))
        return Inspection(
            image,
            digest,
            decoded.width,
            decoded.height,
            quality,
            self.given.get(digest, ()) if quality.ok else (),
            {"name": "given-boxes"},
            phash=phash(decoded.rgb),
            scores=dict(UNSURE),
        )


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(texture_jpeg(seed))).save(out, format="PNG")
    return out.getvalue()


def _rotated_jpeg(seed: int) -> bytes:
    """Stored 320x240, EXIF orientation 6: people (and the model) see it 240x320, upright."""
    img = Image.open(io.BytesIO(texture_jpeg(seed)))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class World:
    """The app's services after the claims and station items below were decided."""

    services: Services
    data_dir: Path
    photos: dict[str, bytes]
    claims: dict[str, str]
    decisions: dict[str, int]
    grades: dict[str, int]


def _claim(
    s: Services, model: GivenBoxes, order: str, photos: list[bytes], category: str = "chilled"
) -> str:
    claim = ClaimInput(
        order_id=order,
        lot=f"LOT-{order}",  # no records: undetermined, for a person to decide
        category=category,
        line_value="12.50",
        currency="EUR",
        delivered_at=NOW - timedelta(days=1),
    )
    filed, _ = file_claim(
        ledger=s.ledger,
        store=s.evidence,
        inspector=model,
        claim=claim,
        photos=[(f"p{n}.jpg", p) for n, p in enumerate(photos)],
        now=NOW,
    )
    return str(filed["id"])


def _decide(s: Services, claim_id: str, *reviews: FindingReview) -> int:
    decision = DecisionInput(
        party="override",
        responsible_party="carrier",
        reason="as the photos show",
        compensation="deny",
        findings=reviews,
    )
    outcome = decide(
        ledger=s.ledger,
        claim_id=claim_id,
        decision=decision,
        actor=JUDGE,
        now=NOW,
        policy=s.claims_config.compensation,
    )
    return int(outcome["ledger_index"])


def R(photo: int, index: int | None, correct: bool, **fix: Any) -> FindingReview:
    return FindingReview(photo=photo, index=index, correct=correct, **fix)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("feedback") / "var"
    s = build_services(Settings(data_dir=data_dir, anchor_backend="none"))
    model = GivenBoxes()
    p = {
        "a0": model.give(
            texture_jpeg(101),
            Finding("mold", 0.9, (10.0, 10.0, 100.0, 100.0)),
            Finding("spoilage", 0.8, (150.0, 20.0, 300.0, 200.0)),
        ),
        "a1": model.give(texture_jpeg(102), Finding("swelling", 0.7, (20.0, 20.0, 200.0, 200.0))),
        "a2": model.give(
            texture_jpeg(103),
            Finding("spoilage", 0.9, (5.0, 5.0, 50.0, 50.0)),
            Finding("mold", 0.6, (60.0, 60.0, 120.0, 120.0)),
        ),
        "b0": model.give(_png(104), Finding("spoilage", 0.9, (0.0, 0.0, 320.0, 240.0), False)),
        "b1": model.give(
            _rotated_jpeg(105), Finding("package_damage", 0.8, (10.0, 20.0, 200.0, 300.0))
        ),
        "c0": model.give(texture_jpeg(106), Finding("mold", 0.9, (1.0, 1.0, 50.0, 50.0))),
        "d0": model.give(texture_jpeg(107), Finding("spoilage", 0.9, (30.0, 30.0, 90.0, 90.0))),
        "s0": texture_jpeg(201),
        "s1": texture_jpeg(202),
        "s2": texture_jpeg(203),
    }
    claims = {
        "a": _claim(s, model, "A", [p["a0"], p["a1"], p["a2"]]),
        "b": _claim(s, model, "B", [p["b0"], p["b1"]]),
        "c": _claim(s, model, "C", [p["c0"]]),  # never decided: no example
        "d": _claim(s, model, "D", [p["d0"]], category="chilled_produce"),
    }
    decisions = {
        "a": _decide(
            s,
            claims["a"],
            R(0, 0, True),  # mold: right
            R(0, 1, False, box=(140.0, 30.0, 330.0, 210.0)),  # spoilage, box redrawn
            R(0, None, False, label="package_damage", box=(0.0, 150.0, 80.0, 230.0)),  # missed
            R(1, 0, False),  # swelling: wrong, nothing there
            R(2, 0, True),  # photo 2's second finding is never reviewed
        ),
        "b": _decide(s, claims["b"], R(0, 0, True), R(1, 0, False, label="swelling")),
        "d-first": _decide(s, claims["d"], R(0, 0, True)),
    }
    move_ticket(
        ledger=s.ledger, claim_id=claims["d"], action="reopen", actor=JUDGE, note="", now=NOW
    )
    decisions["d"] = _decide(s, claims["d"], R(0, 0, False))  # the latest decision counts
    batch = grade_batch(
        ledger=s.ledger,
        store=s.evidence,
        inspector=model,
        station=STATION,
        batch_id="returns-1",
        items=[
            ItemInput(
                "urn:epc:id:sgtin:4000001.012345.2001",
                "package",
                (("s0.jpg", p["s0"]), ("s1.jpg", p["s1"])),
                family="can",  # the station says what the package is
            ),
            ItemInput("urn:epc:id:sgtin:4000001.012345.2002", "produce", (("s2.jpg", p["s2"]),)),
        ],
        policy=GradingPolicy(min_confidence=0.7),
        now=NOW,
    )
    assert batch.counts["manual"] == 2
    grades = {}
    for position, condition in ((0, "intact"), (1, "moldy")):
        item = grade_by_person(
            ledger=s.ledger,
            batch_id="returns-1",
            position=position,
            condition=condition,
            actor=GRADER,
            now=NOW,
        )
        assert item.ledger_index is not None
        grades[condition] = item.ledger_index
    yield World(s, data_dir, p, claims, decisions, grades)
    s.close()


def _by_source(photos: Any) -> dict[str, LabelledPhoto]:
    return {p.source: p for p in photos}


# -- what people's decisions say -------------------------------------------------------


def test_decisions_become_labelled_photos(world: World) -> None:
    feedback = gather_feedback(world.services.engine)
    got = _by_source(feedback.photos)
    a, b, d = world.claims["a"], world.claims["b"], world.claims["d"]
    assert set(got) == {
        f"claim:{a}/photo/0",
        f"claim:{a}/photo/1",
        f"claim:{b}/photo/0",
        f"claim:{b}/photo/1",
        f"claim:{d}/photo/0",
        "station:returns-1/0/photo/0",
        "station:returns-1/0/photo/1",
        "station:returns-1/1/photo/0",
    }
    a0 = got[f"claim:{a}/photo/0"]
    # kept as the model drew it; redrawn (and clipped to the 320 px photo); added
    assert a0.boxes == (
        ("mold", 10.0, 10.0, 100.0, 100.0),
        ("spoilage", 140.0, 30.0, 320.0, 210.0),
        ("package_damage", 0.0, 150.0, 80.0, 230.0),
    )
    assert (a0.width, a0.height, a0.sha256) == (320, 240, sha(world.photos["a0"]))
    assert a0.photo_class == "spoilage" and a0.unboxed == () and a0.for_detection
    assert (a0.decided_by, a0.ledger_index) == (JUDGE, world.decisions["a"])
    # every finding wrong: nothing wrong here, a negative
    a1 = got[f"claim:{a}/photo/1"]
    assert a1.boxes == () and a1.photo_class == "clean" and a1.for_detection
    # a whole-photo finding confirmed: the classifier's, not the detector's
    b0 = got[f"claim:{b}/photo/0"]
    assert b0.boxes == () and b0.unboxed == ("spoilage",) and b0.photo_class == "spoilage"
    assert b0.for_classifier and not b0.for_detection
    # relabelled, the box kept, in the upright photo's pixels
    b1 = got[f"claim:{b}/photo/1"]
    assert b1.boxes == (("swelling", 10.0, 20.0, 200.0, 300.0),)
    assert (b1.width, b1.height) == (240, 320)
    # the reopened claim's second decision overrules its first
    d0 = got[f"claim:{d}/photo/0"]
    assert d0.photo_class == "clean" and d0.ledger_index == world.decisions["d"]
    # station items graded by a person: every photo, the condition as the class
    intact = [got[f"station:returns-1/0/photo/{n}"] for n in (0, 1)]
    assert {p.photo_class for p in intact} == {"clean"} and all(p.for_detection for p in intact)
    assert intact[0].ledger_index == world.grades["intact"] and intact[0].decided_by == GRADER
    moldy = got["station:returns-1/1/photo/0"]
    assert moldy.photo_class == "mold" and moldy.unboxed == ("mold",) and not moldy.for_detection
    # the family a person's grade is evidence for: the one the station named, produce for
    # produce, a claim's when its category says (produce); a chilled claim could be any pack
    assert {p.family for p in intact} == {"can"} and moldy.family == "produce"
    assert a0.family is None and d0.family == "produce"
    # the unreviewed finding keeps its photo out, and says why
    assert [(s.source, "[1] not reviewed" in s.reason) for s in feedback.skipped] == [
        (f"claim:{a}/photo/2", True)
    ]


def test_the_rule_for_findings_people_reviewed() -> None:
    mold = ModelFinding("mold", (10.0, 10.0, 50.0, 50.0), True)
    whole = ModelFinding("spoilage", (0.0, 0.0, 100.0, 80.0), False)
    size = {"width": 100, "height": 80}
    # a corrected label keeps the model's box, whatever ``correct`` says
    assert label_photo([mold], [R(0, 0, False, label="spoilage")], **size) == (
        (("spoilage", 10.0, 10.0, 50.0, 50.0),),
        (),
    )
    # a box drawn on a whole-photo finding localises it
    assert label_photo([whole], [R(0, 0, True, box=(5.0, 5.0, 20.0, 20.0))], **size) == (
        (("spoilage", 5.0, 5.0, 20.0, 20.0),),
        (),
    )
    assert label_photo([whole], [R(0, 0, True)], **size) == ((), ("spoilage",))
    assert "not reviewed" in str(label_photo([mold, whole], [R(0, 0, True)], **size))
    assert "two different reviews" in str(
        label_photo([mold], [R(0, 0, True), R(0, 0, False)], **size)
    )
    assert "the model reported 1" in str(label_photo([mold], [R(0, 3, True)], **size))
    outside = R(0, None, False, label="mold", box=(120.0, 10.0, 150.0, 20.0))
    assert "outside" in str(label_photo([], [outside], **size))
    assert photo_class_of([], ()) == "clean"
    assert photo_class_of([("mold", 0, 0, 1, 1), ("mold", 1, 1, 2, 2)], ("spoilage",)) == "mold"


def test_an_example_that_contradicts_itself_is_refused() -> None:
    ok = LabelledPhoto("a" * 64, 10, 10, (), "clean", "x", "me", None)
    with pytest.raises(InvalidExampleError, match="clean photo"):
        replace(ok, boxes=(("mold", 0.0, 0.0, 5.0, 5.0),))
    with pytest.raises(InvalidExampleError, match="not inside"):
        replace(ok, photo_class="mold", boxes=(("mold", 0.0, 0.0, 11.0, 5.0),))
    with pytest.raises(InvalidExampleError, match="neither boxed nor"):
        replace(ok, photo_class="mold")
    with pytest.raises(InvalidExampleError, match="needs the photo's size"):
        replace(ok, width=None, height=None, photo_class=None, boxes=(("mold", 0, 0, 1, 1),))


# -- the YOLO export -------------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()
    }


@pytest.fixture(scope="module")
def photos(world: World) -> list[LabelledPhoto]:
    return list(gather_feedback(world.services.engine).photos)


def test_the_export_is_a_yolo_dataset_with_a_classifier_tree(
    world: World, photos: list[LabelledPhoto], tmp_path: Path
) -> None:
    out = tmp_path / "fb"
    manifest = export_yolo(photos, world.services.evidence, out, version="v1")
    body = json.loads((out / "manifest.json").read_text())
    assert manifest.sha256 == hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    split = {e["sha256"]: e["split"] for e in body["examples"]}
    a0 = sha(world.photos["a0"])
    labels = (out / f"labels/{split[a0]}/{a0}.txt").read_text().splitlines()
    assert labels == [
        "1 0.171875 0.229167 0.281250 0.375000",  # mold 10,10-100,100 of 320x240
        "0 0.718750 0.500000 0.562500 0.750000",  # spoilage 140,30-320,210
        "3 0.125000 0.791667 0.250000 0.333333",  # package_damage 0,150-80,230
    ]
    # an upright JPEG keeps its compressed pixels
    assert (out / f"images/{split[a0]}/{a0}.jpg").read_bytes() == world.photos["a0"]
    assert (out / f"cls/{split[a0]}/spoilage/{a0}.jpg").is_file()
    # negatives: an empty label file (a claim's photo and a clean station item's)
    for key in ("a1", "s0", "s1", "d0"):
        h = sha(world.photos[key])
        assert (out / f"labels/{split[h]}/{h}.txt").read_text() == ""
        assert (out / f"cls/{split[h]}/clean/{h}.jpg").is_file()
    # defects without a box: classifier only
    for key, cls in (("b0", "spoilage"), ("s2", "mold")):
        h = sha(world.photos[key])
        assert not (out / f"images/{split[h]}/{h}.jpg").exists()
        assert (out / f"cls/{split[h]}/{cls}/{h}.jpg").is_file()
    # the PNG and the EXIF-rotated JPEG become upright JPEGs of the size the boxes know
    b1 = sha(world.photos["b1"])
    with Image.open(out / f"images/{split[b1]}/{b1}.jpg") as img:
        assert img.format == "JPEG" and img.size == (240, 320)
        assert img.getexif().get(0x0112) is None
    assert (out / f"labels/{split[b1]}/{b1}.txt").read_text() == (
        "2 0.437500 0.500000 0.791667 0.875000\n"
    )
    b0 = sha(world.photos["b0"])
    with Image.open(out / f"cls/{split[b0]}/spoilage/{b0}.jpg") as img:
        assert img.format == "JPEG" and img.size == (320, 240)
    assert (out / "data.yaml").read_text() == (
        "train: images/train\nval: images/val\nnames:\n"
        "  0: spoilage\n  1: mold\n  2: swelling\n  3: package_damage\n"
    )
    # the manifest: every file's hash, the counts, the decisions behind the examples
    files = {k: v for k, v in _tree(out).items() if k != "manifest.json"}
    assert body["files"] == {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    assert body["version"] == "v1" and body["missing"] == []
    family = {e["sha256"]: e["family"] for e in body["examples"]}
    assert family[sha(world.photos["s0"])] == "can" and family[sha(world.photos["s2"])] == "produce"
    assert family[a0] is None
    assert body["decisions"] == sorted(
        [world.decisions[k] for k in ("a", "b", "d")] + list(world.grades.values())
    )
    counts = body["counts"]
    assert counts["photos"] == 8 and counts["sources"] == {"claim": 5, "station": 3}
    detection = {
        k: sum(c[k] for c in counts["detection"].values()) for k in counts["detection"]["train"]
    }
    assert detection == {
        "images": 6,
        "negatives": 4,
        "spoilage": 1,
        "mold": 1,
        "swelling": 1,
        "package_damage": 1,
    }
    classes = {
        c: sum(s[c] for s in counts["classifier"].values()) for c in counts["classifier"]["val"]
    }
    assert classes == {"clean": 4, "spoilage": 2, "mold": 1, "swelling": 1, "package_damage": 0}
    text = "".join(v.decode() for k, v in _tree(out).items() if not k.endswith(".jpg"))
    assert str(tmp_path) not in text and str(NOW.year) + "-" not in text  # no paths, no times
    # the folders a trainer expects exist even when empty
    assert all((out / "cls" / s / c).is_dir() for s in ("train", "val") for c in classes)


def test_the_same_inputs_give_the_same_bytes(
    world: World, photos: list[LabelledPhoto], tmp_path: Path
) -> None:
    store = world.services.evidence
    first = export_yolo(photos, store, tmp_path / "one", version="v1", label_studio_url="/x/")
    again = export_yolo(
        list(reversed(photos)), store, tmp_path / "two", version="v1", label_studio_url="/x/"
    )
    assert first.sha256 == again.sha256
    assert _tree(tmp_path / "one") == _tree(tmp_path / "two")
    other = export_yolo(photos, store, tmp_path / "three", version="v2")
    assert other.sha256 != first.sha256
    with pytest.raises(ExportDirectoryError):
        export_yolo(photos, store, tmp_path / "one", version="v1")


def test_a_photo_keeps_its_split_in_every_export(
    world: World, photos: list[LabelledPhoto], tmp_path: Path
) -> None:
    store = world.services.evidence
    whole = export_yolo(photos, store, tmp_path / "all", version="v1")
    part = export_yolo(photos[::2], store, tmp_path / "part", version="v1")

    def splits(root: Path) -> dict[str, str]:
        body = json.loads((root / "manifest.json").read_text())
        return {e["sha256"]: e["split"] for e in body["examples"]}

    assert splits(tmp_path / "part").items() <= splits(tmp_path / "all").items()
    assert whole.sha256 != part.sha256
    # on many photos, about the fraction asked; a larger fraction only moves photos to val
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000)]
    val = [k for k in keys if split_of(k, 0.2) == "val"]
    assert 0.17 < len(val) / len(keys) < 0.23
    assert all(split_of(k, 0.3) == "val" for k in val)


def test_the_same_photo_twice_takes_the_latest_decision(
    world: World, photos: list[LabelledPhoto], tmp_path: Path
) -> None:
    a1 = next(p for p in photos if p.sha256 == sha(world.photos["a1"]))
    later = replace(
        a1,
        source="claim:later/photo/0",
        ledger_index=10_000,
        photo_class="swelling",
        boxes=(("swelling", 20.0, 20.0, 200.0, 200.0),),
    )
    export_yolo([a1, later], world.services.evidence, tmp_path / "dup", version="v1")
    (entry,) = json.loads((tmp_path / "dup" / "manifest.json").read_text())["examples"]
    assert entry["sources"] == ["claim:later/photo/0"] and entry["superseded"] == [a1.source]
    assert entry["class"] == "swelling" and entry["ledger_indices"] == [10_000]


def test_a_failed_export_leaves_nothing_and_a_lost_photo_is_named(
    world: World, photos: list[LabelledPhoto], tmp_path: Path
) -> None:
    a0 = next(p for p in photos if p.sha256 == sha(world.photos["a0"]))
    with pytest.raises(PhotoSizeError):
        export_yolo([replace(a0, width=640)], world.services.evidence, tmp_path / "x", version="1")
    assert list(tmp_path.iterdir()) == []
    lost = replace(a0, sha256="e" * 64)
    manifest = export_yolo([a0, lost], world.services.evidence, tmp_path / "x", version="1")
    assert manifest.missing == ("e" * 64,) and manifest.counts["photos"] == 1
    assert json.loads((tmp_path / "x" / "manifest.json").read_text())["missing"] == ["e" * 64]


# -- Label Studio -------------------------------------------------------------------------


def test_label_studio_round_trip(photos: list[LabelledPhoto]) -> None:
    tasks = to_label_studio(photos, "https://files.example/{sha256}.jpg")
    assert from_label_studio(json.loads(json.dumps(tasks))) == photos
    a0 = next(t for t in tasks if len(t["annotations"][0]["result"]) == 4)
    assert a0["data"]["image"] == f"https://files.example/{a0['data']['sha256']}.jpg"
    box, *_, choice = a0["annotations"][0]["result"]
    assert box["type"] == "rectanglelabels" and box["from_name"] == "defect"
    assert box["to_name"] == "image" and (box["original_width"], box["original_height"]) == (
        320,
        240,
    )
    assert box["value"]["x"] == pytest.approx(10 / 320 * 100)
    assert box["value"]["rectanglelabels"] == ["mold"]
    assert choice["type"] == "choices" and choice["value"] == {"choices": ["spoilage"]}
    for name in ('name="defect"', 'name="photo_class"', 'name="unboxed"', 'toName="image"'):
        assert name in LABEL_CONFIG
    # as pre-labels, nothing comes back until a person annotates
    assert from_label_studio(to_label_studio(photos, "{sha256}", as_predictions=True)) == []


def test_people_s_annotations_are_read_back() -> None:
    h = "c" * 64

    def box(x: float, y: float, w: float, h_: float, label: str, **extra: Any) -> dict[str, Any]:
        value = {"x": x, "y": y, "width": w, "height": h_, "rectanglelabels": [label], **extra}
        return {"type": "rectanglelabels", "from_name": "defect", "to_name": "image",
                "original_width": 200, "original_height": 100, "value": value}  # fmt: skip

    def choice(name: str, *values: str) -> dict[str, Any]:
        return {"type": "choices", "from_name": name, "to_name": "image",
                "value": {"choices": list(values)}}  # fmt: skip

    tasks = [
        {
            "id": 7,
            "data": {"image": f"/data/local-files/?d=fb/images/train/{h}.jpg"},
            "annotations": [
                {
                    "id": 1,
                    "completed_by": 3,
                    "updated_at": "2024-05-01T10:00:00Z",
                    "result": [choice("photo_class", "clean")],
                },
                {
                    "id": 2,
                    "completed_by": {"id": 4, "email": "ana@shop.example"},
                    "updated_at": "2024-05-02T10:00:00Z",
                    "result": [
                        box(10, 10, 20, 10, "package_damage", rotation=90),
                        box(50, 50, 60, 60, "mold"),
                        choice("photo_class", "spoilage"),
                    ],
                },
                {
                    "id": 3,
                    "was_cancelled": True,
                    "updated_at": "2024-05-03T10:00:00Z",
                    "result": [choice("photo_class", "clean")],
                },
            ],
        },
        {"id": 8, "data": {"image": f"/x/{'d' * 64}.jpg"}, "annotations": []},
    ]
    (photo,) = from_label_studio(tasks)
    assert photo.sha256 == h and (photo.width, photo.height) == (200, 100)
    # turned 90 degrees about its top-left corner; the second clipped to the photo
    assert photo.boxes == (
        ("package_damage", 10.0, 10.0, 20.0, 50.0),
        ("mold", 100.0, 50.0, 200.0, 100.0),
    )
    # a class nobody boxed is a defect seen but not boxed
    assert photo.photo_class == "spoilage" and photo.unboxed == ("spoilage",)
    assert photo.decided_by == "label-studio:ana@shop.example" and photo.ledger_index is None
    assert photo.source == "label-studio:task/7"


# -- the command line ----------------------------------------------------------------------


def test_the_cli_exports_and_reads_label_studio_back(
    world: World, photos: list[LabelledPhoto], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(world.data_dir))
    monkeypatch.setenv("FRESHPROOF_ANCHOR_BACKEND", "none")
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["export", str(out), "--version", "v1", "--image-url-prefix", "/data/local-files/?d=fb/"]
    result = runner.invoke(cli_feedback.app, args)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    same = export_yolo(
        photos,
        world.services.evidence,
        tmp_path / "direct",
        version="v1",
        label_studio_url="/data/local-files/?d=fb/",
    )
    assert first == f"manifest sha256:{same.sha256}"
    assert "8 photo(s)" in result.stdout and "skipped claim:" in result.stderr
    tasks = json.loads((out / "label_studio_tasks.json").read_text())
    assert {t["data"]["image"].split("?d=fb/")[1].split("/")[0] for t in tasks} == {
        "images",
        "cls",
    }
    assert (out / "label_studio_config.xml").read_text() == LABEL_CONFIG
    # the tasks, untouched, come back as the same dataset
    back = runner.invoke(
        cli_feedback.app,
        ["import-label-studio", str(out / "label_studio_tasks.json"), str(tmp_path / "back"),
         "--version", "v1"],
    )  # fmt: skip
    assert back.exit_code == 0, back.output
    plain = export_yolo(photos, world.services.evidence, tmp_path / "plain", version="v1")
    assert back.stdout.splitlines()[0] == f"manifest sha256:{plain.sha256}"
    # an export never lands on an older one
    again = runner.invoke(cli_feedback.app, args)
    assert again.exit_code == 1 and "not empty" in again.stderr
