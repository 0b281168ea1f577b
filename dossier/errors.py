"""What a dossier check finds wrong: typed errors carrying the facts, each naming the part."""

from __future__ import annotations

from dossier.format import brief, short
from ledger.errors import LedgerError

__all__ = [
    "CheckpointRejectedError",
    "CitationMismatchError",
    "ConsistencyProofError",
    "ContentMismatchError",
    "DossierError",
    "EntryProofError",
    "MalformedDossierError",
    "MissingEntryError",
]


class DossierError(Exception):
    """Root of what a dossier check finds wrong; ``str()`` names the broken part.

    DossierError
    ├── MalformedDossierError    a field is missing or of the wrong shape (field, reason)
    ├── CheckpointRejectedError  a checkpoint is not validly signed (which, cause)
    ├── EntryProofError          an entry's bundle does not prove it (index, kind, problem)
    ├── MissingEntryError        an entry the file needs is not in it (index, needed_by)
    ├── CitationMismatchError    a cited leaf hash differs (cited_by, index, cited, found)
    ├── ContentMismatchError     a stated field differs from its entry (what, entry, path, ...)
    └── ConsistencyProofError    two trees are not proven one log (old, size1, new, size2)
    """


class MalformedDossierError(DossierError):
    """A field is missing or has the wrong shape."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class CheckpointRejectedError(DossierError):
    """A checkpoint (the dossier's, the anchored or the current one) does not verify."""

    def __init__(self, which: str, cause: LedgerError) -> None:
        self.which = which
        self.cause = cause
        super().__init__(f"{which} checkpoint is not validly signed by the key: {cause}")


class EntryProofError(DossierError):
    """An entry's proof bundle does not prove the entry is in the checkpoint's tree."""

    def __init__(self, index: int, kind: str, problem: str, cause: Exception | None = None) -> None:
        self.index = index
        self.kind = kind
        self.problem = problem
        self.cause = cause
        detail = f" ({cause})" if cause is not None else ""
        super().__init__(f"entry {index} ({kind}): {problem}{detail}")


class MissingEntryError(DossierError):
    """An entry the verdict, the claim or the anchor needs is not in the file."""

    def __init__(self, index: int, needed_by: str) -> None:
        self.index = index
        self.needed_by = needed_by
        super().__init__(f"{needed_by} cites entry {index}, which the dossier does not carry")


class CitationMismatchError(DossierError):
    """A reason cites an entry's leaf hash that differs from the dossier's entry."""

    def __init__(self, cited_by: str, index: int, cited: str, found: str) -> None:
        self.cited_by = cited_by
        self.index = index
        self.cited = cited
        self.found = found
        super().__init__(
            f"{cited_by} cites entry {index} with leaf {short(cited)}, the dossier's entry "
            f"{index} has leaf {short(found)}"
        )


class ContentMismatchError(DossierError):
    """A field the dossier states (verdict, photos, model) differs from the entry recording it.

    ``path``, ``expected`` (the entry's value) and ``found`` (the file's) are the first
    difference; ``also`` names the paths of the others.
    """

    def __init__(
        self,
        what: str,
        entry: str,
        path: str,
        expected: object,
        found: object,
        also: tuple[str, ...] = (),
    ) -> None:
        self.what = what
        self.entry = entry
        self.path = path
        self.expected = expected
        self.found = found
        self.also = also
        verb = "differ" if what.endswith("s") else "differs"
        more = f" (also at {', '.join(also[:5])}{', …' if len(also) > 5 else ''})" if also else ""
        super().__init__(
            f"{what} {verb} from {entry} at {path}: the entry says {brief(expected)}, the "
            f"dossier {brief(found)}{more}"
        )


class ConsistencyProofError(DossierError):
    """A consistency proof does not link two trees into one append-only log."""

    def __init__(
        self, old: str, size1: int, new: str, size2: int, cause: Exception | None = None
    ) -> None:
        self.old = old
        self.size1 = size1
        self.new = new
        self.size2 = size2
        self.cause = cause
        detail = f" ({cause})" if cause is not None else ""
        super().__init__(
            f"the consistency proof from the {old} tree (size {size1}) to the {new} tree "
            f"(size {size2}) does not verify{detail}"
        )
