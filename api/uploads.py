"""Photos read from a multipart upload within the settings' limits (count, then bytes).

Shared by every route that takes photos (inspect, claims, station batches), so that the
limits and their problems are one rule.
"""

from __future__ import annotations

from fastapi import UploadFile

from api.problems import Problem
from api.settings import Settings

__all__ = ["read_photos"]


async def read_photos(
    photos: list[UploadFile], settings: Settings, *, max_photos: int | None = None
) -> list[tuple[str, bytes]]:
    """Read uploads within the per-photo byte limit; the count limit is checked first.

    ``max_photos`` replaces the settings' per-request count (a station batch has its own).
    """
    limit = settings.max_photos if max_photos is None else max_photos
    if len(photos) > limit:
        raise Problem(
            413,
            "too-many-photos",
            "Too many photos",
            f"{len(photos)} photos sent; at most {limit} per request",
            limit=limit,
        )
    out = []
    for i, photo in enumerate(photos):
        data = await photo.read(settings.max_photo_bytes + 1)
        if len(data) > settings.max_photo_bytes:
            raise Problem(
                413,
                "image-too-large",
                "Image too large",
                f"photo {i} ({photo.filename}) exceeds {settings.max_photo_bytes} bytes",
                photo_index=i,
                limit=settings.max_photo_bytes,
            )
        out.append((photo.filename or f"photo-{i}", data))
    return out
