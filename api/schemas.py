"""Response models: the public JSON contract, shown in the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "DecisionOut",
    "FindingOut",
    "InspectionOut",
    "ModelIdentity",
    "QualityIssueOut",
    "QualityOut",
]


class QualityIssueOut(BaseModel):
    """Why a photo cannot be judged, with advice."""

    code: str = Field(examples=["too_dark"])
    message: str


class QualityOut(BaseModel):
    """The quality gate's verdict."""

    ok: bool
    issues: list[QualityIssueOut]
    brightness: float
    sharpness: float


class FindingOut(BaseModel):
    """One defect at or above the model's operating threshold."""

    label: str = Field(examples=["mold"])
    confidence: float = Field(ge=0, le=1)
    box: list[float] = Field(description="x1, y1, x2, y2 in pixels of the upright image")
    localized: bool = Field(
        description="True when a detector box backs the finding; false: the whole photo."
    )
    box_score: float | None = Field(
        None, ge=0, le=1, description="The detector's own score for the box, when there is one."
    )
    uncertain: bool | None = Field(
        None,
        description="True when the score is within the label's abstention margin above its "
        "threshold: the model would rather a person looked (a claim resting only on uncertain "
        "findings goes to an adjudicator). Absent when the finding is sure.",
    )


class DecisionOut(BaseModel):
    """What one photo decides for one family of products, and whether without a person."""

    decision: str = Field(examples=["defect"], description="clean or defect.")
    label: str | None = Field(
        None, examples=["swelling"], description="The defect decided; absent when clean."
    )
    confidence: float = Field(ge=0, le=1, description="The decision's calibrated confidence.")
    min_confidence: float | None = Field(
        None,
        ge=0,
        le=1,
        description="The family's operating point for this decision, chosen on validation "
        "photos so that decisions taken alone are wrong at most 2% of the time (95% upper "
        "bound). Absent: the release has none, and a person decides.",
    )
    alone: bool = Field(
        description="True when the confidence reaches the operating point: the decision may "
        "be taken without a person."
    )


class ModelIdentity(BaseModel):
    """The exact model that produced a result."""

    name: str
    version: str
    sha256: str
    classifier_sha256: str | None = Field(
        None, description="SHA-256 of the condition classifier, when the model has one."
    )
    package_classifier_sha256: str | None = Field(
        None,
        description="SHA-256 of the packaging classifier fused into package_damage, when the "
        "release ships one.",
    )
    backend: str = Field(examples=["onnxruntime"], description="Runtime that ran the model.")
    precision: str = Field(examples=["f32"], description="Arithmetic it ran at: f32 or bf16.")
    release_entry: str | None = Field(
        None,
        examples=["12"],
        description="The ledger entry that released this model (GET /v1/ledger/entries/{n}): "
        "its files' hashes, training data, metrics and the promotion gate's verdict.",
    )


class InspectionOut(BaseModel):
    """Result for one photo; identical to a line of ``freshproof predict --json``."""

    image: str
    sha256: str
    width: int
    height: int
    quality: QualityOut
    findings: list[FindingOut]
    model: ModelIdentity
    phash: str = Field(description="64-bit perceptual hash (hex) of the upright pixels.")
    scores: dict[str, float] = Field(
        description="Every label's calibrated score, found or not (empty: not judged)."
    )
    timing_ms: dict[str, float]
    decisions: dict[str, DecisionOut] | None = Field(
        None,
        description="Per family of products (produce, parcel, can, pouch): what the photo "
        "decides and whether the model may decide it alone. Absent when the photo was not "
        "judged.",
    )
    family: str | None = Field(
        None,
        description="The product family the caller named for the photo (absent: none named).",
    )
