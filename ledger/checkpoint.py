"""C2SP tlog-checkpoint bodies ("<origin>\\n<size>\\n<base64 root>\\n") as signed notes."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from ledger.errors import CheckpointFormatError
from ledger.hashing import HASH_SIZE
from ledger.note import Signer, Verifier, generate_key, open_note, sign_note, split_note

__all__ = [
    "Checkpoint",
    "generate_key",
    "parse_checkpoint",
    "sign_checkpoint",
    "verify_checkpoint",
]

_SIZE = re.compile(r"0|[1-9][0-9]*")  # ASCII decimal without leading zeros, per C2SP


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's origin, tree size and root hash, plus optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """Render the checkpoint body that gets signed."""
        if not self.origin or "\n" in self.origin:
            raise CheckpointFormatError("origin must be one non-empty line")
        if self.size < 0 or len(self.root) != HASH_SIZE:
            raise CheckpointFormatError("size must be >= 0 and root 32 bytes")
        if any(not ext or "\n" in ext for ext in self.extensions):
            raise CheckpointFormatError("extension lines must be non-empty single lines")
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"


def _parse_body(text: str) -> Checkpoint:
    lines = text.split("\n")
    # text ends with "\n", so the split leaves one empty string after the last line.
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointFormatError("checkpoint body needs origin, size and root lines")
    origin, size, root64, *extensions = lines[:-1]
    if not origin:
        raise CheckpointFormatError("checkpoint origin is empty")
    if not _SIZE.fullmatch(size):
        raise CheckpointFormatError(f"checkpoint size {size!r} is not a decimal number")
    try:
        root = base64.b64decode(root64, validate=True)
    except ValueError:
        raise CheckpointFormatError("checkpoint root is not base64") from None
    if len(root) != HASH_SIZE:
        raise CheckpointFormatError(f"checkpoint root is {len(root)} bytes, expected 32")
    if any(not ext for ext in extensions):
        raise CheckpointFormatError("checkpoint has an empty extension line")
    return Checkpoint(origin=origin, size=int(size), root=root, extensions=tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer | str) -> str:
    """Return `checkpoint` as a signed note."""
    return sign_note(checkpoint.body(), signer)


def parse_checkpoint(note: str) -> Checkpoint:
    """Read the checkpoint from a signed note WITHOUT checking any signature."""
    text, _ = split_note(note)
    return _parse_body(text)


def verify_checkpoint(note: str, verifier_key: Verifier | str) -> Checkpoint:
    """Return the checkpoint if the note is validly signed by `verifier_key`, else raise."""
    return _parse_body(open_note(note, verifier_key))
