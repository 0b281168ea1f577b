"""Response models: the public JSON contract, shown in the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["FindingOut", "InspectionOut", "ModelIdentity", "QualityIssueOut", "QualityOut"]


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


class ModelIdentity(BaseModel):
    """The exact model that produced a result."""

    name: str
    version: str
    sha256: str


class InspectionOut(BaseModel):
    """Result for one photo; identical to a line of ``freshproof predict --json``."""

    image: str
    sha256: str
    width: int
    height: int
    quality: QualityOut
    findings: list[FindingOut]
    model: ModelIdentity
    timing_ms: dict[str, float]
