"""What verifying a dossier found: each check, in step order, and the report over them."""

from __future__ import annotations

from dataclasses import dataclass

from dossier.errors import (
    DossierError,
)

__all__ = ["Check", "DossierReport"]


@dataclass(frozen=True)
class Check:
    """One check: its step number and name, the part checked, whether it held, what it found."""

    step: int
    name: str
    part: str
    ok: bool
    message: str
    error: DossierError | None = None

    def line(self) -> str:
        """One line for people: ``ok|FAILED  <step>. <name>: <message>``."""
        return f"{'ok' if self.ok else 'FAILED':6} {self.step}. {self.name}: {self.message}"


@dataclass(frozen=True)
class DossierReport:
    """Every check ``verify_dossier`` ran, in step order; ``ok`` only if all held."""

    claim_id: str | None
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """True when every check held."""
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that failed."""
        return tuple(c for c in self.checks if not c.ok)

    def lines(self) -> list[str]:
        """Every check as a line, then a summary line."""
        failed = len(self.failures)
        summary = (
            f"OK: claim {self.claim_id}: all {len(self.checks)} checks passed"
            if failed == 0
            else f"FAIL: claim {self.claim_id}: {failed} of {len(self.checks)} checks failed"
        )
        return [c.line() for c in self.checks] + [summary]
