"""Errors of the vision package.

VisionError
├── ImageRejected            the bytes can't be judged as a photo at all
│   ├── NotAnImageError      not a decodable image format
│   ├── ImageTooLargeError   too many bytes, or too many pixels (decompression bomb)
│   └── ImageTooSmallError   fewer pixels than a finding can rest on
├── DecoderBusyError          no room to decode in time: retry later (retry_after seconds)
├── ModelError               the model files are missing, altered or malformed
├── PerceptualHashError      an array or hash value the perceptual hash cannot take (reason)
└── FeedbackError            people's labels on photos that cannot become training data
    ├── InvalidExampleError  a labelled photo contradicts itself (source, reason)
    ├── ExportDirectoryError (training.feedback) the export folder is not empty (path)
    ├── PhotoSizeError       (training.feedback) the stored photo is not its boxes' size
    └── LabelStudioFormatError  (training.label_studio) a task that cannot be read
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "DecoderBusyError",
    "FeedbackError",
    "ImageRejected",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "InvalidExampleError",
    "ModelError",
    "NotAnImageError",
    "PerceptualHashError",
    "VisionError",
    "rejected_summary",
]


class VisionError(Exception):
    """Root of every error the vision package raises."""


class ImageRejected(VisionError):
    """An upload that cannot be judged; ``reason`` is safe to show to the customer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def rejected_summary(rejected: Sequence[tuple[int, str, ImageRejected]]) -> str:
    """One line naming every rejected photo of a request: ``photo i (file name): reason``."""
    return "; ".join(f"photo {i} ({name}): {error.reason}" for i, name, error in rejected)


class NotAnImageError(ImageRejected):
    """The bytes are not a still photo in a format we decode (JPEG, PNG, WebP, BMP, TIFF, HEIC)."""


class ImageTooLargeError(ImageRejected):
    """Over the byte or pixel limit; pixel limits are checked before decoding."""

    def __init__(self, reason: str, *, limit: int, actual: int) -> None:
        super().__init__(reason)
        self.limit = limit
        self.actual = actual


class ImageTooSmallError(ImageRejected):
    """Below the minimum resolution for a judgement."""


class DecoderBusyError(VisionError):
    """The decode budget had no room within its wait: the server is busy, not the photo bad.

    ``retry_after`` is whole seconds worth waiting before sending the photo again; ``waited``
    the seconds this photo waited; ``nbytes`` what its decode would have held.
    """

    def __init__(self, reason: str, *, retry_after: int, waited: float, nbytes: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.waited = waited
        self.nbytes = nbytes


class ModelError(VisionError):
    """The model cannot be loaded: missing file, hash mismatch, bad manifest."""


class PerceptualHashError(VisionError, ValueError):
    """An array that is not an image, or a value that is not a 64-bit hash (a caller's bug)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FeedbackError(VisionError):
    """Root of the errors over people's labels on photos: reading, checking, exporting them."""


class InvalidExampleError(FeedbackError):
    """A labelled photo contradicts itself, e.g. a ``clean`` photo with a box."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
